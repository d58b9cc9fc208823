"""SQL for the workflow tables: row mapping and the queries lists and pages need.

Everything here takes a sqlite-utils ``Database`` and is plain synchronous code, so the same functions run in
the writer thread (inside a transition) and on read-only connections (lists, details).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, NamedTuple

from sqlite_utils import Database

from server.db import inserted_id

from .approval_store import AWAITING_APPROVAL_SQL, PARTICIPANT_SQL
from .docstate import SIGNING_STATES, DocState, sql_in
from .model import (
    DocumentFile,
    DocumentPage,
    DocumentRow,
    DocumentSummary,
    HistoryEntry,
    Job,
    RouteStep,
    SignatureInfo,
    StepState,
)

# The documents whose current route step is the user's: their signature is awaited.
AWAITING_SIGNATURE_SQL = "d.id IN (SELECT document_id FROM route_steps WHERE user_id = ? AND state = 'current')"


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_SUMMARY_COLUMNS = (
    "d.id, d.title, d.state, d.entity_type, d.entity_id, d.author_id, d.author_name, d.department_id,"
    " d.created_at, d.updated_at, d.sent_at, d.deadline, d.current_step, d.warnings,"
    " s.user_id, s.display_name, s.kind,"
    " (SELECT count(*) FROM document_files f WHERE f.document_id = d.id), d.version"
)
_SUMMARY_FROM = "FROM documents d LEFT JOIN route_steps s ON s.document_id = d.id AND s.position = d.current_step"


def _overdue(state: DocState, deadline: str | None, now: str) -> bool:
    return bool(deadline and state in SIGNING_STATES and deadline < now)


def _summary(row: Sequence[Any], now: str) -> DocumentSummary:
    (
        doc_id,
        title,
        state,
        entity_type,
        entity_id,
        author_id,
        author_name,
        department_id,
        created_at,
        updated_at,
        sent_at,
        deadline,
        current_step,
        warnings,
        step_user,
        step_name,
        step_kind,
        files,
        version,
    ) = row
    state = DocState(state)
    return DocumentSummary(
        id=doc_id,
        title=title,
        state=state,
        state_label=state.label,
        entity_type=entity_type,
        entity_id=entity_id,
        author_id=author_id,
        author_name=author_name,
        department_id=department_id,
        created_at=created_at,
        updated_at=updated_at,
        sent_at=sent_at,
        deadline=deadline,
        current_step=current_step,
        current_signer_id=step_user if state in SIGNING_STATES else None,
        current_signer_name=(step_name or ("Контрагент" if step_kind == "counterparty" else ""))
        if state in SIGNING_STATES
        else "",
        files=files,
        overdue=_overdue(state, deadline, now),
        warnings=json.loads(warnings or "[]"),
        version=version,
    )


# Named, not ``*``: a column the table lacks fails here at once, and one the row lacks is not read (the foundation
# test compares both with the migrated table).
_DOCUMENT_FIELDS = DocumentRow.__struct_fields__
_DOCUMENT_COLUMNS = ", ".join(_DOCUMENT_FIELDS)


def document_row(db: Database, document_id: int) -> DocumentRow | None:
    row = db.execute(f"SELECT {_DOCUMENT_COLUMNS} FROM documents WHERE id = ?", [document_id]).fetchone()
    if row is None:
        return None
    values = dict(zip(_DOCUMENT_FIELDS, row, strict=True))
    values["state"] = DocState(values["state"])
    return DocumentRow(**values)


def summary(db: Database, document_id: int) -> DocumentSummary | None:
    row = db.execute(f"SELECT {_SUMMARY_COLUMNS} {_SUMMARY_FROM} WHERE d.id = ?", [document_id]).fetchone()
    return _summary(row, now_iso()) if row else None


def files(db: Database, document_id: int) -> list[DocumentFile]:
    rows = db.execute(
        "SELECT id, position, name, size, content_type, streebog256, streebog512, disk_file_id"
        " FROM document_files WHERE document_id = ? ORDER BY position",
        [document_id],
    ).fetchall()
    return [
        DocumentFile(
            id=r[0],
            position=r[1],
            name=r[2],
            size=r[3],
            content_type=r[4],
            streebog256=r[5],
            streebog512=r[6],
            disk_file_id=r[7],
        )
        for r in rows
    ]


def route(db: Database, document_id: int) -> list[RouteStep]:
    rows = db.execute(
        "SELECT id, position, kind, user_id, display_name, state, acted_at, reason FROM route_steps"
        " WHERE document_id = ? ORDER BY position",
        [document_id],
    ).fetchall()
    return [
        RouteStep(
            id=r[0], position=r[1], kind=r[2], user_id=r[3], display_name=r[4], state=r[5], acted_at=r[6], reason=r[7]
        )
        for r in rows
    ]


def current_step(db: Database, document_id: int) -> RouteStep | None:
    for step in route(db, document_id):
        if step.state == "current":
            return step
    return None


def file(db: Database, document_id: int, file_id: int) -> DocumentFile | None:
    """One file of the document (None when the id names another document's file)."""
    row = db.execute(
        "SELECT id, position, name, size, content_type, streebog256, streebog512, disk_file_id"
        " FROM document_files WHERE id = ? AND document_id = ?",
        [file_id, document_id],
    ).fetchone()
    return (
        DocumentFile(
            id=row[0],
            position=row[1],
            name=row[2],
            size=row[3],
            content_type=row[4],
            streebog256=row[5],
            streebog512=row[6],
            disk_file_id=row[7],
        )
        if row
        else None
    )


def has_files(db: Database, document_id: int) -> bool:
    return db.execute("SELECT 1 FROM document_files WHERE document_id = ?", [document_id]).fetchone() is not None


def step(db: Database, document_id: int, step_id: int) -> RouteStep | None:
    return next((s for s in route(db, document_id) if s.id == step_id), None)


def next_step(db: Database, document_id: int, after_position: int) -> RouteStep | None:
    return next((s for s in route(db, document_id) if s.position > after_position), None)


def past_deadline(db: Database, state: DocState, now: str) -> list[int]:
    """Ids of the documents in ``state`` whose deadline is before ``now``."""
    return [
        int(r[0])
        for r in db.execute("SELECT id FROM documents WHERE state = ? AND deadline < ?", [state.value, now]).fetchall()
    ]


# -- document and route writes (the transitions in .states are their only callers) ------------------------


def insert_document(
    db: Database,
    *,
    title: str,
    entity_type: str,
    entity_id: int,
    company_id: int | None,
    author_id: int,
    author_name: str,
    department_id: int | None,
    now: str,
    counterparty_name: str,
    counterparty_inn: str,
    counterparty_ogrn: str,
    counterparty_email: str,
    disk_folder_id: int | None,
    search: str,
    due_at: str | None = None,
    message: str = "",
    contact_id: int | None = None,
    contact_name: str = "",
) -> int:
    cur = db.execute(
        "INSERT INTO documents (title, entity_type, entity_id, company_id, author_id, author_name, department_id,"
        " created_at, updated_at, counterparty_name, counterparty_inn, counterparty_ogrn, counterparty_email,"
        " disk_folder_id, search, due_at, message, contact_id, contact_name)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            title,
            entity_type,
            entity_id,
            company_id,
            author_id,
            author_name,
            department_id,
            now,
            now,
            counterparty_name,
            counterparty_inn,
            counterparty_ogrn,
            counterparty_email,
            disk_folder_id,
            search,
            due_at,
            message,
            contact_id,
            contact_name,
        ],
    )
    return inserted_id(cur)


