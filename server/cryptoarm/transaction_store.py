"""SQL for the ``cryptoarm_transactions`` table: one row per cryptoarm:// link, looked up by the hashes of its id
and of its file access token, and moved ``open`` → ``parameters_sent`` → a final state, each step at most once.

Minting the secrets, the audit rows and the refusals are :mod:`.transactions`' business; this module only stores.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlite_utils import Database

from server.db import inserted_id


def iso(moment: datetime) -> str:
    return moment.isoformat(timespec="seconds")


class Txn(msgspec.Struct, kw_only=True):
    id: int
    kind: str
    targets: list[int]
    user_id: int | None
    agent_id: int | None
    state: str
    created_at: str
    expires_at: str
    files: list[list[Any]]  # [key, name, size] as offered
    outcome: dict[str, Any]
    sealed: dict[str, str]  # the transaction's secret, sealed (server.cryptoarm.sealing); {} once finished
    secret: bytes | None = None  # that secret opened, by the lookup that had the id or the token

    @property
    def expired(self) -> bool:
        return self.expires_at < iso(datetime.now(UTC))


_COLUMNS = "id, kind, targets, user_id, agent_id, state, created_at, expires_at, files, outcome, sealed"


def _txn(row: Any) -> Txn:
    return Txn(
        id=row[0],
        kind=row[1],
        targets=json.loads(row[2]),
        user_id=row[3],
        agent_id=row[4],
        state=row[5],
        created_at=row[6],
        expires_at=row[7],
        files=json.loads(row[8]),
        outcome=json.loads(row[9] or "{}"),
        sealed=json.loads(row[10] or "{}"),
    )


def insert(
    db: Database,
    *,
    txn_hash: str,
    kind: str,
    targets: list[int],
    user_id: int | None,
    agent_id: int | None,
    created_at: str,
    expires_at: str,
    sealed: dict[str, str] | None = None,
) -> int:
    """A new ``open`` transaction; its file token is not issued yet (a placeholder that no digest can match)."""
    cur = db.execute(
        "INSERT INTO cryptoarm_transactions (txn_hash, token_hash, kind, targets, user_id, agent_id, created_at,"
        " expires_at, sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            txn_hash,
            "unissued:" + txn_hash,
            kind,
            json.dumps(targets),
            user_id,
            agent_id,
            created_at,
            expires_at,
            json.dumps(sealed or {}),
        ],
    )
    return inserted_id(cur)


def by_row(db: Database, row_id: int) -> Txn | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM cryptoarm_transactions WHERE id = ?", [row_id]).fetchone()
    return _txn(row) if row else None


def latest_for(db: Database, kind: str, targets: list[int]) -> Txn | None:
    """The newest transaction of ``kind`` over exactly ``targets`` (a counterparty link's latest CryptoARM run)."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM cryptoarm_transactions WHERE kind = ? AND targets = ? ORDER BY id DESC LIMIT 1",
        [kind, json.dumps(targets)],
    ).fetchone()
    return _txn(row) if row else None


def by_txn_hash(db: Database, txn_hash: str) -> Txn | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM cryptoarm_transactions WHERE txn_hash = ?", [txn_hash]).fetchone()
    return _txn(row) if row else None


def by_token_hash(db: Database, token_hash: str) -> Txn | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM cryptoarm_transactions WHERE token_hash = ?", [token_hash]).fetchone()
    return _txn(row) if row else None


def set_parameters_sent(
    db: Database,
    row_id: int,
    *,
    token_hash: str,
    files: list[list[Any]],
    now: str,
    sealed: dict[str, str] | None = None,
) -> bool:
    """``open`` → ``parameters_sent`` with the file token's hash, unless used or expired already; ``sealed``
    (when given) replaces the sealed secret (the copy for the token joins the copy for the id)."""
    cur = db.execute(
        "UPDATE cryptoarm_transactions SET state = 'parameters_sent', token_hash = ?, files = ?,"
        " sealed = coalesce(?, sealed) WHERE id = ? AND state = 'open' AND expires_at > ?",
        [
            token_hash,
            json.dumps(files, ensure_ascii=False),
            json.dumps(sealed) if sealed is not None else None,
            row_id,
            now,
        ],
    )
    return bool(cur.rowcount)


def set_finished(db: Database, row_id: int, *, state: str, outcome: dict[str, Any], now: str) -> bool:
    """``parameters_sent`` → ``state``; False when it was finished already."""
    cur = db.execute(
        "UPDATE cryptoarm_transactions SET state = ?, finished_at = ?, outcome = ?, sealed = '{}' WHERE id = ?"
        " AND state = 'parameters_sent'",
        [state, now, json.dumps(outcome, ensure_ascii=False), row_id],
    )
    return bool(cur.rowcount)


def set_outcome(db: Database, row_id: int, outcome: dict[str, Any]) -> None:
    db.execute(
        "UPDATE cryptoarm_transactions SET outcome = ? WHERE id = ?", [json.dumps(outcome, ensure_ascii=False), row_id]
    )


def set_withdrawn(db: Database, row_id: int, *, user_id: int, outcome: dict[str, Any], now: str) -> bool:
    """The user's own unfinished transaction → ``cancelled`` (from the page, before the app sent anything back)."""
    cur = db.execute(
        "UPDATE cryptoarm_transactions SET state = 'cancelled', finished_at = ?, outcome = ?, sealed = '{}'"
        " WHERE id = ? AND user_id = ? AND state IN ('open', 'parameters_sent')",
        [now, json.dumps(outcome, ensure_ascii=False), row_id, user_id],
    )
    return bool(cur.rowcount)


class JobRun(msgspec.Struct, kw_only=True):
    """A "job" transaction of one user as the waiting page needs it: its state, its jobs and what was refused."""

    state: str
    job_ids: list[int]
    refused: dict[str, str]  # job id (as text) -> the refusal message of one of its files


def job_runs(db: Database, user_id: int, *, limit: int = 500) -> list[JobRun]:
    """The user's latest CryptoARM runs of kind "job", newest first.

    A run is ``completed`` as soon as its results arrive, before they are checked and the jobs closed (another
    transaction, later): until its outcome is recorded it reads ``receiving``, else a page polling just then took
    a job still open under a completed run for a refused signature and stopped watching a run that succeeded."""
    runs = []
    for state, targets, outcome in db.execute(
        "SELECT state, targets, outcome FROM cryptoarm_transactions WHERE kind = 'job' AND user_id = ?"
        " ORDER BY id DESC LIMIT ?",
        [user_id, limit],
    ).fetchall():
        recorded = json.loads(outcome or "{}")
        refused = {
            str(r.get("key", "")).split(".")[0]: str(r.get("message", ""))
            for r in recorded.get("refused", [])
            if isinstance(r, dict)
        }
        if state == "completed" and "accepted" not in recorded:
            state = "receiving"
        runs.append(JobRun(state=state, job_ids=[int(j) for j in json.loads(targets or "[]")], refused=refused))
    return runs
