"""Signing jobs: where a job is being signed, handing a waiting job to another channel, the signer's cancel.

A job is *in flight* while a channel is working on it, and only then may it refuse to change hands:

- **agent**: status ``delivered``: an agent acknowledged the job and still holds it (the agents hub puts it
  back to ``pending`` when the agent gives it back, its connection ends, or the server starts);
- **cryptoarm**: a CryptoARM GOST transaction over the job whose parameters the app has fetched
  (``parameters_sent``) and that has not expired: the app holds the files and may post signatures any moment.
  A link that was minted but never opened by the app (``open``) does not hold the job.

A waiting job asked for on another channel is *moved*: it is closed (``cancelled``, error ``moved: <channel>``)
and a new job is opened for the new channel, in one transaction. A job id therefore never changes channel, so
whatever still refers to the old id (an unopened CryptoARM link, an offer racing the move, a late agent
result) finds it closed and the existing "job not open" refusals keep a document from being signed twice.

Every function runs inside the writer's transaction (``await db.write(fn)``) and writes its audit row there.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlite_utils import Database

from server.db import audit

from . import job_store
from .permissions import PermissionDenied
from .states import TransitionRefused
from .store import document_row, now_iso

OPEN = job_store.OPEN
CANCELLED_BY_SIGNER = "cancelled_by_signer: Подписание отменено подписантом."
CHANNEL_RU = {
    "agent": "агенту подписи",
    "cryptoarm": "в КриптоАРМ ГОСТ",
    "upload": "для загрузки файла подписи",
    "any": "любым способом",
}


@dataclass(frozen=True)
class Holder:
    """The channel that is signing a job right now (``agent_name`` for an agent, when it has one)."""

    channel: Literal["agent", "cryptoarm"]
    agent_name: str = ""


def busy_message(title: str, holder: Holder) -> str:
    """What the signer reads when they ask for a job another channel is signing."""
    if holder.channel == "agent":
        where = "агентом подписи" + (f" на компьютере «{holder.agent_name}»" if holder.agent_name else "")
        return (
            f"Документ «{title}» уже подписывается {where}. Дождитесь результата или отмените это "
            "подписание, чтобы подписать документ другим способом."
        )
    return (
        f"Документ «{title}» уже открыт для подписи в КриптоАРМ ГОСТ. Завершите подписание в программе или "
        "отмените его, чтобы подписать документ другим способом."
    )


class JobInFlight(TransitionRefused):
    """The job is being signed on another channel (code ``job_in_flight``); ``details`` says where."""

    def __init__(self, *, job_id: int, document_id: int, title: str, holder: Holder) -> None:
        super().__init__("job_in_flight", busy_message(title, holder))
        self.details: dict[str, Any] = {"job_id": job_id, "document_id": document_id, "in_flight": holder.channel}


def holder(db: Database, job_id: int) -> Holder | None:
    """Which channel holds the job now (see the module docstring), or None when it is only waiting."""
    status = job_store.status(db, job_id)
    if status is None or status not in OPEN:
        return None
    if status == "delivered":
        return Holder("agent", job_store.holding_agent_name(db, job_id) or "")
    now = datetime.now(UTC).isoformat(timespec="seconds")  # the transactions' own timestamp format
    return Holder("cryptoarm") if job_store.held_by_cryptoarm(db, job_id, now) else None


def _insert(db: Database, *, document_id: int, step_id: int, user_id: int, channel: str) -> int:
    return job_store.insert(
        db, document_id=document_id, step_id=step_id, user_id=user_id, channel=channel, now=now_iso()
    )


def request(db: Database, *, document_id: int, step_id: int, user_id: int, channel: str) -> int:
    """The open job of this step for ``channel``: opened, kept, or moved from a waiting one; its id.

    ``any`` takes the open job wherever it is. Raises :class:`JobInFlight` when another channel is signing it.
    """
    actor = f"user:{user_id}"
    row = job_store.open_of_step(db, step_id)
    if row is None:
        job_id = _insert(db, document_id=document_id, step_id=step_id, user_id=user_id, channel=channel)
        audit.append(
            db,
            actor=actor,
            action="job.created",
            object_type="document",
            object_id=document_id,
            details={"job_id": job_id, "channel": channel},
        )
        return job_id
    job_id, current = row
    if channel in ("any", current):
        return job_id
    busy = holder(db, job_id)
    if busy is not None:
        if busy.channel == channel:  # e.g. an "any" job an agent already holds, asked for on the agent
            return job_id
        doc = document_row(db, document_id)
        raise JobInFlight(
            job_id=job_id, document_id=document_id, title=doc.title if doc else str(document_id), holder=busy
        )
    job_store.cancel(db, job_id, error=f"moved: {channel}", now=now_iso())
    new_id = _insert(db, document_id=document_id, step_id=step_id, user_id=user_id, channel=channel)
    audit.append(
        db,
        actor=actor,
        action="job.moved",
        object_type="document",
        object_id=document_id,
        details={
            "job_id": new_id,
            "from_job_id": job_id,
            "from": current,
            "to": channel,
            "text": f"подписание передано {CHANNEL_RU.get(channel, channel)}",
        },
    )
    return new_id


def cancel(db: Database, *, job_id: int, user_id: int) -> bool:
    """The signer stops their own open job; the document keeps waiting for them. False if it was already cancelled.

    404 for an unknown job, 403 for someone else's (the API audits it), 409 for one already signed or failed.
    """
    row = job_store.state(db, job_id)
    if row is None:
        raise TransitionRefused("not_found", "Задание на подпись не найдено.")
    document_id, owner, channel, status, error = row.document_id, row.user_id, row.channel, row.status, row.error
    if owner != user_id:
        raise PermissionDenied("not_job_signer", "Отменить подписание может только тот, кому оно поручено.")
    if status == "cancelled" and error == CANCELLED_BY_SIGNER:
        return False
    if status not in OPEN:
        text = {
            "done": "документ уже подписан",
            "failed": "агент подписи уже сообщил об ошибке",
            "cancelled": "подписание уже снято",
        }.get(status, status)
        raise TransitionRefused("job_closed", f"Отменять нечего: {text}.")
    busy = holder(db, job_id)
    job_store.cancel(db, job_id, error=CANCELLED_BY_SIGNER, now=now_iso())
    audit.append(
        db,
        actor=f"user:{user_id}",
        action="job.cancelled",
        object_type="document",
        object_id=document_id,
        details={"job_id": job_id, "channel": channel, "in_flight": busy.channel if busy else ""},
    )
    return True
