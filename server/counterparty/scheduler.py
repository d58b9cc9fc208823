"""The counterparty's clockwork: invitations, reminders, and links of withdrawn documents.

Runs every ``[counterparty] scan_seconds`` and whenever something wakes it (a signature was accepted, so a
document may just have reached the counterparty). Each finding is handled in its own write transaction that
re-checks the condition, so two rounds (or a crash between them) never issue two links or two reminders:
a document gets a link only while it has none, and a reminder's outbox dedupe key is (link, threshold).
Expiry itself is the workflow's (``Workflow.expire_loop``); an expired document's link stops working because
the page checks the document's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server.config import Settings
from server.db import Database, audit
from server.workflow import effects, store

from . import links

log = logging.getLogger(__name__)


class CounterpartyScheduler:
    def __init__(self, settings: Settings, db: Database, *, link_key: bytes, wake_mail: Callable[[], None],
                 wake_portal: Callable[[], None], clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.settings = settings
        self.db = db
        self.link_key = link_key
        self.wake_mail = wake_mail
        self.wake_portal = wake_portal
        self.clock = clock
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            self._event.clear()
            try:
                await self.scan_once()
            except Exception:  # noqa: BLE001 - the loop must outlive any one bad round
                log.exception("counterparty scan failed")
            waiter = asyncio.ensure_future(self._event.wait())
            stopper = asyncio.ensure_future(stop.wait())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.counterparty.scan_seconds):
                    await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            stopper.cancel()

    async def scan_once(self) -> dict[str, int]:
        now = self.clock()
        counts = {"invited": 0, "no_email": 0, "revoked": 0, "reminders": 0}
        for doc in await self.db.read(links.documents_without_link):
            outcome = await self.db.write(lambda d, doc=doc: self._invite(d, doc["id"], now))
            if outcome in counts:  # "gone": the document moved on between the read and the write
                counts[outcome] += 1
        for _link_id, doc_id, _state in await self.db.read(links.links_of_closed_documents):
            await self.db.write(lambda d, doc_id=doc_id: links.revoke_active(
                d, doc_id, reason="withdrawn", actor="system"))
            counts["revoked"] += 1
        due = await self.db.read(lambda d: links.due_reminders(d, self.settings.policy.reminder_days_before, now))
        for link_id, doc_id, days in due:
            if await self.db.write(lambda d, link_id=link_id, doc_id=doc_id, days=days: links.enqueue_reminder(
                    d, link_id, doc_id, days, actor="system", now=now)):
                counts["reminders"] += 1
        if counts["invited"] or counts["reminders"]:
            self.wake_mail()
        if counts["no_email"]:
            self.wake_portal()
        return counts

    def _invite(self, d: Any, document_id: int, now: datetime) -> str:
        doc = store.document_row(d, document_id)
        if doc is None or doc["state"] != "awaiting_counterparty":
            return "gone"
        if links.has_link_for_current_step(d, document_id):
            return "gone"
        email = (doc["counterparty_email"] or "").strip()
        if not links.valid_email(email):
            already = d.execute("SELECT 1 FROM audit_log WHERE object_type = 'document' AND object_id = ? AND"
                                " action = 'counterparty.no_email'", [str(document_id)]).fetchone()
            if not already:
                audit.append(d, actor="system", action="counterparty.no_email", object_type="document",
                             object_id=document_id, details={"email": email})
                effects.notify(d, doc["author_id"], f"Документ «{doc['title']}» подписан компанией, но у контрагента "
                               "нет адреса электронной почты. Укажите адрес и отправьте ссылку в карточке документа.",
                               doc=doc, key=f"counterparty.no_email:{document_id}")
            return "no_email"
        links.issue(d, document_id=document_id, recipient_email=email, recipient_name=doc["counterparty_name"] or "",
                    ttl_days=self.settings.policy.link_ttl_days, actor="system", key=self.link_key, now=now)
        effects.timeline(d, doc, f"KlikDok: документ «{doc['title']}» отправлен контрагенту на адрес {email}.",
                         key=f"counterparty.invited.timeline:{document_id}")
        return "invited"