def insert_file(
    db: Database,
    *,
    document_id: int,
    position: int,
    name: str,
    size: int,
    content_type: str,
    streebog256: str,
    streebog512: str,
    disk_file_id: int | None,
) -> None:
    db.execute(
        "INSERT INTO document_files (document_id, position, name, size, content_type, streebog256,"
        " streebog512, disk_file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [document_id, position, name, size, content_type, streebog256, streebog512, disk_file_id],
    )


def update_document(db: Database, document_id: int, values: dict[str, Any]) -> None:
    """Set these columns (names chosen by the code, never by a request) of one document."""
    sets = ", ".join(f"{column} = ?" for column in values)
    db.execute(f"UPDATE documents SET {sets} WHERE id = ?", [*values.values(), document_id])


def replace_route(db: Database, document_id: int, signers: list[tuple[int, str]]) -> None:
    """The internal signers in order, then the counterparty step (``display_name`` "Контрагент")."""
    db.execute("DELETE FROM route_steps WHERE document_id = ?", [document_id])
    position = 0
    for position, (user_id, name) in enumerate(signers, start=1):
        db.execute(
            "INSERT INTO route_steps (document_id, position, kind, user_id, display_name) VALUES (?, ?, ?, ?, ?)",
            [document_id, position, "internal", user_id, name],
        )
    db.execute(
        "INSERT INTO route_steps (document_id, position, kind, display_name) VALUES (?, ?, 'counterparty', ?)",
        [document_id, position + 1, "Контрагент"],
    )


