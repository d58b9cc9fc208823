"""The typed rows the stores hand out match their tables, column for column.

A store reads exactly the fields of its row Struct (``SELECT id, title, ...``), so a column added by a migration
and forgotten in the Struct would silently never be read, and a Struct field the table lacks would fail only
when that query first runs. This compares each row Struct with its table as the migrations leave it: the same
names, NULL allowed exactly where the field may be None, INTEGER columns as ``int`` and TEXT columns as text.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import msgspec
import msgspec.inspect as mi
import pytest
import sqlite_utils

from server.counterparty import link_store
from server.counterparty.link_store import LinkRow
from server.db import Database, migrations
from server.workflow import store
from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow

ROWS: dict[str, type[msgspec.Struct]] = {"documents": DocumentRow, "counterparty_links": LinkRow}
TEXT = (mi.StrType, mi.EnumType, mi.LiteralType)


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "k.db")
    database.open()
    database.write_sync(migrations.apply, transaction=False)
    yield database
    database.close()


def _columns(d: sqlite_utils.Database, table: str) -> dict[str, tuple[str, bool]]:
    """name -> (declared type, NULL allowed) of the table as migrated."""
    return {r[1]: (r[2].upper(), not r[3] and not r[5]) for r in d.execute(f"PRAGMA table_info({table})")}


def _split(t: mi.Type) -> tuple[mi.Type, bool]:
    """(the type without None, whether None is allowed)."""
    if isinstance(t, mi.UnionType):
        rest = [x for x in t.types if not isinstance(x, mi.NoneType)]
        assert len(rest) == 1, t
        return rest[0], len(rest) < len(t.types)
    return t, False


@pytest.mark.parametrize("table", sorted(ROWS))
def test_each_row_struct_has_every_column_of_its_table(db: Database, table: str) -> None:
    row = ROWS[table]
    columns = db.read_sync(lambda d: _columns(d, table))
    fields = {f.name: _split(f.type) for f in mi.type_info(row).fields}
    assert sorted(fields) == sorted(columns), f"{row.__name__} and {table} differ"
    assert row.__struct_config__.frozen, f"{row.__name__} is handed around: nobody may edit it in place"
    for name, (declared, nullable) in columns.items():
        kind, optional = fields[name]
        assert optional == nullable, f"{table}.{name}: NULL allowed {nullable}, None allowed {optional}"
        expected: Any = mi.IntType if declared == "INTEGER" else TEXT
        assert isinstance(kind, expected), f"{table}.{name} is {declared}, {row.__name__}.{name} is {kind}"


def test_rows_read_back_with_their_declared_types(db: Database) -> None:
    def write(d: sqlite_utils.Database) -> tuple[int, int]:
        doc_id = store.insert_document(
            d,
            title="Договор",
            entity_type="deal",
            entity_id=7,
            company_id=None,
            author_id=1,
            author_name="Автор",
            department_id=None,
            now="2026-01-01T00:00:00+00:00",
            counterparty_name="",
            counterparty_inn="",
            counterparty_ogrn="",
            counterparty_email="cp@example.test",
            disk_folder_id=None,
            search="договор",
        )
        link_id = link_store.insert(
            d,
            document_id=doc_id,
            step_id=None,
            token_hash="h",
            nonce="n",
            recipient_email="cp@example.test",
            recipient_name="",
            created_by="system",
            created_at="2026-01-01T00:00:00+00:00",
            expires_at="2026-02-01T00:00:00+00:00",
        )
        return doc_id, link_id

    doc_id, link_id = db.write_sync(write)
    doc = db.read_sync(lambda d: store.document_row(d, doc_id))
    link = db.read_sync(lambda d: link_store.by_id(d, link_id))
    assert doc is not None and doc.state is DocState.DRAFT and doc.warnings == "[]"
    assert link is not None and link.document_id == doc_id and link.mail_status == "pending"
    # Strict conversion of what was read: every value has its field's type (no str where an int belongs).
    for row in (doc, link):
        assert msgspec.convert(msgspec.structs.asdict(row), type(row), strict=True) == row
    assert db.read_sync(lambda d: link_store.of_document(d, doc_id)) == [link]
