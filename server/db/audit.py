"""The append-only, hash-chained audit log.

Each row's hash covers its own fields and the previous row's hash, so editing or deleting any row breaks
the chain from that row on; the chain head (``audit_head``) is written in the same transaction, so
cutting rows off the end is caught too. Appends run inside the caller's write transaction: an audited
action and its audit row commit together.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlite_utils import Database

GENESIS = "0" * 64


class AuditProblem(msgspec.Struct, frozen=True):
    row_id: int
    reason: str


class AuditReport(msgspec.Struct, frozen=True):
    ok: bool
    rows: int
    problem: AuditProblem | None = None


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


def row_hash(
    prev_hash: str, row_id: int, at: str, actor: str, action: str, object_type: str, object_id: str, details: str
) -> str:
    material = json.dumps(
        [prev_hash, row_id, at, actor, action, object_type, object_id, details],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


def append(
    db: Database,
    *,
    actor: str,
    action: str,
    object_type: str = "",
    object_id: str | int = "",
    details: dict[str, Any] | None = None,
    at: str | None = None,
) -> int:
    """Append one row; must run inside the writer's transaction. Returns the row id."""
    head = db.execute("SELECT last_id, last_hash FROM audit_head WHERE one = 1").fetchone()
    last_id, prev = head if head else (0, GENESIS)
    row_id = last_id + 1
    at = at or _now()
    details_text = json.dumps(details or {}, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    h = row_hash(prev, row_id, at, actor, action, object_type, str(object_id), details_text)
    db.execute(
        "INSERT INTO audit_log (id, at, actor, action, object_type, object_id, details, prev_hash, hash)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [row_id, at, actor, action, object_type, str(object_id), details_text, prev, h],
    )
    db.execute(
        "INSERT INTO audit_head (one, last_id, last_hash) VALUES (1, ?, ?)"
        " ON CONFLICT(one) DO UPDATE SET last_id = excluded.last_id, last_hash = excluded.last_hash",
        [row_id, h],
    )
    return row_id


def count_since(
    db: Database, *, object_type: str, object_id: str | int, action: str, since: str, flag: str | None = None
) -> int:
    """How many ``action`` rows the object got after ``since`` (only those whose details set ``flag``, if given):
    the rate limits on reminders count what the log already holds instead of keeping counters of their own."""
    if flag is not None and not flag.isidentifier():
        raise ValueError(f"not a details key: {flag!r}")
    only = f" AND json_extract(details, '$.{flag}')" if flag is not None else ""
    return int(
        db.execute(
            f"SELECT count(*) FROM audit_log WHERE object_type = ? AND object_id = ? AND action = ? AND at > ?{only}",
            [object_type, str(object_id), action, since],
        ).fetchone()[0]
    )


@contextlib.contextmanager
def _snapshot(db: Database) -> Iterator[None]:
    """One read transaction around several reads, unless the caller already holds one.

    Without it every statement sees the database as of its own start: on a live server a row committed
    between reading the log and reading its head makes an intact log look cut short.
    """
    if db.conn.in_transaction:
        yield
        return
    db.execute("BEGIN DEFERRED")
    try:
        yield
    finally:
        db.execute("ROLLBACK")  # nothing was written; ending the read transaction releases the snapshot


def verify(db: Database) -> AuditReport:
    """Walk the whole chain and compare it with the head, both from one snapshot; report the first break."""
    with _snapshot(db):
        return _verify(db)


def _verify(db: Database) -> AuditReport:
    expected_prev = GENESIS
    expected_id = 1
    count = 0
    cursor = db.execute(
        "SELECT id, at, actor, action, object_type, object_id, details, prev_hash, hash FROM audit_log ORDER BY id"
    )
    for row_id, at, actor, action, object_type, object_id, details, prev_hash, stored in cursor:
        if row_id != expected_id:
            return AuditReport(False, count, AuditProblem(expected_id, "row is missing"))
        if prev_hash != expected_prev:
            return AuditReport(False, count, AuditProblem(row_id, "previous-hash link is broken"))
        if row_hash(prev_hash, row_id, at, actor, action, object_type, object_id, details) != stored:
            return AuditReport(False, count, AuditProblem(row_id, "row content does not match its hash"))
        expected_prev = stored
        expected_id += 1
        count += 1
    head = db.execute("SELECT last_id, last_hash FROM audit_head WHERE one = 1").fetchone()
    head_id, head_hash = head if head else (0, GENESIS)
    if head_id != count or head_hash != expected_prev:
        if head_id > count:
            return AuditReport(False, count, AuditProblem(count + 1, "row is missing (the log was cut short)"))
        return AuditReport(False, count, AuditProblem(head_id or count, "chain head does not match the log"))
    return AuditReport(True, count)


class AuditEntry(msgspec.Struct, frozen=True):
    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


def search(
    db: Database,
    *,
    q: str = "",
    actors: Sequence[str] = (),
    action: str = "",
    document_id: int = 0,
    since: str = "",
    until: str = "",
    limit: int = 100,
    offset: int = 0,
) -> tuple[list[AuditEntry], int]:
    """One page of the rows matching all the filters given, newest first, and how many match in all.

    ``q`` is looked for in the details and the actor, or the actor is one of ``actors`` (the people whose names
    match it); ``since``/``until`` bound ``at`` (``until`` excluded). They are UTC times written
    ``YYYY-MM-DDTHH:MM:SS``, without a fraction or an offset, so comparing them with ``at`` as text orders right
    whatever precision a row's time was written with.
    """
    where: list[str] = []
    params: list[Any] = []
    if action:
        where.append("action = ?")
        params.append(action)
    if document_id:
        where.append("object_type = 'document' AND object_id = ?")
        params.append(str(document_id))
    if q:
        pattern = "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        alternatives = ["details LIKE ? ESCAPE '\\'", "actor LIKE ? ESCAPE '\\'"]
        params += [pattern, pattern]
        if actors:
            alternatives.append(f"actor IN ({','.join('?' * len(actors))})")
            params += list(actors)
        where.append(f"({' OR '.join(alternatives)})")
    if since:
        where.append("at >= ?")
        params.append(since)
    if until:
        where.append("at < ?")
        params.append(until)
    condition = " AND ".join(where) or "1 = 1"
    total = int(db.execute(f"SELECT count(*) FROM audit_log WHERE {condition}", params).fetchone()[0])
    rows = db.execute(
        f"SELECT id, at, actor, action, object_type, object_id, details FROM audit_log WHERE {condition}"
        " ORDER BY id DESC LIMIT ? OFFSET ?",
        [*params, limit, offset],
    ).fetchall()
    entries = [
        AuditEntry(
            id=r[0], at=r[1], actor=r[2], action=r[3], object_type=r[4], object_id=r[5], details=json.loads(r[6])
        )
        for r in rows
    ]
    return entries, total
