"""Issue 12: one definition of document states (server/workflow/docstate.py).

The database does not check a state's value any more (migration 0009 drops the CHECK, keeping every row, index
and foreign key), so a new state is one vocabulary entry; the pages read labels and flags from the server.
"""

from __future__ import annotations

import re
import sqlite3
from pathlib import Path

import sqlite_utils

from server.db import Database, migrations
from server.workflow import docstate
from server.workflow.docstate import TRANSITIONS, DocState
from server.workflow.permissions import Viewer
from tests.support.rows import document
from tests.support.server import REPO

_REBUILD = "0009_documents_vocabularies_unchecked"


def _old_database(path: Path) -> Database:
    """A database made by the migrations before the rebuild, with rows in the documents table and its children."""
    database = Database(path)
    database.open()
    database.write_sync(lambda d: migrations.migrations.apply(d, stop_before=_REBUILD), transaction=False)

    def fill(d: sqlite_utils.Database) -> None:
        for doc_id, state in ((1, "draft"), (2, "awaiting_counterparty"), (3, "rejected_internal")):
            d.execute(
                "INSERT INTO documents (id, title, state, entity_type, entity_id, author_id, created_at, updated_at,"
                " deadline, reason, warnings) VALUES (?, ?, ?, 'deal', 7, 3, '2026-01-01', '2026-01-02',"
                " '2026-02-01', ?, '[\"w\"]')",
                [doc_id, f"Договор {doc_id}", state, f"причина {doc_id}"],
            )
            d.execute(
                "INSERT INTO document_files (document_id, position, name, size, streebog256, streebog512)"
                " VALUES (?, 1, 'a.pdf', 10, 'h1', 'h2')",
                [doc_id],
            )
            d.execute(
                "INSERT INTO route_steps (document_id, position, kind, user_id, display_name)"
                " VALUES (?, 1, 'internal', 5, 'Иванов')",
                [doc_id],
            )

    database.write_sync(fill)
    return database


def _schema(conn: sqlite3.Connection) -> list[tuple[str, str, str]]:
    return conn.execute(
        "SELECT type, name, sql FROM sqlite_master WHERE tbl_name = 'documents' AND type != 'table' ORDER BY name"
    ).fetchall()


def test_the_rebuild_drops_only_the_state_and_kind_checks_and_keeps_rows_indexes_and_keys(tmp_path: Path) -> None:
    database = _old_database(tmp_path / "old.db")
    try:
        with sqlite3.connect(tmp_path / "old.db") as conn:
            # Later migrations add columns; the rows keep every value they had in the columns they had.
            columns = ", ".join(r[1] for r in conn.execute("PRAGMA table_info(documents)"))
            rows_before = conn.execute(f"SELECT {columns} FROM documents ORDER BY id").fetchall()
            children_before = conn.execute("SELECT * FROM route_steps ORDER BY id").fetchall()
            indexes_before = _schema(conn)
            table_before = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'documents'").fetchone()[0]
        assert "CHECK (state IN" in table_before and "CHECK (entity_type IN" in table_before
        assert len(indexes_before) >= 4

        applied = database.write_sync(migrations.apply, transaction=False)
        assert applied[0] == _REBUILD
        # Run again (as after a crash between its commit and its record) it finds nothing to do.
        database.write_sync(migrations.m0009_documents_vocabularies_unchecked, transaction=False)

        # A state the old CHECK did not know is stored now: adding one to the vocabulary needs no migration.
        database.write_sync(lambda d: d.execute("UPDATE documents SET state = 'on_approval' WHERE id = 1"))
        database.write_sync(lambda d: d.execute("UPDATE documents SET state = 'draft' WHERE id = 1"))
        # So is a CRM kind it did not know (contacts are one registry entry away).
        database.write_sync(lambda d: d.execute("UPDATE documents SET entity_type = 'contact' WHERE id = 1"))
        database.write_sync(lambda d: d.execute("UPDATE documents SET entity_type = 'deal' WHERE id = 1"))
        # Foreign keys still hold against the rebuilt table (the real connection has them on).
        try:
            database.write_sync(
                lambda d: d.execute("INSERT INTO route_steps (document_id, position, kind) VALUES (99, 1, 'internal')")
            )
        except sqlite3.IntegrityError:
            pass
        else:
            raise AssertionError("a route step of a missing document was accepted")
    finally:
        database.close()
    with sqlite3.connect(tmp_path / "old.db") as conn:
        assert conn.execute(f"SELECT {columns} FROM documents ORDER BY id").fetchall() == rows_before
        assert conn.execute("SELECT * FROM route_steps ORDER BY id").fetchall() == children_before
        # Every index kept as it was (later migrations may add their own: issue 17's documents_previous).
        kept = {name for _, name, _ in indexes_before}
        assert [i for i in _schema(conn) if i[1] in kept] == indexes_before
        table_after = conn.execute("SELECT sql FROM sqlite_master WHERE name = 'documents'").fetchone()[0]
        assert "CHECK (state IN" not in table_after and "documents_rebuilt" not in table_after
        assert "CHECK (entity_type IN" not in table_after
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_fresh_database_stores_any_state_and_the_transitions_refuse_unknown_ones(db: Database) -> None:
    db.write_sync(
        lambda d: d.execute(
            "INSERT INTO documents (title, state, entity_type, entity_id, author_id, created_at, updated_at)"
            " VALUES ('x', 'on_approval', 'deal', 1, 1, 'a', 'a')"
        )
    )
    try:
        DocState("on_approval")
    except ValueError:
        pass
    else:
        raise AssertionError("the vocabulary accepted a value it does not define")


