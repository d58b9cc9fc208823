"""Automatic reminders to the internal signer whose turn it is: the day before the deadline and on the day itself.

It changes when when or to whom those reminders go changes. The deadline is the document's own (``deadline``,
set when it is sent: the day the author picked in the create form, else ``[workflow] counterparty_days``), and it
holds for the company's signers as much as for the counterparty. Days are the portal's (``[portal] timezone``): a
document due on the 21st in Moscow reminds on the 20th and the 21st there, from ``internal_reminder_hour``.

Each reminder is a Bitrix24 notification through the outbox (the ``b24.notify`` effect) whose dedupe key is
(document, step, signer, which reminder), written with its audit row in one transaction after the document and
its current step are read again: so every reminder goes once, also across restarts and overlapping rounds, and
none goes once the step is signed or the document has ended. The clock is injectable, so a test moves it.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.config import Settings
from server.db import Database, audit
from server.text import portal_zone
from server.worker_loop import run_rounds

from . import effects, reminder_store, store
from .docstate import DocState

log = logging.getLogger(__name__)

DAY_BEFORE, DUE_DAY = "day_before", "due_day"


def which_reminder(deadline: str, now: datetime, zone: ZoneInfo, enabled: Iterable[str], hour: int) -> str | None:
    """The reminder due at ``now`` for a document due at ``deadline`` (UTC ISO), if any: ``day_before`` on the
    portal's day before the deadline's day, ``due_day`` on that day, each from ``hour`` o'clock there."""
    local = now.astimezone(zone)
    if local.hour < hour:
        return None
    due = datetime.fromisoformat(deadline).astimezone(zone).date()
    today = local.date()
    wanted = set(enabled)
    if today == due - timedelta(days=1) and DAY_BEFORE in wanted:
        return DAY_BEFORE
    if today == due and DUE_DAY in wanted and now < datetime.fromisoformat(deadline):
        return DUE_DAY
    return None


def _text(which: str, title: str, due: date) -> str:
    if which == DAY_BEFORE:
        return (
            f"Напоминание: завтра, {due:%d.%m.%Y}, истекает срок подписания документа «{title}». "
            "Документ ждёт вашей подписи."
        )
    return (
        f"Напоминание: сегодня, {due:%d.%m.%Y}, истекает срок подписания документа «{title}». "
        "Документ ждёт вашей подписи."
    )


def enqueue(db: Any, *, document_id: int, step_id: int, which: str, now: datetime, zone: ZoneInfo) -> bool:
    """Queue one reminder if the document still waits for that step's signer; whether it was queued now (False
    when it has gone before: the outbox's dedupe key)."""
    doc = store.document_row(db, document_id)
    step = store.current_step(db, document_id)
    if doc is None or doc.state != DocState.AWAITING_INTERNAL or step is None or step.id != step_id:
        return False
    if step.kind != "internal" or not step.user_id or not doc.deadline:
        return False
    due = datetime.fromisoformat(doc.deadline).astimezone(zone).date()
    queued = effects.notify_signer(
        db,
        step.user_id,
        _text(which, doc.title, due),
        doc=doc,
        key=f"doc:{document_id}:auto-remind:{step_id}:{step.user_id}:{which}",
    )
    if not queued:
        return False
    audit.append(
        db,
        actor="system",
        action="document.auto_reminded",
        object_type="document",
        object_id=document_id,
        details={
            "title": doc.title,
            "state": doc.state,
            "signer": step.user_id,
            "which": which,
            "deadline": doc.deadline,
            "at": now.isoformat(timespec="seconds"),
        },
    )
    return True


class Reminders:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        wake_outbox: Callable[[], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.db = db
        self.wake_outbox = wake_outbox
        self.clock = clock
        self.zone = portal_zone(settings.portal.timezone)
        self._wake = asyncio.Event()  # nothing wakes it: reminders fall due with time, not with commits

    async def remind_once(self) -> int:
        """Queue every reminder due now; how many were queued."""
        wf = self.settings.workflow
        if not wf.internal_reminders:
            return 0
        now = self.clock()
        waiting = await self.db.read(reminder_store.waiting_internal)
        queued = 0
        for w in waiting:
            which = which_reminder(w.deadline, now, self.zone, wf.internal_reminders, wf.internal_reminder_hour)
            if which is None:
                continue
            if await self.db.write(
                functools.partial(
                    enqueue, document_id=w.document_id, step_id=w.step_id, which=which, now=now, zone=self.zone
                )
            ):
                queued += 1
        if queued:
            self.wake_outbox()
        return queued

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds(
            self._round,
            wake=self._wake,
            stop=stop,
            poll_seconds=self.settings.workflow.reminder_scan_seconds,
            log=log,
            what="internal reminders",
        )

    async def _round(self) -> int:
        # Never busy: a round handles everything due now, and the next one is due only when time has moved.
        await self.remind_once()
        return 0