def make_step_current(db: Database, step_id: int) -> None:
    db.execute("UPDATE route_steps SET state = 'current' WHERE id = ?", [step_id])


def close_step(
    db: Database, step_id: int, *, state: Literal["signed", "rejected"], now: str, reason: str | None = None
) -> None:
    if reason is None:
        db.execute("UPDATE route_steps SET state = ?, acted_at = ? WHERE id = ?", [state, now, step_id])
    else:
        db.execute(
            "UPDATE route_steps SET state = ?, acted_at = ?, reason = ? WHERE id = ?", [state, now, reason, step_id]
        )


def cancel_steps(db: Database, document_id: int, states: tuple[StepState, ...]) -> None:
    """Steps of the document in ``states`` become ``cancelled`` (the route ended early)."""
    marks = ",".join("?" * len(states))
    db.execute(
        f"UPDATE route_steps SET state = 'cancelled' WHERE document_id = ? AND state IN ({marks})",
        [document_id, *states],
    )


_SIG_COLUMNS = (
    "id, file_id, step_id, signer_kind, signer_user_id, source, status, signer, certificate_serial,"
    " certificate_issuer, identity_warning, accepted_at, disk_file_id"
)


def _signature(r: Sequence[Any]) -> SignatureInfo:
    return SignatureInfo(
        id=r[0],
        file_id=r[1],
        step_id=r[2],
        signer_kind=r[3],
        signer_user_id=r[4],
        source=r[5],
        status=r[6],
        signer=json.loads(r[7]),
        certificate_serial=r[8],
        certificate_issuer=r[9],
        identity_warning=r[10],
        accepted_at=r[11],
        disk_file_id=r[12],
    )


def signatures(db: Database, document_id: int) -> list[SignatureInfo]:
    rows = db.execute(
        f"SELECT {_SIG_COLUMNS} FROM signatures WHERE document_id = ? ORDER BY id", [document_id]
    ).fetchall()
    return [_signature(r) for r in rows]


def signature_bytes(db: Database, document_id: int, signature_id: int) -> tuple[bytes, str, dict[str, Any]] | None:
    """(CMS, file name of the signed file, stored verification result) of one signature."""
    row = db.execute(
        "SELECT s.cms, f.name, s.verification FROM signatures s JOIN document_files f ON f.id = s.file_id"
        " WHERE s.id = ? AND s.document_id = ?",
        [signature_id, document_id],
    ).fetchone()
    return (row[0], row[1], json.loads(row[2])) if row else None


def history(db: Database, document_id: int) -> list[HistoryEntry]:
    rows = db.execute(
        "SELECT at, actor, action, details FROM audit_log WHERE object_type = 'document' AND object_id = ? ORDER BY id",
        [str(document_id)],
    ).fetchall()
    return [HistoryEntry(at=r[0], actor=r[1], action=r[2], details=json.loads(r[3])) for r in rows]


# -- lists ------------------------------------------------------------------------------------------------


class Scope:
    """Which documents a viewer may see, as an SQL condition (built by permissions.Viewer)."""

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params


