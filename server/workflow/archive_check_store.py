"""SQL for the auditor's archive checks (``archive_checks`` and one ``archive_check_items`` row per signature):
see :mod:`.archive_checks`."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass

from sqlite_utils import Database

from .store import now_iso


@dataclass(frozen=True)
class ArchiveCheck:
    id: int
    user_id: int
    file_name: str
    size: int
    state: str
    total: int
    unsigned: list[str]
    error: str
    created_at: str
    started_at: str | None
    finished_at: str | None
    seconds: float


@dataclass(frozen=True)
class CheckedItem:
    position: int
    signature: str
    document: str | None
    verdict: str
    headline: str


_COLUMNS = "id, user_id, file_name, size, state, total, unsigned, error, created_at, started_at, finished_at, seconds"


def _check(row: tuple[object, ...]) -> ArchiveCheck:
    values = list(row)
    values[6] = json.loads(str(values[6]))
    return ArchiveCheck(*values)  # type: ignore[arg-type]  # the columns are in the dataclass's order


def create(db: Database, user_id: int, file_name: str, size: int) -> int:
    cursor = db.execute(
        "INSERT INTO archive_checks (user_id, file_name, size, created_at) VALUES (?, ?, ?, ?)",
        [user_id, file_name, size, now_iso()],
    )
    assert cursor.lastrowid is not None
    return int(cursor.lastrowid)


def get(db: Database, check_id: int) -> ArchiveCheck | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM archive_checks WHERE id = ?", [check_id]).fetchone()
    return None if row is None else _check(row)


def recent(db: Database, user_id: int, limit: int = 20) -> list[ArchiveCheck]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM archive_checks WHERE user_id = ? ORDER BY id DESC LIMIT ?", [user_id, limit]
    ).fetchall()
    return [_check(r) for r in rows]


def next_open(db: Database) -> ArchiveCheck | None:
    """The check to work on: one that was running when the server stopped first, then the oldest queued."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM archive_checks WHERE state IN ('queued', 'running')"
        " ORDER BY state = 'running' DESC, id LIMIT 1"
    ).fetchone()
    return None if row is None else _check(row)


def start(db: Database, check_id: int, total: int, unsigned: list[str]) -> None:
    db.execute(
        "UPDATE archive_checks SET state = 'running', total = ?, unsigned = ?, started_at = coalesce(started_at, ?)"
        " WHERE id = ?",
        [total, json.dumps(unsigned, ensure_ascii=False), now_iso(), check_id],
    )


def done_positions(db: Database, check_id: int) -> set[int]:
    rows = db.execute("SELECT position FROM archive_check_items WHERE check_id = ?", [check_id]).fetchall()
    return {int(r[0]) for r in rows}


def add_items(db: Database, check_id: int, items: Iterable[CheckedItem], seconds: float) -> None:
    """One batch of verdicts; a position already recorded (a restart raced the batch) keeps its first row."""
    now = now_iso()
    db.conn.executemany(
        "INSERT OR IGNORE INTO archive_check_items"
        " (check_id, position, signature, document, verdict, headline, checked_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [(check_id, i.position, i.signature, i.document, i.verdict, i.headline, now) for i in items],
    )
    db.execute("UPDATE archive_checks SET seconds = seconds + ? WHERE id = ?", [seconds, check_id])


def finish(db: Database, check_id: int, *, error: str = "") -> None:
    db.execute(
        "UPDATE archive_checks SET state = ?, error = ?, finished_at = ? WHERE id = ? AND state != 'done'",
        ["failed" if error else "done", error, now_iso(), check_id],
    )


def counts(db: Database, check_id: int) -> dict[str, int]:
    rows = db.execute(
        "SELECT verdict, count(*) FROM archive_check_items WHERE check_id = ? GROUP BY verdict", [check_id]
    ).fetchall()
    return {str(v): int(n) for v, n in rows}


def items_after(db: Database, check_id: int, after: int, limit: int = 500) -> list[CheckedItem]:
    """Verdicts in the order they were recorded (the rowid), from the ``after``-th on: the page asks for what is new."""
    rows = db.execute(
        "SELECT position, signature, document, verdict, headline FROM archive_check_items WHERE check_id = ?"
        " ORDER BY rowid LIMIT ? OFFSET ?",
        [check_id, limit, after],
    ).fetchall()
    return [CheckedItem(int(p), str(s), None if d is None else str(d), str(v), str(h)) for p, s, d, v, h in rows]
