"""The counterparty's clock: automatic reminders before the deadline.

Invitations are not here: the workflow's ``internal_signed`` listener (:mod:`.invitations`) issues the link in the
transaction that completes the company's part, and its ``withdraw`` listener revokes it. Expiry of the document
is the workflow's (:mod:`server.workflow.expiry`); an expired document's link stops working because the page checks
the document's state. What is left is time-driven: every ``[counterparty] scan_seconds`` the due reminders are
queued, each in its own write transaction whose outbox dedupe key is (link, threshold), so two rounds (or a
crash between them) never send the same reminder twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Callable
from datetime import UTC, datetime

from server.config import Settings
from server.db import Database
from server.worker_loop import run_rounds

from . import links

log = logging.getLogger(__name__)


class CounterpartyScheduler:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        wake_mail: Callable[[], None],
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.settings = settings
        self.db = db
        self.wake_mail = wake_mail
        self.clock = clock
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds(
            self._round,
            wake=self._event,
            stop=stop,
            poll_seconds=self.settings.counterparty.scan_seconds,
            log=log,
            what="counterparty scan",
        )

    async def _round(self) -> int:
        return (await self.scan_once())["reminders"]

    async def scan_once(self) -> dict[str, int]:
        now = self.clock()
        counts = {"reminders": 0}
        due = await self.db.read(lambda d: links.due_reminders(d, self.settings.policy.reminder_days_before, now))
        for link_id, doc_id, days in due:
            if await self.db.write(
                functools.partial(
                    links.enqueue_reminder, link_id=link_id, document_id=doc_id, days=days, actor="system", now=now
                )
            ):
                counts["reminders"] += 1
        if counts["reminders"]:
            self.wake_mail()
        return counts
