"""SQL for the ``jobs`` table: signing jobs, one open job per route step at a time.

Every write to ``jobs`` is here: the workflow opens, moves and closes jobs (:mod:`.jobs`, :mod:`.states`), the
agents hub marks them held, given back or failed (:mod:`server.agents.store`), CryptoARM checks which of them are
still open. The reads that join the agents' and CryptoARM's tables only ask who holds a job right now.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlite_utils import Database

from server.db import inserted_id

OPEN = ("pending", "delivered")


class JobState(msgspec.Struct, kw_only=True, frozen=True):
    """Where a job stands: whose and which step's it is, and whether it is still open."""

    id: int
    document_id: int
    step_id: int
    user_id: int
    channel: str
    status: str
    error: str


def state(db: Database, job_id: int) -> JobState | None:
    row = db.execute(
        "SELECT id, document_id, step_id, user_id, channel, status, error FROM jobs WHERE id = ?", [job_id]
    ).fetchone()
    return (
        JobState(
            id=row[0], document_id=row[1], step_id=row[2], user_id=row[3], channel=row[4], status=row[5], error=row[6]
        )
        if row
        else None
    )


def status(db: Database, job_id: int) -> str | None:
    row = db.execute("SELECT status FROM jobs WHERE id = ?", [job_id]).fetchone()
    return str(row[0]) if row else None


def holding_agent_name(db: Database, job_id: int) -> str | None:
    """The name of the agent that last acknowledged the job (None when none did)."""
    row = db.execute(
        "SELECT a.name FROM job_deliveries d JOIN agents a ON a.id = d.agent_id WHERE d.job_id = ?"
        " AND d.acked_at IS NOT NULL ORDER BY d.id DESC LIMIT 1",
        [job_id],
    ).fetchone()
    return str(row[0]) if row else None


def held_by_cryptoarm(db: Database, job_id: int, now: str) -> bool:
    """A live CryptoARM transaction over this job whose parameters the app has fetched."""
    return (
        db.execute(
            "SELECT 1 FROM cryptoarm_transactions t WHERE t.kind = 'job' AND t.state = 'parameters_sent'"
            " AND t.expires_at > ? AND EXISTS (SELECT 1 FROM json_each(t.targets) WHERE value = ?)",
            [now, job_id],
        ).fetchone()
        is not None
    )


def in_progress(db: Database, user_id: int, now: str, *, limit: int = 200) -> list[int]:
    """The user's open jobs a channel is working on or will pick up by itself, oldest first: every open agent
    job (``any`` or ``agent``: an agent takes it when it is online) and a CryptoARM job while a link to it is
    live (``open`` or ``parameters_sent``, not expired). A CryptoARM job whose run was cancelled or expired only
    waits for the signer, like a document nobody has started signing."""
    return [
        int(r[0])
        for r in db.execute(
            "SELECT j.id FROM jobs j WHERE j.user_id = ? AND j.status IN ('pending', 'delivered') AND ("
            "j.channel IN ('any', 'agent') OR (j.channel = 'cryptoarm' AND EXISTS (SELECT 1 FROM"
            " cryptoarm_transactions t WHERE t.kind = 'job' AND t.state IN ('open', 'parameters_sent')"
            " AND t.expires_at > ? AND EXISTS (SELECT 1 FROM json_each(t.targets) WHERE value = j.id))))"
            " ORDER BY j.id LIMIT ?",
            [user_id, now, limit],
        ).fetchall()
    ]


def open_of_step(db: Database, step_id: int) -> tuple[int, str] | None:
    """(job id, channel) of the step's open job."""
    row = db.execute(
        "SELECT id, channel FROM jobs WHERE step_id = ? AND status IN ('pending', 'delivered')", [step_id]
    ).fetchone()
    return (int(row[0]), str(row[1])) if row else None


