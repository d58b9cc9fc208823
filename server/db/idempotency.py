"""The kept answers to ``Idempotency-Key``: one row per (sender, method, path, key), for a day.

A row is ``running`` from the moment a request claims its key until its answer is kept (``done``) or the key is
let go (the request failed and changed nothing, so the key may be used again). Claiming is one INSERT in the
writer's transaction, so two requests with the same key cannot both win. Rows older than :data:`TTL` are
forgotten on every claim: no separate job has to remember to purge them, and a lookup never sees them.
"""

from __future__ import annotations

import json
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

from sqlite_utils import Database

TTL = timedelta(days=1)
# The claim of the keyed request the current task is running (set by the middleware around the route): every
# transaction it commits marks the claim in the same transaction (:func:`mark_committed`, through
# ``Database.submit_write``), so a restart can tell a request that changed something from one that did not.
ACTING_FOR: ContextVar[int | None] = ContextVar("idempotency_acting_for", default=None)
# ``status`` of a ``running`` row whose request has committed a change (no HTTP status is 1).
COMMITTED = 1
# ``request_hash`` of a row whose request was interrupted after it committed: its repeat is told so, never replayed.
INTERRUPTED = "interrupted"

ClaimState = Literal["claimed", "running", "done"]


@dataclass(frozen=True)
class KeptRequest:
    """The request a key answered, as much as is needed to recognise it again."""

    hash: str
    bytes: int
    complete: bool


@dataclass(frozen=True)
class KeptAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes | None  # None: the answer was too large to keep (its status and headers are kept)


@dataclass(frozen=True)
class Claim:
    """What claiming a key found: ``claimed`` (the caller runs the request), ``running`` (another request with
    this key has not answered yet) or ``done`` (``request`` and ``answer`` are the kept ones)."""

    state: ClaimState
    id: int
    request: KeptRequest | None = None
    answer: KeptAnswer | None = None


def _iso(dt: datetime) -> str:
    return dt.astimezone(UTC).isoformat(timespec="microseconds")


def purge(db: Database, now: datetime) -> int:
    """Forget the keys older than a day; how many."""
    return db.execute("DELETE FROM idempotency_keys WHERE created_at < ?", [_iso(now - TTL)]).rowcount


def claim(db: Database, *, owner: str, method: str, path: str, key: str, now: datetime | None = None) -> Claim:
    """Claim the key for a new request, or say who has it (one write transaction)."""
    now = now or datetime.now(UTC)
    purge(db, now)
    cur = db.execute(
        "INSERT INTO idempotency_keys (owner, method, path, key, created_at) VALUES (?, ?, ?, ?, ?)"
        " ON CONFLICT (owner, method, path, key) DO NOTHING",
        [owner, method, path, key, _iso(now)],
    )
    if cur.rowcount and cur.lastrowid is not None:
        return Claim("claimed", cur.lastrowid)
    row = db.execute(
        "SELECT id, state, request_hash, request_bytes, request_complete, status, headers, body"
        " FROM idempotency_keys WHERE owner = ? AND method = ? AND path = ? AND key = ?",
        [owner, method, path, key],
    ).fetchone()
    row_id, state, request_hash, request_bytes, complete, status, headers, body = row
    if state == "running":
        return Claim("running", row_id)
    return Claim(
        "done",
        row_id,
        KeptRequest(request_hash, request_bytes, bool(complete)),
        KeptAnswer(status, [(str(k), str(v)) for k, v in json.loads(headers)], body),
    )


def keep(db: Database, claim_id: int, request: KeptRequest, answer: KeptAnswer) -> None:
    """The claimed request answered: keep its answer for the repeats."""
    db.execute(
        "UPDATE idempotency_keys SET state = 'done', request_hash = ?, request_bytes = ?, request_complete = ?,"
        " status = ?, headers = ?, body = ? WHERE id = ? AND state = 'running'",
        [
            request.hash,
            request.bytes,
            int(request.complete),
            answer.status,
            json.dumps(answer.headers, ensure_ascii=False),
            answer.body,
            claim_id,
        ],
    )


def release(db: Database, claim_id: int) -> None:
    """The claimed request failed and changed nothing: the key is free again."""
    db.execute("DELETE FROM idempotency_keys WHERE id = ? AND state = 'running'", [claim_id])


def mark_committed(db: Database, claim_id: int) -> None:
    """The claimed request is committing a change (called inside that change's transaction)."""
    db.execute("UPDATE idempotency_keys SET status = ? WHERE id = ? AND state = 'running'", [COMMITTED, claim_id])


def recover(db: Database) -> int:
    """At start-up: requests that were running when the server stopped will never answer. A key whose request
    changed nothing is freed (its repeat runs); a key whose request committed a change is closed as
    :data:`INTERRUPTED` (its repeat must not do the change again, and there is no answer to replay). Returns how
    many keys were freed."""
    db.execute(
        "UPDATE idempotency_keys SET state = 'done', request_hash = ?, status = 409"
        " WHERE state = 'running' AND status = ?",
        [INTERRUPTED, COMMITTED],
    )
    return db.execute("DELETE FROM idempotency_keys WHERE state = 'running'").rowcount
