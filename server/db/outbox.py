"""The outbox: side effects recorded in the same transaction as the change that causes them.

A transition writes its notifications and emails here; a worker delivers them after commit. Each message
is claimed (``sending``) in its own transaction before delivery and marked ``delivered`` after, so a
crash can only leave a message in ``sending``, which :func:`recover` puts back for one more try.
Handlers use the message id as an idempotency key where the receiving side supports one.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlite_utils import Database


class OutboxMessage(msgspec.Struct, frozen=True):
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def enqueue(
    db: Database, kind: str, payload: dict[str, Any], *, dedupe_key: str | None = None, now: datetime | None = None
) -> int | None:
    """Add a message inside the caller's transaction; a repeated dedupe_key is ignored."""
    now = now or datetime.now(UTC)
    cur = db.execute(
        "INSERT INTO outbox (created_at, kind, payload, dedupe_key, next_attempt_at)"
        " VALUES (?, ?, ?, ?, ?) ON CONFLICT(dedupe_key) DO NOTHING",
        [_iso(now), kind, json.dumps(payload, ensure_ascii=False), dedupe_key, _iso(now)],
    )
    return cur.lastrowid if cur.rowcount else None


def claim_due(
    db: Database, limit: int = 50, now: datetime | None = None, *, kinds: Sequence[str] | None = None
) -> list[OutboxMessage]:
    """Mark up to ``limit`` due messages (of ``kinds``, when given) as ``sending`` and return them (one
    transaction). Each worker claims only the kinds it delivers."""
    now = now or datetime.now(UTC)
    only = f" AND kind IN ({','.join('?' * len(kinds))})" if kinds is not None else ""
    rows = db.execute(
        f"SELECT id, kind, payload, attempts FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?{only}"
        " ORDER BY id LIMIT ?",
        [_iso(now), *(kinds or ()), limit],
    ).fetchall()
    if rows:
        db.execute(
            f"UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id IN ({','.join('?' * len(rows))})",
            [r[0] for r in rows],
        )
    return [OutboxMessage(r[0], r[1], json.loads(r[2]), r[3] + 1) for r in rows]


def mark_delivered(db: Database, message_id: int, now: datetime | None = None) -> None:
    db.execute(
        "UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = '' WHERE id = ?",
        [_iso(now or datetime.now(UTC)), message_id],
    )


def backoff(attempts: int) -> timedelta:
    """Exponential backoff, 5 s doubling up to one hour."""
    return timedelta(seconds=min(3600, 5 * 2 ** max(0, attempts - 1)))


def mark_failed(
    db: Database, message_id: int, error: str, *, attempts: int, max_attempts: int = 20, now: datetime | None = None
) -> None:
    """Schedule a retry, or give up after ``max_attempts`` (status ``failed``)."""
    now = now or datetime.now(UTC)
    status = "failed" if attempts >= max_attempts else "pending"
    db.execute(
        "UPDATE outbox SET status = ?, last_error = ?, next_attempt_at = ? WHERE id = ?",
        [status, error[:500], _iso(now + backoff(attempts)), message_id],
    )


def mark_skipped(db: Database, message_id: int, why: str, now: datetime | None = None) -> None:
    """Nothing to deliver any more: closed as ``delivered`` with ``why`` kept as its last error."""
    db.execute(
        "UPDATE outbox SET status = 'delivered', delivered_at = ?, last_error = ? WHERE id = ?",
        [_iso(now or datetime.now(UTC)), why, message_id],
    )


def retry_at(db: Database, message_id: int, error: str, when: datetime) -> None:
    """Back to ``pending`` until ``when`` (a worker with its own backoff policy)."""
    db.execute(
        "UPDATE outbox SET status = 'pending', last_error = ?, next_attempt_at = ? WHERE id = ?",
        [error[:500], _iso(when), message_id],
    )


def give_up(db: Database, message_id: int, error: str) -> None:
    db.execute("UPDATE outbox SET status = 'failed', last_error = ? WHERE id = ?", [error[:500], message_id])


def recover(db: Database) -> int:
    """After a restart: messages left in ``sending`` by a crash go back to ``pending``."""
    return db.execute("UPDATE outbox SET status = 'pending' WHERE status = 'sending'").rowcount


def counts(db: Database) -> dict[str, int]:
    return {status: n for status, n in db.execute("SELECT status, count(*) FROM outbox GROUP BY status")}


def created_at(db: Database, message_ids: list[int]) -> dict[int, datetime]:
    """When each message was enqueued."""
    if not message_ids:
        return {}
    rows = db.execute(
        f"SELECT id, created_at FROM outbox WHERE id IN ({','.join('?' * len(message_ids))})", message_ids
    ).fetchall()
    return {int(r[0]): datetime.fromisoformat(r[1]) for r in rows}
