"""Delivers the counterparty e-mails queued in the outbox (kinds ``mail.*``), in its own lane.

Separate from the workflow's Bitrix24 worker on purpose: a slow or dead mail relay must not hold up portal
notifications, and the reverse. It claims only the ``mail.*`` kinds with the workflow's ``claim`` (same claim
semantics: ``sending`` in its own transaction, back to ``pending`` after a crash), composes each letter from
the current state at send time (a reminder for a link that was revoked meanwhile is dropped, not sent), and:
- on success marks the message delivered and the link's ``mail_status`` ``sent``;
- on a temporary failure (relay down, 4xx) reschedules it with exponential backoff from ``[smtp]``;
- on a bounce (5xx), a letter that cannot be built (:class:`.messages.Unbuildable`: stored values no header
  can carry) or after ``max_attempts`` gives up: the link shows ``failed``, the document's history records it,
  the author gets a Bitrix24 notification and the CRM card a timeline comment.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
from sqlite_utils import Database as SqliteDb

from cades.result import VerificationResult
from server.config import Settings
from server.counterparty import links, tokens
from server.counterparty.link_store import LinkRow
from server.db import Database, audit, outbox
from server.db.outbox import OutboxMessage
from server.foreground import Foreground
from server.text import local_time, one_line
from server.text import title as clean_title
from server.worker_loop import run_rounds
from server.workflow import effects, signature_store, store
from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow

from . import messages
from .smtp import MailFailure, PermanentFailure, SmtpSender

log = logging.getLogger(__name__)

PackageSource = Callable[[int], Any]  # async (document_id) -> (name, bytes)


class Skip(Exception):
    """Nothing to send any more (the link was revoked, the document moved on)."""


class MailWorker:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        sender: SmtpSender,
        *,
        link_key: bytes,
        package: PackageSource,
        sender_company: Callable[[SqliteDb, int], str],
        wake_portal: Callable[[], None] = lambda: None,
        foreground: Foreground | None = None,
    ) -> None:
        self.settings = settings
        self.foreground = foreground
        self.db = db
        self.sender = sender
        self.link_key = link_key
        self.package = package
        self.sender_company = sender_company
        self.wake_portal = wake_portal
        self._event = asyncio.Event()

    def wake(self) -> None:
        self._event.set()

    def backoff(self, attempts: int) -> timedelta:
        s = self.settings.smtp
        return timedelta(seconds=min(s.retry_max_seconds, s.retry_base_seconds * 2 ** max(0, attempts - 1)))

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds(
            self.deliver_once,
            wake=self._event,
            stop=stop,
            poll_seconds=self.settings.smtp.poll_seconds,
            log=log,
            what="mail",
            foreground=self.foreground,
        )

    async def deliver_once(self, limit: int = 10) -> int:
        batch = await self.db.write(lambda d: outbox.claim_due(d, limit, kinds=links.MAIL_KINDS))
        for message in batch:
            await self._deliver(message)
        return len(batch)

    async def _deliver(self, message: OutboxMessage) -> None:
        link_id = int(message.payload["link_id"])
        try:
            outgoing = await self._compose(message)
        except Skip as why:
            reason = str(why)
            await self.db.write(lambda d: self._skipped(d, message, reason))
            return
        except messages.Unbuildable as exc:
            # Retrying cannot help: the same stored values would fail the same way on every round.
            problem = f"не удалось составить письмо: {exc.message}"
            log.warning("cannot build %s %s: %s", message.kind, message.id, exc.message)
            await self._fail(message, link_id, problem, permanent=True)
            return
        except Exception as exc:  # e.g. the portal is down while building the package
            problem = f"не удалось подготовить письмо: {type(exc).__name__}"
            log.warning("cannot compose %s: %s", message.kind, type(exc).__name__)
            await self._fail(message, link_id, problem, permanent=False, link_status=False)
            return
        try:
            await asyncio.to_thread(self.sender.send, outgoing)
        except MailFailure as failure:
            log.warning("mail %s not delivered (attempt %d): %s", message.id, message.attempts, failure.message)
            await self._fail(message, link_id, failure.message, permanent=isinstance(failure, PermanentFailure))
            return
        await self.db.write(lambda d: self._delivered(d, message, link_id, outgoing.to))

    async def _fail(
        self, message: OutboxMessage, link_id: int, text: str, *, permanent: bool, link_status: bool = True
    ) -> None:
        """A bounce, a letter that cannot be built, or ``max_attempts`` used up: given up, and everyone told;
        otherwise tried again after the backoff."""
        if permanent or message.attempts >= self.settings.smtp.max_attempts:
            await self.db.write(lambda d: self._gave_up(d, message, link_id, text))
            self.wake_portal()
        else:
            await self.db.write(lambda d: self._retry(d, message, link_id if link_status else None, text))

    # -- composing ----------------------------------------------------------------------------------------

    async def _compose(self, message: OutboxMessage) -> messages.Outgoing:
        link_id = int(message.payload["link_id"])

        def read(d: SqliteDb) -> tuple[LinkRow, DocumentRow, list[str], str]:
            link = links.link_by_id(d, link_id)
            doc = store.document_row(d, int(message.payload["document_id"]))
            if link is None or doc is None:
                raise Skip("ссылка или документ не найдены")
            files = [f.name for f in store.files(d, doc.id)]
            return link, doc, files, self.sender_company(d, doc.id)

        link, doc, files, company = await self.db.read(read)
        if message.kind == links.MAIL_WITHDRAWAL and doc.state != DocState.WITHDRAWN:
            raise Skip("документ не отозван")
        if message.kind in (links.MAIL_INVITATION, links.MAIL_REMINDER):
            if link.revoked_at:
                raise Skip("ссылка уже отозвана")
            if doc.state != DocState.AWAITING_COUNTERPARTY:
                raise Skip("документ больше не ждёт контрагента")
            if message.kind == links.MAIL_REMINDER and link.answered_at:
                raise Skip("контрагент уже ответил")
        token = tokens.derive(self.link_key, link.nonce)
        base = self.settings.server.public_url.rstrip("/")
        letter = messages.Letter(
            to=link.recipient_email,
            to_name=link.recipient_name,
            sender=self.settings.smtp.sender,
            sender_company=company,
            author_name=doc.author_name,
            title=doc.title,
            files=files,
            deadline=local_time(links.link_deadline(link, doc), self.settings.portal.timezone),
            link=f"{base}/c/{token}",
            outbox_id=message.id,
            message=doc.message,
        )
        if message.kind == links.MAIL_INVITATION:
            return messages.render(messages.invitation(letter))
        if message.kind == links.MAIL_REMINDER:
            return messages.render(messages.reminder(letter, message.payload.get("days")))
        if message.kind == links.MAIL_WITHDRAWAL:
            # The link is dead by now: the letter carries none (the old one opens a page that says the same).
            letter = messages.Letter(**{**letter.__dict__, "link": ""})
            return messages.render(messages.withdrawal(letter, doc.reason))
        name, data = await self.package(doc.id)
        limit = self.settings.counterparty.package_in_email_max_mb * 1024 * 1024
        package = (name, data) if len(data) <= limit else None
        letter = messages.Letter(**{**letter.__dict__, "link": f"{base}/c/{token}/package"})
        verdicts = await self.db.read(lambda d: _verdicts(d, doc.id))
        return messages.render(messages.confirmation(letter, package, verdicts))

    # -- outcomes (each one write transaction) ------------------------------------------------------------

    def _delivered(self, d: SqliteDb, message: OutboxMessage, link_id: int, to: str) -> None:
        outbox.mark_delivered(d, message.id)
        if message.kind == links.MAIL_INVITATION:
            links.mark_mail_sent(d, link_id)
        audit.append(
            d,
            actor="system",
            action="counterparty.email_sent",
            object_type="document",
            object_id=message.payload["document_id"],
            details={"kind": message.kind, "link_id": link_id, "to": to, "outbox_id": message.id},
        )

    def _skipped(self, d: SqliteDb, message: OutboxMessage, why: str) -> None:
        outbox.mark_skipped(d, message.id, f"не отправлено: {why}")

    def _retry(self, d: SqliteDb, message: OutboxMessage, link_id: int | None, error: str) -> None:
        outbox.retry_at(d, message.id, error, datetime.now(UTC) + self.backoff(message.attempts))
        if link_id is not None and message.kind == links.MAIL_INVITATION:
            links.mark_mail_retrying(d, link_id, error)

    def _gave_up(self, d: SqliteDb, message: OutboxMessage, link_id: int, error: str) -> None:
        outbox.give_up(d, message.id, error)
        if message.kind != links.MAIL_WITHDRAWAL:  # the withdrawn link keeps what its invitation's delivery was
            links.mark_mail_failed(d, link_id, error)
        doc = store.document_row(d, int(message.payload["document_id"]))
        link = links.link_by_id(d, link_id)
        if doc is None or link is None:
            return
        what = {
            links.MAIL_INVITATION: "Письмо со ссылкой на документ",
            links.MAIL_REMINDER: "Напоминание",
            links.MAIL_CONFIRMATION: "Подтверждение с подписанным комплектом",
            links.MAIL_WITHDRAWAL: "Письмо об отзыве документа",
        }[message.kind]
        text = (
            f"{what} для контрагента ({one_line(link.recipient_email, 254)}) по документу "
            f"«{clean_title(doc.title)}» не доставлено: {error}"
        )
        audit.append(
            d,
            actor="system",
            action="counterparty.email_failed",
            object_type="document",
            object_id=doc.id,
            details={
                "kind": message.kind,
                "link_id": link_id,
                "to": link.recipient_email,
                "error": error[:500],
                "outbox_id": message.id,
            },
        )
        effects.notify(
            d,
            doc.author_id,
            text
            + (
                ". Сообщите контрагенту об отзыве сами."
                if message.kind == links.MAIL_WITHDRAWAL
                else ". Проверьте адрес и отправьте ссылку заново."
            ),
            doc=doc,
            key=f"mail.failed:{message.id}",
        )
        effects.timeline(d, doc, f"KlikDok: {text}.", key=f"mail.failed.timeline:{message.id}")


def _verdicts(d: SqliteDb, document_id: int) -> list[messages.SignatureVerdict]:
    """Every accepted signature's headline, in the words of the report (cades.verdicts)."""
    names = {f.id: f.name for f in store.files(d, document_id)}
    out = []
    for row in signature_store.verdicts(d, document_id):
        result = msgspec.json.decode(row.verification, type=VerificationResult)
        signer = row.signer.get("common_name") or row.signer.get("organization") or "подписант"
        out.append(messages.SignatureVerdict.of(names.get(row.file_id, ""), str(signer), result))
    return out
