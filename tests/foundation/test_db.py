"""The SQLite layer on real files: WAL, foreign keys, one writer, read-only readers, migrations."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
import sqlite_utils

from server.db import Database, DatabaseClosedError, migrations, outbox


@pytest.fixture
def db(tmp_path: Path):
    database = Database(tmp_path / "k.db")
    database.open()
    database.write_sync(migrations.apply, transaction=False)
    yield database
    database.close()


def test_wal_foreign_keys_and_busy_timeout(db: Database, tmp_path: Path) -> None:
    assert db.read_sync(lambda d: d.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"
    assert db.write_sync(lambda d: d.execute("PRAGMA foreign_keys").fetchone()[0], transaction=False) == 1
    assert db.read_sync(lambda d: d.execute("PRAGMA busy_timeout").fetchone()[0]) == 5000
    assert (tmp_path / "k.db-wal").exists()


def test_migrations_are_recorded_and_idempotent(db: Database) -> None:
    assert db.write_sync(migrations.apply, transaction=False) == []
    names = [m.name for m in db.read_sync(migrations.migrations.applied)]
    assert names == [m.name for m in migrations.migrations._migrations]
    assert names[0] == "0001_core"
    tables = set(db.read_sync(lambda d: d.table_names()))
    assert {"audit_log", "audit_head", "outbox", "settings"} <= tables


def test_a_failing_write_rolls_back_everything(db: Database) -> None:
    def half_then_fail(d: sqlite_utils.Database) -> None:
        d.execute("INSERT INTO settings VALUES ('a', '1', 'now')")
        raise ValueError("boom")

    with pytest.raises(ValueError, match="boom"):
        db.write_sync(half_then_fail)
    assert db.read_sync(lambda d: d.execute("SELECT count(*) FROM settings").fetchone()[0]) == 0


def test_readers_cannot_write(db: Database) -> None:
    with pytest.raises(sqlite3.OperationalError):
        db.read_sync(lambda d: d.execute("INSERT INTO settings VALUES ('a', '1', 'now')"))


async def test_concurrent_async_writes_are_serialised(db: Database) -> None:
    def bump(d: sqlite_utils.Database) -> int:
        row = d.execute("SELECT value FROM settings WHERE key = 'n'").fetchone()
        n = int(row[0]) + 1 if row else 1
        d.execute("INSERT OR REPLACE INTO settings VALUES ('n', ?, 'now')", [str(n)])
        return n

    results = await asyncio.gather(*(db.write(bump) for _ in range(200)))
    assert sorted(results) == list(range(1, 201))
    assert await db.read(lambda d: d.execute("SELECT value FROM settings").fetchone()[0]) == "200"


def test_closed_database_refuses_calls(tmp_path: Path) -> None:
    database = Database(tmp_path / "c.db")
    database.open()
    database.close()
    database.close()  # idempotent
    with pytest.raises(DatabaseClosedError):
        database.write_sync(lambda d: None)


def test_outbox_claim_retry_and_recovery(db: Database) -> None:
    first = db.write_sync(lambda d: outbox.enqueue(d, "notify", {"user": 1}, dedupe_key="doc1:sent"))
    again = db.write_sync(lambda d: outbox.enqueue(d, "notify", {"user": 1}, dedupe_key="doc1:sent"))
    assert first is not None and again is None
    claimed = db.write_sync(outbox.claim_due)
    assert [m.id for m in claimed] == [first] and claimed[0].payload == {"user": 1}
    assert db.write_sync(outbox.claim_due) == []  # already being sent
    assert db.write_sync(outbox.recover) == 1  # a crash left it in 'sending'
    msg = db.write_sync(outbox.claim_due)[0]
    db.write_sync(lambda d: outbox.mark_failed(d, msg.id, "portal down", attempts=msg.attempts))
    assert db.write_sync(outbox.claim_due) == []  # backoff: not due yet
    assert db.read_sync(outbox.counts) == {"pending": 1}
