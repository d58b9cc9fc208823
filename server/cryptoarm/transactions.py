"""CryptoARM transactions: minting, single-use state steps and expiry (their SQL is in :mod:`.transaction_store`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from server.agents import tokens
from server.db import Database as KlikDatabase
from server.db import audit
from server.workflow import job_store, jobs

from . import sealing, transaction_store
from .transaction_store import Txn


class TransactionRefused(Exception):
    """A transaction cannot be made or used; ``code`` is stable, the message is for people."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


_iso = transaction_store.iso


def link(public_url: str, txn_id: str) -> str:
    """The cryptoarm:// link that starts the app (the URL after the command is the JSON-RPC endpoint)."""
    return f"cryptoarm://signAndEncrypt/{command_url(public_url, txn_id)}"


def command_url(public_url: str, txn_id: str) -> str:
    return f"{public_url.rstrip('/')}/cryptoarm/json?id={txn_id}"


def create(
    db: Database,
    *,
    kind: str,
    targets: list[int],
    minutes: int,
    user_id: int | None = None,
    agent_id: int | None = None,
    actor: str = "system",
    secret: bytes | None = None,
) -> tuple[str, Txn]:
    """Mint a transaction (inside the caller's write); returns (the plain id for the link, the row).

    ``secret``: what the kind's files are made from when it must not be stored in clear (a registration
    challenge); it is kept sealed under the id (:mod:`.sealing`) and comes back as ``Txn.secret``.
    """
    txn_id = tokens.new_transaction_id()
    moment = datetime.now(UTC)
    sealed = {"id": sealing.seal("id", txn_id, secret)} if secret is not None else None
    row_id = transaction_store.insert(
        db,
        txn_hash=tokens.digest("txn:" + txn_id),
        kind=kind,
        targets=targets,
        user_id=user_id,
        agent_id=agent_id,
        created_at=_iso(moment),
        expires_at=_iso(moment + timedelta(minutes=minutes)),
        sealed=sealed,
    )
    audit.append(
        db,
        actor=actor,
        action="cryptoarm.transaction",
        object_type="cryptoarm",
        object_id=row_id,
        details={"kind": kind, "targets": targets},
    )
    found = by_row(db, row_id)
    assert found is not None
    found.secret = secret
    return txn_id, found


def by_row(db: Database, row_id: int) -> Txn | None:
    return transaction_store.by_row(db, row_id)


def _opened(txn: Txn | None, purpose: str, secret: str) -> Txn | None:
    """The row with its sealed secret opened by the value that found it (a damaged copy opens as nothing)."""
    if txn is not None and purpose in txn.sealed:
        try:
            txn.secret = sealing.open_sealed(purpose, secret, txn.sealed[purpose])
        except sealing.Unsealable:
            txn.secret = None
    return txn


def by_id(db: Database, txn_id: str) -> Txn | None:
    if not txn_id or len(txn_id) > 200:
        return None
    return _opened(transaction_store.by_txn_hash(db, tokens.digest("txn:" + txn_id)), "id", txn_id)


def by_token(db: Database, token: str) -> Txn | None:
    if not token or len(token) > 200:
        return None
    return _opened(transaction_store.by_token_hash(db, tokens.digest("tok:" + token)), "token", token)


def issue_parameters(db: Database, row_id: int, files: list[list[Any]], *, secret: bytes | None = None) -> str | None:
    """``open`` → ``parameters_sent`` once, with a fresh file access token (returned; None if already used).

    ``secret`` (the transaction's, opened by its id) is sealed once more under the new token: the file
    downloads present only the token."""
    token = tokens.new_access_token()
    sealed = None
    if secret is not None:
        row = transaction_store.by_row(db, row_id)
        sealed = {**(row.sealed if row else {}), "token": sealing.seal("token", token, secret)}
    issued = transaction_store.set_parameters_sent(
        db,
        row_id,
        token_hash=tokens.digest("tok:" + token),
        files=files,
        now=_iso(datetime.now(UTC)),
        sealed=sealed,
    )
    return token if issued else None


def finish(db: Database, row_id: int, state: str, outcome: dict[str, Any] | None = None) -> bool:
    """``parameters_sent`` → a final state once (results or a cancel); False when it was already finished."""
    finished = transaction_store.set_finished(
        db, row_id, state=state, outcome=outcome or {}, now=_iso(datetime.now(UTC))
    )
    if finished:
        audit.append(
            db,
            actor="cryptoarm",
            action=f"cryptoarm.{state}",
            object_type="cryptoarm",
            object_id=row_id,
            details=outcome or {},
        )
    return finished


def record_outcome(db: Database, row_id: int, outcome: dict[str, Any]) -> None:
    transaction_store.set_outcome(db, row_id, outcome)


def withdraw(db: Database, row_id: int, *, user_id: int) -> bool:
    """The user ends their own unfinished transaction from the page (audited); False if it is not theirs,
    or finished already. The link is dead afterwards: every later step finds it used."""
    outcome = {"status": "Withdrawn"}
    withdrawn = transaction_store.set_withdrawn(
        db, row_id, user_id=user_id, outcome=outcome, now=_iso(datetime.now(UTC))
    )
    if withdrawn:
        audit.append(
            db,
            actor=f"user:{user_id}",
            action="cryptoarm.withdrawn",
            object_type="cryptoarm",
            object_id=row_id,
            details=outcome,
        )
    return withdrawn


def refusal_for(txn: Txn | None, *, for_state: str) -> TransactionRefused | None:
    """Why ``txn`` cannot take the next step (unknown, not started yet, used, expired), or None."""
    if txn is None:
        return TransactionRefused("unknown_transaction", "Транзакция не найдена.")
    if txn.state == "open" and for_state != "open":  # results or a cancel before the parameters were asked
        return TransactionRefused(
            "transaction_not_started",
            "Транзакция ещё не начата: КриптоАРМ ГОСТ не запрашивал её параметры (signAndEncrypt.parameters).",
        )
    if txn.state != for_state:
        return TransactionRefused("transaction_used", "Транзакция уже использована.")
    if txn.expired:
        return TransactionRefused("transaction_expired", "Срок действия транзакции истёк.")
    return None


async def open_for_jobs(
    db: KlikDatabase, *, public_url: str, minutes: int, user_id: int, job_ids: list[int], agent_id: int | None = None
) -> str:
    """A transaction of kind "job" over the user's open jobs; returns the cryptoarm:// link.

    Takes the database and the two settings it needs rather than the services: the agent hub calls it, and
    the hub is one of those services.
    """
    ids = list(dict.fromkeys(int(j) for j in job_ids))
    if not ids or len(ids) > 200:
        raise TransactionRefused("bad_jobs", "Укажите от 1 до 200 заданий.")

    def write(d: Database) -> str:
        if len(job_store.open_among(d, ids, user_id=user_id)) != len(ids):
            raise TransactionRefused("jobs_not_open", "Задания не найдены или уже закрыты.")
        if agent_id is None:  # the page's own link: not for a job an agent is signing right now
            for job_id in ids:
                held = jobs.holder(d, job_id)
                if held is not None and held.channel == "agent":
                    title = job_store.document_title(d, job_id)
                    raise TransactionRefused("job_in_flight", jobs.busy_message(title, held))
        txn_id, _ = create(
            d,
            kind="job",
            targets=ids,
            minutes=minutes,
            user_id=user_id,
            agent_id=agent_id,
            actor=f"agent:{agent_id}" if agent_id else f"user:{user_id}",
        )
        return txn_id

    txn_id = await db.write(write)
    return link(public_url, txn_id)