def open_among(db: Database, job_ids: Sequence[int], *, user_id: int) -> list[int]:
    """Those of ``job_ids`` that are the user's and still open."""
    marks = ",".join("?" * len(job_ids))
    return [
        int(r[0])
        for r in db.execute(
            f"SELECT id FROM jobs WHERE id IN ({marks}) AND user_id = ? AND status IN ('pending', 'delivered')",
            [*job_ids, user_id],
        ).fetchall()
    ]


def document_of(db: Database, job_id: int) -> int | None:
    row = db.execute("SELECT document_id FROM jobs WHERE id = ?", [job_id]).fetchone()
    return int(row[0]) if row else None


def document_title(db: Database, job_id: int) -> str:
    return str(
        db.execute(
            "SELECT d.title FROM jobs j JOIN documents d ON d.id = j.document_id WHERE j.id = ?", [job_id]
        ).fetchone()[0]
    )


# -- writes -----------------------------------------------------------------------------------------------


def insert(db: Database, *, document_id: int, step_id: int, user_id: int, channel: str, now: str) -> int:
    cur = db.execute(
        "INSERT INTO jobs (document_id, step_id, user_id, channel, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
        [document_id, step_id, user_id, channel, now, now],
    )
    return inserted_id(cur)


def cancel(db: Database, job_id: int, *, error: str, now: str) -> None:
    db.execute("UPDATE jobs SET status = 'cancelled', error = ?, updated_at = ? WHERE id = ?", [error, now, job_id])


def done_for_step(db: Database, step_id: int, now: str) -> None:
    """The step is signed: its open job is done."""
    db.execute(
        "UPDATE jobs SET status = 'done', updated_at = ? WHERE step_id = ? AND status IN ('pending', 'delivered')",
        [now, step_id],
    )


def close_done(db: Database, job_id: int, *, user_id: int, step_id: int, now: str) -> bool:
    """A job of ``user_id`` for ``step_id`` whose signature was accepted after it closed -> ``done``; False when it
    already was (or is not theirs, or another step's)."""
    return bool(
        db.execute(
            "UPDATE jobs SET status = 'done', updated_at = ? WHERE id = ? AND user_id = ? AND step_id = ?"
            " AND status != 'done'",
            [now, job_id, user_id, step_id],
        ).rowcount
    )


def cancel_open_of_document(db: Database, document_id: int, now: str) -> None:
    """The document left signing (rejected, withdrawn): every open job of it is cancelled."""
    db.execute(
        "UPDATE jobs SET status = 'cancelled', updated_at = ? WHERE document_id = ? AND status IN"
        " ('pending', 'delivered')",
        [now, document_id],
    )


def mark_delivered(db: Database, job_id: int, now: str) -> None:
    """An agent acknowledged the job: ``pending`` -> ``delivered``."""
    db.execute(
        "UPDATE jobs SET status = 'delivered', updated_at = ? WHERE id = ? AND status = 'pending'", [now, job_id]
    )


def release(db: Database, job_id: int, delivery_id: int, now: str) -> int:
    """``delivered`` -> ``pending``, unless the job was offered again since ``delivery_id``; 1 if released."""
    return db.execute(
        "UPDATE jobs SET status = 'pending', updated_at = ? WHERE id = ? AND status = 'delivered' AND NOT EXISTS"
        " (SELECT 1 FROM job_deliveries WHERE job_id = ? AND id > ?)",
        [now, job_id, job_id, delivery_id],
    ).rowcount


def release_all(db: Database, now: str) -> int:
    return db.execute("UPDATE jobs SET status = 'pending', updated_at = ? WHERE status = 'delivered'", [now]).rowcount


def fail(db: Database, job_id: int, *, user_id: int, error: str, now: str) -> bool:
    """An open job of ``user_id`` -> ``failed``; False when it was not open (or not theirs)."""
    cur = db.execute(
        "UPDATE jobs SET status = 'failed', error = ?, updated_at = ? WHERE id = ? AND user_id = ?"
        " AND status IN ('pending', 'delivered')",
        [error, now, job_id, user_id],
    )
    return bool(cur.rowcount)