def list_documents(
    db: Database,
    *,
    scope: Scope,
    entity: tuple[str, int] | None = None,
    entities: Iterable[tuple[str, int]] | None = None,
    states: Iterable[str] = (),
    author_id: int | None = None,
    signer_id: int | None = None,
    approver_id: int | None = None,
    awaiting: int | None = None,
    signed_by: int | None = None,
    involved: int | None = None,
    departments: Iterable[int] | None = None,
    query: str = "",
    overdue: bool = False,
    limit: int = 50,
    offset: int = 0,
) -> DocumentPage:
    """``signer_id``: its current step is theirs; ``signed_by``: they signed a step of it; ``involved``: they wrote
    it, stand on its route, approve or observe it; ``approver_id``: waiting for their approval; ``awaiting``:
    waiting for their signature or their approval;
    ``entities``: any of these cards (the company card's roll-up)."""
    where = ["d.state != ?", f"({scope.sql})"]
    params: list[Any] = [DocState.DELETED.value, *scope.params]
    if entity is not None:
        where.append("d.entity_type = ? AND d.entity_id = ?")
        params += [entity[0], entity[1]]
    if entities is not None:
        cards = sorted(set(entities))
        if not cards:
            return DocumentPage(items=[], total=0, limit=limit, offset=offset)
        either = []
        for code in sorted({c for c, _ in cards}):
            ids = [i for c, i in cards if c == code]
            either.append(f"(d.entity_type = ? AND d.entity_id IN ({','.join('?' * len(ids))}))")
            params += [code, *ids]
        where.append(f"({' OR '.join(either)})")
    states = list(states)
    if states:
        where.append(f"d.state IN ({','.join('?' * len(states))})")
        params += states
    if author_id is not None:
        where.append("d.author_id = ?")
        params.append(author_id)
    if signer_id is not None:
        where.append(AWAITING_SIGNATURE_SQL)
        params.append(signer_id)
    if approver_id is not None:  # issue 17: its approval step for them is current
        where.append(AWAITING_APPROVAL_SQL)
        params.append(approver_id)
    if awaiting is not None:
        where.append(f"({AWAITING_SIGNATURE_SQL} OR {AWAITING_APPROVAL_SQL})")
        params += [awaiting, awaiting]
    if signed_by is not None:
        where.append("d.id IN (SELECT document_id FROM route_steps WHERE user_id = ? AND state = 'signed')")
        params.append(signed_by)
    if involved is not None:
        where.append(
            f"(d.author_id = ? OR d.id IN (SELECT document_id FROM route_steps WHERE user_id = ?) OR {PARTICIPANT_SQL})"
        )
        params += [involved, involved, involved, involved]
    if departments is not None:
        depts = sorted(set(departments))
        if not depts:
            return DocumentPage(items=[], total=0, limit=limit, offset=offset)
        where.append(f"d.department_id IN ({','.join('?' * len(depts))})")
        params += depts
    if query:
        where.append("d.search LIKE ? ESCAPE '\\'")
        params.append("%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    now = now_iso()
    if overdue:
        marks, signing = sql_in(SIGNING_STATES)
        where.append(f"d.state IN {marks} AND d.deadline < ?")
        params += [*signing, now]
    condition = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM documents d WHERE {condition}", params).fetchone()[0]
    rows = db.execute(
        f"SELECT {_SUMMARY_COLUMNS} {_SUMMARY_FROM} WHERE {condition} ORDER BY d.id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    return DocumentPage(items=[_summary(r, now) for r in rows], total=total, limit=limit, offset=offset)


def visible_titles(db: Database, scope: Scope, document_ids: Iterable[int]) -> dict[int, str]:
    """The titles of those of ``document_ids`` the scope's viewer may open (deleted ones are nobody's)."""
    ids = sorted(set(document_ids))
    if not ids:
        return {}
    rows = db.execute(
        f"SELECT d.id, d.title FROM documents d WHERE d.id IN ({','.join('?' * len(ids))}) AND d.state != ?"
        f" AND ({scope.sql})",
        [*ids, DocState.DELETED.value, *scope.params],
    ).fetchall()
    return {int(r[0]): str(r[1]) for r in rows}


def is_route_member(db: Database, document_id: int, user_id: int) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM route_steps WHERE document_id = ? AND user_id = ? LIMIT 1", [document_id, user_id]
        ).fetchone()
        is not None
    )


# -- jobs -------------------------------------------------------------------------------------------------


def job(db: Database, job_id: int) -> Job | None:
    row = db.execute(
        "SELECT id, document_id, step_id, user_id, channel, status, created_at FROM jobs WHERE id = ?", [job_id]
    ).fetchone()
    if row is None:
        return None
    return Job(
        id=row[0],
        document_id=row[1],
        step_id=row[2],
        user_id=row[3],
        channel=row[4],
        status=row[5],
        created_at=row[6],
        files=files(db, row[1]),
    )


def open_jobs(db: Database, user_id: int) -> list[Job]:
    ids = [
        r[0]
        for r in db.execute(
            "SELECT id FROM jobs WHERE user_id = ? AND status IN ('pending', 'delivered') ORDER BY id", [user_id]
        )
    ]
    return [j for j in (job(db, i) for i in ids) if j is not None]


# -- certificates -----------------------------------------------------------------------------------------


class StoredSignature(NamedTuple):
    """An accepted signature as the report and the package need it: its bytes and what was stored at acceptance."""

    id: int
    file_id: int
    cms: bytes
    verification: str  # the cades VerificationResult, JSON
    signer: str  # who signed (claim and certificate identity), JSON


def stored_signatures(db: Database, document_id: int) -> list[StoredSignature]:
    """Every accepted signature of a document, in the order they were accepted."""
    rows = db.execute(
        "SELECT id, file_id, cms, verification, signer FROM signatures WHERE document_id = ? ORDER BY id", [document_id]
    ).fetchall()
    return [StoredSignature(int(r[0]), int(r[1]), bytes(r[2]), r[3], r[4]) for r in rows]
