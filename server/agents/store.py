"""SQL for agents, pairing codes, job deliveries and agent results (synchronous: run via ``db.read``/``db.write``).

Jobs themselves belong to the workflow (``jobs`` table, written only by :mod:`server.workflow.job_store`;
``done`` is set by ``accept_signature``). This module only asks it to move a job between ``pending`` and
``delivered`` (``delivered`` while an acknowledging agent holds it; back to ``pending`` when it gives the job back
or goes away) and to ``failed`` when the agent refuses it, and records who got what.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlite_utils import Database

from server.db import audit, inserted_id
from server.workflow import job_store

from . import tokens

OPEN_JOB_STATES = ("pending", "delivered")


def now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class AgentRow(msgspec.Struct, kw_only=True):
    id: int
    user_id: int
    name: str
    platform: str
    created_at: str
    last_seen_at: str | None
    backend: str
    revoked_at: str | None


_AGENT_COLUMNS = "id, user_id, name, platform, created_at, last_seen_at, backend, revoked_at"


def _agent(row: Any) -> AgentRow:
    return AgentRow(
        id=row[0],
        user_id=row[1],
        name=row[2],
        platform=row[3],
        created_at=row[4],
        last_seen_at=row[5],
        backend=row[6],
        revoked_at=row[7],
    )


# -- pairing ------------------------------------------------------------------------------------------------


def create_pairing_code(db: Database, *, user_id: int, member_id: str, minutes: int) -> tuple[str, str]:
    """A fresh one-time code for ``user_id``; (code, expires_at). Older unused codes of the user are voided."""
    moment = now()
    expires = iso(moment + timedelta(minutes=minutes))
    db.execute(
        "UPDATE agent_pairing_codes SET used_at = ? WHERE user_id = ? AND used_at IS NULL", [iso(moment), user_id]
    )
    while True:
        code = tokens.new_pairing_code()
        h = tokens.code_digest(code)
        if db.execute("SELECT 1 FROM agent_pairing_codes WHERE code_hash = ?", [h]).fetchone() is None:
            break
    db.execute(
        "INSERT INTO agent_pairing_codes (code_hash, user_id, member_id, created_at, expires_at)"
        " VALUES (?, ?, ?, ?, ?)",
        [h, user_id, member_id, iso(moment), expires],
    )
    audit.append(
        db,
        actor=f"user:{user_id}",
        action="agent.pairing_code",
        object_type="user",
        object_id=user_id,
        details={"expires_at": expires},
    )
    return code, expires


class PairingRefused(Exception):
    pass


def redeem_pairing_code(db: Database, *, code: str, name: str, platform: str) -> tuple[AgentRow, str]:
    """Trade a valid unused code for a new agent and its device key (returned once, stored hashed)."""
    moment = now()
    row = db.execute(
        "SELECT id, user_id, member_id, expires_at, used_at FROM agent_pairing_codes WHERE code_hash = ?",
        [tokens.code_digest(code)],
    ).fetchone()
    if row is None or row[4] is not None or row[3] < iso(moment):
        raise PairingRefused("Код сопряжения неверен, уже использован или истёк. Получите новый на странице KlikDok.")
    code_id, user_id, member_id = row[0], row[1], row[2]
    key = tokens.new_device_key()
    cur = db.execute(
        "INSERT INTO agents (user_id, member_id, name, platform, key_hash, created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [user_id, member_id, name[:120], platform[:60], tokens.digest(key), iso(moment)],
    )
    agent_id = inserted_id(cur)
    db.execute(
        "UPDATE agent_pairing_codes SET used_at = ?, agent_id = ? WHERE id = ?", [iso(moment), agent_id, code_id]
    )
    audit.append(
        db,
        actor=f"user:{user_id}",
        action="agent.paired",
        object_type="agent",
        object_id=agent_id,
        details={"name": name[:120], "platform": platform[:60]},
    )
    agent = agent_by_id(db, agent_id)
    assert agent is not None
    return agent, key


def agent_by_key(db: Database, key: str) -> AgentRow | None:
    """The active agent holding ``key`` (None for an unknown or revoked key)."""
    if not key.startswith(tokens.DEVICE_KEY_PREFIX) or len(key) > 200:
        return None
    row = db.execute(
        f"SELECT {_AGENT_COLUMNS} FROM agents WHERE key_hash = ? AND revoked_at IS NULL", [tokens.digest(key)]
    ).fetchone()
    return _agent(row) if row else None


def agent_by_id(db: Database, agent_id: int) -> AgentRow | None:
    row = db.execute(f"SELECT {_AGENT_COLUMNS} FROM agents WHERE id = ?", [agent_id]).fetchone()
    return _agent(row) if row else None


def agents_of(db: Database, user_id: int) -> list[AgentRow]:
    rows = db.execute(
        f"SELECT {_AGENT_COLUMNS} FROM agents WHERE user_id = ? AND revoked_at IS NULL ORDER BY id", [user_id]
    ).fetchall()
    return [_agent(r) for r in rows]


def revoke_agent(db: Database, *, agent_id: int, user_id: int, actor: str) -> bool:
    cur = db.execute(
        "UPDATE agents SET revoked_at = ? WHERE id = ? AND user_id = ? AND revoked_at IS NULL",
        [iso(now()), agent_id, user_id],
    )
    if cur.rowcount:
        audit.append(db, actor=actor, action="agent.revoked", object_type="agent", object_id=agent_id, details={})
    return bool(cur.rowcount)


def touch_agent(db: Database, agent_id: int, *, backend: str | None = None) -> None:
    if backend is None:
        db.execute("UPDATE agents SET last_seen_at = ? WHERE id = ?", [iso(now()), agent_id])
    else:
        db.execute("UPDATE agents SET last_seen_at = ?, backend = ? WHERE id = ?", [iso(now()), backend[:40], agent_id])


# -- jobs -----------------------------------------------------------------------------------------------------


class JobView(msgspec.Struct, kw_only=True):
    """A job as the agent sees it (files with their recorded digests)."""

    id: int
    document_id: int
    step_id: int
    user_id: int
    status: str
    title: str
    files: list[tuple[int, str, int, str]]  # (file id, name, size, streebog256)


def _job_view(db: Database, row: Any) -> JobView:
    files = db.execute(
        "SELECT id, name, size, streebog256 FROM document_files WHERE document_id = ? ORDER BY position", [row[1]]
    ).fetchall()
    return JobView(
        id=row[0],
        document_id=row[1],
        step_id=row[2],
        user_id=row[3],
        status=row[4],
        title=row[5],
        files=[(f[0], f[1], f[2], f[3]) for f in files],
    )


_JOB_SQL = (
    "SELECT j.id, j.document_id, j.step_id, j.user_id, j.status, d.title FROM jobs j"
    " JOIN documents d ON d.id = j.document_id"
)


def job_view(db: Database, job_id: int) -> JobView | None:
    row = db.execute(f"{_JOB_SQL} WHERE j.id = ?", [job_id]).fetchone()
    return _job_view(db, row) if row else None


def open_jobs_for_user(db: Database, user_id: int, *, channels: tuple[str, ...] = ("any", "agent")) -> list[JobView]:
    marks = ",".join("?" * len(channels))
    rows = db.execute(
        f"{_JOB_SQL} WHERE j.user_id = ? AND j.status IN ('pending', 'delivered')"
        f" AND j.channel IN ({marks}) ORDER BY j.id",
        [user_id, *channels],
    ).fetchall()
    return [_job_view(db, r) for r in rows]


def new_pending_jobs(
    db: Database, after_id: int, *, channels: tuple[str, ...] = ("any", "agent"), limit: int = 5000
) -> list[tuple[int, int]]:
    """(job id, user id) of pending jobs created after ``after_id`` (the dispatcher's high-water mark)."""
    marks = ",".join("?" * len(channels))
    return [
        (r[0], r[1])
        for r in db.execute(
            f"SELECT id, user_id FROM jobs WHERE id > ? AND status = 'pending' AND channel IN ({marks})"
            " ORDER BY id LIMIT ?",
            [after_id, *channels, limit],
        ).fetchall()
    ]


def closed_among(db: Database, job_ids: list[int]) -> list[tuple[int, str]]:
    """(job id, status) of those jobs that are no longer open (done, cancelled, failed)."""
    if not job_ids:
        return []
    out: list[tuple[int, str]] = []
    for start in range(0, len(job_ids), 500):
        chunk = job_ids[start : start + 500]
        out += [
            (r[0], r[1])
            for r in db.execute(
                f"SELECT id, status FROM jobs WHERE id IN ({','.join('?' * len(chunk))})"
                " AND status NOT IN ('pending', 'delivered')",
                chunk,
            ).fetchall()
        ]
    return out


def record_delivery(db: Database, job_id: int, agent_id: int) -> int:
    cur = db.execute(
        "INSERT INTO job_deliveries (job_id, agent_id, sent_at) VALUES (?, ?, ?)", [job_id, agent_id, iso(now())]
    )
    return inserted_id(cur)


def record_deliveries(db: Database, pairs: list[tuple[int, int]]) -> list[int]:
    return [record_delivery(db, job_id, agent_id) for job_id, agent_id in pairs]


def acknowledge(db: Database, *, delivery_id: int, job_id: int, agent_id: int) -> bool:
    """The agent queued the job: ``pending`` -> ``delivered``. False if the delivery is not this agent's."""
    cur = db.execute(
        "UPDATE job_deliveries SET acked_at = ? WHERE id = ? AND job_id = ? AND agent_id = ? AND acked_at IS NULL",
        [iso(now()), delivery_id, job_id, agent_id],
    )
    if not cur.rowcount:
        return False
    job_store.mark_delivered(db, job_id, iso(now()))
    return True


def release(db: Database, pairs: list[tuple[int, int]]) -> int:
    """The agent gave these (job id, delivery id) back, or its connection ended: ``delivered`` -> ``pending``.

    ``delivered`` means "an agent holds it" (the workflow lets a waiting job move to CryptoARM, never a held one),
    so it must not outlive the holder. A job offered again since (a later delivery, maybe already acknowledged by
    the reconnected device) is left to that delivery.
    """
    released = 0
    for job_id, delivery_id in pairs:
        released += job_store.release(db, job_id, delivery_id, iso(now()))
    return released


def release_all(db: Database) -> int:
    """At start-up no agent is connected, so no job is held: every ``delivered`` job is waiting again."""
    return job_store.release_all(db, iso(now()))


def recorded_result(db: Database, result_id: str) -> tuple[int, int, str, str, str] | None:
    row = db.execute(
        "SELECT job_id, agent_id, outcome, code, message FROM agent_results WHERE result_id = ?", [result_id]
    ).fetchone()
    return (row[0], row[1], row[2], row[3], row[4]) if row else None


def record_result(
    db: Database, *, result_id: str, job_id: int, agent_id: int, outcome: str, code: str = "", message: str = ""
) -> None:
    db.execute(
        "INSERT OR IGNORE INTO agent_results (result_id, job_id, agent_id, outcome, code, message, received_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        [result_id, job_id, agent_id, outcome, code, message[:500], iso(now())],
    )


def fail_job(
    db: Database, *, job_id: int, user_id: int, agent_id: int, result_id: str, code: str, message: str
) -> bool:
    """The agent refused the job (digest mismatch, a bad local signature, a backend error): ``failed``, audited."""
    failed = job_store.fail(db, job_id, user_id=user_id, error=f"{code}: {message}"[:500], now=iso(now()))
    record_result(
        db, result_id=result_id, job_id=job_id, agent_id=agent_id, outcome="recorded", code=code, message=message
    )
    if failed:
        document_id = job_store.document_of(db, job_id)
        audit.append(
            db,
            actor=f"agent:{agent_id}",
            action="job.failed",
            object_type="document",
            object_id=document_id if document_id is not None else "",
            details={"job_id": job_id, "code": code, "message": message[:500]},
        )
    return failed


def active_last_seen(db: Database) -> list[str | None]:
    """When each active (not revoked) agent was last heard from (doctor's check)."""
    return [r[0] for r in db.execute("SELECT last_seen_at FROM agents WHERE revoked_at IS NULL").fetchall()]


class JobProgressRow(msgspec.Struct, kw_only=True):
    """One job of a user with its document's title and state (the page waiting on a signing run)."""

    id: int
    document_id: int
    title: str
    status: str
    channel: str
    error: str
    document_state: str
    refusal: str  # "code: message" of the latest agent result the workflow refused for this job, else ""


def job_progress(db: Database, user_id: int, job_ids: list[int]) -> list[JobProgressRow]:
    """The user's own jobs among ``job_ids`` (closed ones too), by id; others' ids are simply not found."""
    marks = ",".join("?" * len(job_ids))
    rows = db.execute(
        "SELECT j.id, j.document_id, d.title, j.status, j.channel, j.error, d.state, (SELECT r.code || ': ' ||"
        " r.message FROM agent_results r WHERE r.job_id = j.id AND r.outcome = 'refused' ORDER BY r.received_at"
        " DESC, r.rowid DESC LIMIT 1) FROM jobs j"
        f" JOIN documents d ON d.id = j.document_id WHERE j.id IN ({marks}) AND j.user_id = ? ORDER BY j.id",
        [*job_ids, user_id],
    ).fetchall()
    return [
        JobProgressRow(
            id=r[0],
            document_id=r[1],
            title=r[2],
            status=r[3],
            channel=r[4],
            error=r[5],
            document_state=r[6],
            refusal=r[7] or "",
        )
        for r in rows
    ]