def test_the_vocabulary_answers_what_the_code_used_to_spell_out() -> None:
    assert [s.value for s in DocState] == [
        "draft",
        "in_approval",
        "returned",
        "awaiting_internal",
        "awaiting_counterparty",
        "completed",
        "rejected_internal",
        "rejected_counterparty",
        "withdrawn",
        "expired",
        "deleted",
    ]
    assert {s for s in DocState if s.is_open} == {
        DocState.DRAFT,
        DocState.APPROVAL,
        DocState.RETURNED,
        DocState.AWAITING_INTERNAL,
        DocState.AWAITING_COUNTERPARTY,
    }
    assert DocState.AWAITING_INTERNAL.label == "На подписи" and DocState.EXPIRED.label == "Срок истёк"
    assert TRANSITIONS["withdraw"][0] == docstate.OPEN_STATES
    for allowed, target in TRANSITIONS.values():
        assert allowed <= docstate.OPEN_STATES and target not in allowed
    author, signer = Viewer(user_id=1), Viewer(user_id=2)
    doc = document(author_id=1, state=DocState.AWAITING_INTERNAL.value)
    assert author.actions(doc, current_user_id=2) == ["download", "remind", "withdraw"]
    assert signer.actions(doc, current_user_id=2) == ["download", "sign", "reject"]
    assert author.actions(document(author_id=1, state="draft"), None) == [
        "download",
        "route",
        "send",
        "delete",
        "withdraw",
    ]
    assert author.actions(document(author_id=1, state="completed"), None) == ["download"]
    pages = {s["value"]: s for s in docstate.for_pages()}
    assert set(pages) == {s.value for s in DocState} and pages["deleted"]["listed"] is False
    assert pages["awaiting_counterparty"]["actor"] == "counterparty"


def test_approval_states_come_from_the_vocabulary_with_their_labels_transitions_and_actions() -> None:
    """Issue 17: согласование's two states, where they lead, and who may act in them."""
    assert DocState.APPROVAL.label == "На согласовании" and DocState.RETURNED.label == "На доработке"
    assert DocState.APPROVAL.is_open and DocState.RETURNED.is_open
    assert not DocState.APPROVAL.awaits_signature and not DocState.RETURNED.awaits_signature
    assert TRANSITIONS["submit_for_approval"] == (frozenset({DocState.DRAFT, DocState.RETURNED}), DocState.APPROVAL)
    assert TRANSITIONS["approved"] == (frozenset({DocState.APPROVAL}), DocState.AWAITING_INTERNAL)
    assert TRANSITIONS["return"] == (frozenset({DocState.APPROVAL}), DocState.RETURNED)
    assert DocState.RETURNED in TRANSITIONS["send"][0] and DocState.APPROVAL in TRANSITIONS["withdraw"][0]
    author, approver, observer = Viewer(user_id=1), Viewer(user_id=2), Viewer(user_id=3)
    on_approval = document(author_id=1, state=DocState.APPROVAL.value)
    assert author.actions(on_approval, None) == ["download", "withdraw"]
    assert approver.actions(on_approval, None, current_approver=True) == ["download", "approve", "return"]
    assert observer.actions(on_approval, None) == ["download"]
    returned = document(author_id=1, state=DocState.RETURNED.value)
    assert author.actions(returned, None) == ["download", "route", "send", "withdraw", "new_version"]
    # The approver's turn means nothing once the document is not on approval.
    assert approver.actions(returned, None, current_approver=True) == ["download"]
    # Approvers and observers read a sent document (a draft stays the author's), and only then.
    assert observer.can_view(on_approval, route_member=False, participant=True)
    assert not observer.can_view(on_approval, route_member=False)
    assert not observer.can_view(document(author_id=1, state="draft"), route_member=False, participant=True)
    pages = {s["value"]: s for s in docstate.for_pages()}
    assert pages["in_approval"]["actor"] == "approver" and pages["returned"]["listed"] is True


def test_a_state_is_spelled_in_one_python_module_and_in_no_page_or_script() -> None:
    """The values only the document workflow uses (others, like "completed", are also words of other tables)."""
    server = REPO / "server"
    allowed = {server / "workflow" / "docstate.py", server / "db" / "migrations.py"}
    found: dict[str, list[str]] = {}
    for path in sorted(server.rglob("*")):
        if path.suffix not in (".py", ".html", ".js", ".css") or path in allowed:
            continue
        text = path.read_text(encoding="utf-8")
        for value in ("awaiting_internal", "awaiting_counterparty", "rejected_internal", "rejected_counterparty"):
            if value in text:
                found.setdefault(str(path.relative_to(REPO)), []).append(value)
        if path.suffix in (".html", ".js"):
            # "completed" is also a CryptoARM run's state that signing.js shows; every other value is ours.
            for state in DocState:
                if state is not DocState.COMPLETED and re.search(f"[\"']{state.value}[\"']", text):
                    found.setdefault(str(path.relative_to(REPO)), []).append(state.value)
    assert found == {}
