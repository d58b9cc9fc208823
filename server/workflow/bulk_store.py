"""SQL for bulk sends from a document generator template: ``bulk_jobs`` and one ``bulk_items`` row per deal.

A row's ``state``: ``pending`` (nothing asked of the portal yet), ``generating`` (``floor_id`` recorded, the
portal may be making our generator document), ``generated`` (``generated_id`` known), ``done`` (``document_id``
is the KlikDok document) or ``failed`` (``error`` says why, in Russian). See :mod:`.templates`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlite_utils import Database

from .store import now_iso

OPEN_STATES = ("pending", "generating", "generated")


@dataclass(frozen=True)
class BulkJob:
    id: int
    author_id: int
    template_id: int
    template_name: str
    signers: list[int]
    message: str
    due_date: str
    created_at: str


@dataclass(frozen=True)
class BulkItem:
    id: int
    job_id: int
    entity_type: str
    entity_id: int
    position: int
    state: str
    floor_id: int | None
    generated_id: int | None
    document_id: int | None
    error: str
    attempts: int


_ITEM_COLUMNS = (
    "id, job_id, entity_type, entity_id, position, state, floor_id, generated_id, document_id, error, attempts"
)


def _item(row: Any) -> BulkItem:
    return BulkItem(*row)


def _job(row: Any) -> BulkJob:
    return BulkJob(
        id=row[0],
        author_id=row[1],
        template_id=row[2],
        template_name=row[3],
        signers=[int(s) for s in json.loads(row[4] or "[]")],
        message=row[5],
        due_date=row[6],
        created_at=row[7],
    )


def create_job(
    db: Database,
    *,
    author_id: int,
    template_id: int,
    template_name: str,
    signers: list[int],
    message: str,
    due_date: str,
    entities: list[tuple[str, int]],
) -> int:
    cursor = db.execute(
        "INSERT INTO bulk_jobs (author_id, template_id, template_name, signers, message, due_date, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [author_id, template_id, template_name, json.dumps(signers), message, due_date, now_iso()],
    )
    job_id = int(cursor.lastrowid or 0)
    stamp = now_iso()
    for position, (entity_type, entity_id) in enumerate(entities):
        db.execute(
            "INSERT INTO bulk_items (job_id, entity_type, entity_id, position, updated_at) VALUES (?, ?, ?, ?, ?)",
            [job_id, entity_type, entity_id, position, stamp],
        )
    return job_id


def job(db: Database, job_id: int) -> BulkJob | None:
    row = db.execute(
        "SELECT id, author_id, template_id, template_name, signers, message, due_date, created_at"
        " FROM bulk_jobs WHERE id = ?",
        [job_id],
    ).fetchone()
    return _job(row) if row is not None else None


def items(db: Database, job_id: int) -> list[BulkItem]:
    rows = db.execute(f"SELECT {_ITEM_COLUMNS} FROM bulk_items WHERE job_id = ? ORDER BY position", [job_id])
    return [_item(r) for r in rows.fetchall()]


def item(db: Database, item_id: int) -> BulkItem | None:
    row = db.execute(f"SELECT {_ITEM_COLUMNS} FROM bulk_items WHERE id = ?", [item_id]).fetchone()
    return _item(row) if row is not None else None


def next_open(db: Database, now: float | None = None) -> BulkItem | None:
    """The next row to work on: the oldest job first, in the order its deals were picked; None when none is due."""
    row = db.execute(
        f"SELECT {_ITEM_COLUMNS} FROM bulk_items WHERE state IN ('pending', 'generating', 'generated')"
        " AND next_at <= ? ORDER BY job_id, position LIMIT 1",
        [time.time() if now is None else now],
    ).fetchone()
    return _item(row) if row is not None else None


def claimed_generated(db: Database, ids: list[int]) -> set[int]:
    """Which of these generator documents a bulk row or a single attempt (``template_attempts``) already owns."""
    if not ids:
        return set()
    marks = ",".join("?" * len(ids))
    rows = db.execute(
        f"SELECT generated_id FROM bulk_items WHERE generated_id IN ({marks})"
        f" UNION SELECT generated_id FROM template_attempts WHERE generated_id IN ({marks})",
        [*ids, *ids],
    ).fetchall()
    return {int(r[0]) for r in rows}


def mark_generating(db: Database, item_id: int, floor_id: int) -> None:
    db.execute(
        "UPDATE bulk_items SET state = 'generating', floor_id = ?, updated_at = ? WHERE id = ? AND state = 'pending'",
        [floor_id, now_iso(), item_id],
    )


def mark_generated(db: Database, item_id: int, generated_id: int) -> None:
    db.execute(
        "UPDATE bulk_items SET state = 'generated', generated_id = ?, updated_at = ? WHERE id = ?"
        " AND state = 'generating'",
        [generated_id, now_iso(), item_id],
    )


def mark_done(db: Database, item_id: int, document_id: int) -> None:
    """Inside the transaction that creates the document (:meth:`.intake.Intake.create`'s ``in_transaction``)."""
    changed = db.execute(
        "UPDATE bulk_items SET state = 'done', document_id = ?, error = '', updated_at = ? WHERE id = ?"
        " AND state = 'generated' AND document_id IS NULL",
        [document_id, now_iso(), item_id],
    ).rowcount
    if changed != 1:
        raise RuntimeError(f"bulk item {item_id} is not waiting for its document")


def mark_failed(db: Database, item_id: int, error: str) -> None:
    db.execute(
        "UPDATE bulk_items SET state = 'failed', error = ?, updated_at = ? WHERE id = ? AND state != 'done'",
        [error, now_iso(), item_id],
    )


def postpone(db: Database, item_id: int, delay: float, error: str) -> int:
    """Try the row again after ``delay`` seconds (a transient portal failure); its attempts so far."""
    db.execute(
        "UPDATE bulk_items SET attempts = attempts + 1, next_at = ?, error = ?, updated_at = ? WHERE id = ?",
        [time.time() + delay, error, now_iso(), item_id],
    )
    row = db.execute("SELECT attempts FROM bulk_items WHERE id = ?", [item_id]).fetchone()
    return int(row[0]) if row is not None else 0


def jobs_of(db: Database, author_id: int, limit: int = 20) -> list[BulkJob]:
    rows = db.execute(
        "SELECT id, author_id, template_id, template_name, signers, message, due_date, created_at"
        " FROM bulk_jobs WHERE author_id = ? ORDER BY id DESC LIMIT ?",
        [author_id, limit],
    ).fetchall()
    return [_job(r) for r in rows]
