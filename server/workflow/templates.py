"""Documents made from the portal's document generator templates, one at a time or in bulk over many deals.

Why through the generator: the contract's number and its CRM data (requisites, amounts, the signatory) are the
portal's business; KlikDok takes the finished PDF and sends it like an uploaded file, through the same
:meth:`.intake.Intake.create`, so a templated document is in every way an ordinary one.

A bulk send must never make a second document for a deal, whatever dies when. Each (job, deal) row walks
``pending → generating → generated → done`` (or ``failed``, with the reason in Russian):

- before ``document.add`` the row records ``floor_id``, the newest generator document of that template and deal;
  if the answer to ``add`` is lost (a crash, a broken connection), the next attempt lists that template's
  documents of the deal above ``floor_id`` and adopts the first one no other row owns, instead of asking again;
- the generator document's id is recorded (``generated``) before the KlikDok document is made;
- the KlikDok document and ``done`` are one transaction (``Intake.create``'s ``in_transaction``).

A single «Создать из шаблона» keeps the same promise across the user's clicks: its attempt
(``template_attempts``) records the floor and then the generator document before the KlikDok document is made,
so a click after a crash, a lost answer or a PDF that was not ready yet sends the document the portal already
made instead of asking for a second one; the attempt is finished in the document's transaction.

The rows are worked one at a time in the limiter's bulk lane (:func:`server.bitrix24.limiter.bulk_lane`): the
portal's 2 requests per second are shared with people clicking in the portal, who go first.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cades import hashing
from server import crashpoints
from server.bitrix24 import Bitrix24Error, bulk_lane
from server.bitrix24.docgen import DocumentGenerator, GeneratedDocument, PdfNotReady, PdfTooLarge, Template
from server.bitrix24.entities import DEAL, kind_of
from server.bitrix24.errors import AccessDenied, InvalidArgument, NotFound
from server.config import Settings
from server.db import Database
from server.text import email_address

from . import bulk_store, template_attempt_store
from .directory import PortalDirectory
from .intake import Intake, Upload
from .states import TransitionRefused

log = logging.getLogger(__name__)

MAX_BULK = 500
MAX_ATTEMPTS = 8
PDF_WAIT_TRIES = 10
PDF_WAIT_SECONDS = 1.0
CHUNK = 256 * 1024


@dataclass(frozen=True)
class BulkRow:
    entity_id: int
    state: str
    document_id: int | None
    error: str


@dataclass(frozen=True)
class BulkStatus:
    id: int
    template_name: str
    total: int
    done: int
    failed: int
    finished: bool
    rows: list[BulkRow]


class Permanent(Exception):
    """This deal cannot get its document (no e-mail, the deal or the template is gone): the row fails."""


def _digest_file(path: Path) -> tuple[str, str]:
    h256, h512 = hashing.new("streebog256"), hashing.new("streebog512")
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            h256.update(chunk)
            h512.update(chunk)
    return h256.hexdigest(), h512.hexdigest()


class DocumentTemplates:
    def __init__(
        self, settings: Settings, db: Database, *, directory: PortalDirectory, intake: Intake, data_dir: Path
    ) -> None:
        self.settings = settings
        self.db = db
        self.directory = directory
        self.intake = intake
        self.spool = data_dir / "uploads"
        self._wake = asyncio.Event()
        # One click at a time per user, card and template: a double click must not adopt its twin's document.
        self._attempt_locks: dict[tuple[int, str, int, int], asyncio.Lock] = {}

    async def _generator(self) -> DocumentGenerator:
        return DocumentGenerator(await self.directory.client())

    async def templates(self, entity_type: str) -> list[Template]:
        """The templates the portal offers for this kind of card."""
        return await (await self._generator()).templates(kind_of(entity_type).type_id)

    async def _template(self, entity_type: str, template_id: int) -> Template:
        found = next((t for t in await self.templates(entity_type) if t.id == template_id), None)
        if found is None:
            raise TransitionRefused(
                "unknown_template", "Такого шаблона нет в генераторе документов портала для этой карточки."
            )
        return found

    @contextlib.asynccontextmanager
    async def _pdf(self, generated: GeneratedDocument) -> AsyncIterator[Upload]:
        """The generator document's PDF in a private temporary file, hashed; removed when the block ends."""
        self.spool.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = self.spool / f"tpl-{secrets.token_hex(8)}.pdf"
        try:
            size = await (await self._generator()).download_pdf(
                generated.id, path, max_bytes=self.settings.limits.max_upload_mb * 1024 * 1024
            )
            h256, h512 = await asyncio.to_thread(_digest_file, path)
            name = (generated.title or f"Документ {generated.number}").strip() + ".pdf"
            yield Upload(
                name=name, path=path, size=size, streebog256=h256, streebog512=h512, content_type="application/pdf"
            )
        finally:
            path.unlink(missing_ok=True)

    async def _ready(self, generated: GeneratedDocument, *, tries: int) -> GeneratedDocument:
        """The document once its PDF exists (the portal converts after ``add``), asking at most ``tries`` times."""
        gen = await self._generator()
        for attempt in range(tries):
            current = await gen.get(generated.id)
            if current.pdf_url:
                return current
            if attempt + 1 < tries:
                await asyncio.sleep(PDF_WAIT_SECONDS)
        raise PdfNotReady("crm.documentgenerator.document.get", "PDF_NOT_READY", "no PDF yet")

    async def create_from_template(
        self,
        user_id: int,
        *,
        entity_type: str,
        entity_id: int,
        template_id: int,
        signer_ids: Sequence[int] = (),
        counterparty_email: str = "",
        send: bool = True,
        due_date: str = "",
        message: str = "",
        contact_id: int | None = None,
        contact_email: str = "",
    ) -> int:
        """Make the document in the portal's generator and create (and send) the KlikDok document with its PDF."""
        await self._template(entity_type, template_id)
        # What would refuse the KlikDok document is checked before the portal makes its own: nothing left behind.
        if send and not signer_ids:
            raise TransitionRefused("no_signers", "Выберите хотя бы одного подписанта от компании.")
        await self.intake._signers(signer_ids)
        async with self._attempt_locks.setdefault((user_id, entity_type, entity_id, template_id), asyncio.Lock()):
            attempt, generated = await self._generate(user_id, entity_type, entity_id, template_id)
            async with self._pdf(generated) as upload:
                return await self.intake.create(
                    user_id,
                    entity_type=entity_type,
                    entity_id=entity_id,
                    title=generated.title,
                    uploads=[upload],
                    signer_ids=signer_ids,
                    counterparty_email=counterparty_email,
                    send=send,
                    due_date=due_date,
                    message=message,
                    contact_id=contact_id,
                    contact_email=contact_email,
                    in_transaction=lambda d, doc_id: template_attempt_store.record_document(d, attempt.id, doc_id),
                )

    async def _generate(
        self, user_id: int, entity_type: str, entity_id: int, template_id: int
    ) -> tuple[template_attempt_store.Attempt, GeneratedDocument]:
        """The generator document of this click: the one an unfinished earlier click of the user made for this card
        and template (the server died, or its PDF was not ready), else a new one, recorded before and after ``add``
        as a bulk row is."""
        kind = kind_of(entity_type)
        gen = await self._generator()
        key = (user_id, entity_type, entity_id, template_id)
        attempt = await self.db.read(lambda d: template_attempt_store.open_attempt(d, *key))
        if attempt is None:
            floor = await gen.last_id(template_id, kind.type_id, entity_id)
            attempt = await self.db.write(lambda d: template_attempt_store.start(d, *key, floor))
        generated_id = attempt.generated_id
        if generated_id is None:
            generated_id = await self._adopt(gen, template_id, entity_type, entity_id, attempt.floor_id)
        if generated_id is None:
            generated_id = (await gen.add(template_id, kind.type_id, entity_id)).id
            crashpoints.reached("template.generated")
        found_id = generated_id
        attempt_id = attempt.id
        await self.db.write(lambda d: template_attempt_store.set_generated(d, attempt_id, found_id))
        try:
            generated = await self._ready(GeneratedDocument(found_id, "", "", 0, 0, 0, ""), tries=PDF_WAIT_TRIES)
        except PdfNotReady:
            raise TransitionRefused(
                "pdf_not_ready",
                "Битрикс24 создал документ по шаблону, но ещё не сделал его PDF. Попробуйте через минуту: "
                "будет отправлен этот же документ, второй не появится.",
            ) from None
        return attempt, generated

    # ---- bulk ------------------------------------------------------------------------------------------------

    async def start_bulk(
        self,
        user_id: int,
        *,
        template_id: int,
        deal_ids: Sequence[int],
        signer_ids: Sequence[int],
        message: str = "",
        due_date: str = "",
    ) -> int:
        """Record the job (one row per deal) and wake the worker; the id of the job."""
        deals = list(dict.fromkeys(int(d) for d in deal_ids if int(d) > 0))
        if not deals:
            raise TransitionRefused("no_deals", "Выберите хотя бы одну сделку.")
        if len(deals) > MAX_BULK:
            raise TransitionRefused("too_many_deals", f"За один раз можно отправить не больше {MAX_BULK} сделок.")
        if not signer_ids:
            raise TransitionRefused("no_signers", "Укажите, кто подписывает документы от компании.")
        template = await self._template(DEAL.code, template_id)
        signers = [s for s, _ in await self.intake._signers(signer_ids)]  # refuses unknown or inactive people
        job_id = await self.db.write(
            lambda d: bulk_store.create_job(
                d,
                author_id=user_id,
                template_id=template.id,
                template_name=template.name,
                signers=signers,
                message=message,
                due_date=due_date,
                entities=[(DEAL.code, d_id) for d_id in deals],
            )
        )
        self._wake.set()
        return job_id

    async def bulk_status(self, user_id: int, job_id: int) -> BulkStatus:
        def read(d: Any) -> tuple[bulk_store.BulkJob | None, list[bulk_store.BulkItem]]:
            return bulk_store.job(d, job_id), bulk_store.items(d, job_id)

        job, rows = await self.db.read(read)
        if job is None or job.author_id != user_id:
            raise TransitionRefused("not_found", "Такой массовой отправки нет.")
        done = sum(1 for r in rows if r.state == "done")
        failed = sum(1 for r in rows if r.state == "failed")
        return BulkStatus(
            id=job.id,
            template_name=job.template_name,
            total=len(rows),
            done=done,
            failed=failed,
            finished=done + failed == len(rows),
            rows=[BulkRow(r.entity_id, r.state, r.document_id, r.error) for r in rows],
        )

    async def run(self, stop: asyncio.Event) -> None:
        """Work the open rows until ``stop``; started with the server, so a restart continues every open job."""
        while not stop.is_set():
            row = await self.db.read(bulk_store.next_open)
            if row is None:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=2.0, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            try:
                with bulk_lane():
                    await self._work(row)
            except Permanent as exc:
                await self._fail(row, str(exc))
            except (Bitrix24Error, TransitionRefused, OSError) as exc:
                await self._transient(row, exc)
            except Exception:  # a bug must not stop every other deal's document
                log.exception("bulk send row %s failed", row.id)
                await self._transient(row, RuntimeError("internal"))

    async def _fail(self, row: bulk_store.BulkItem, reason: str) -> None:
        await self.db.write(lambda d: bulk_store.mark_failed(d, row.id, reason))

    async def _transient(self, row: bulk_store.BulkItem, exc: Exception) -> None:
        reason = _reason(exc)
        if isinstance(exc, TransitionRefused):
            await self.db.write(lambda d: bulk_store.mark_failed(d, row.id, reason))
            return
        attempts = await self.db.write(lambda d: bulk_store.postpone(d, row.id, min(60.0, 2.0**row.attempts), reason))
        if attempts >= MAX_ATTEMPTS:
            await self.db.write(lambda d: bulk_store.mark_failed(d, row.id, reason))

    async def _work(self, row: bulk_store.BulkItem) -> None:
        job = await self.db.read(lambda d: bulk_store.job(d, row.job_id))
        assert job is not None
        kind = kind_of(row.entity_type)
        gen = await self._generator()
        email = await self._contact_email(row)
        if row.state == "pending":
            floor = await gen.last_id(job.template_id, kind.type_id, row.entity_id)
            await self.db.write(lambda d: bulk_store.mark_generating(d, row.id, floor))
            row = await self._reload(row)
        if row.state == "generating":
            generated_id = await self._adopt(gen, job.template_id, row.entity_type, row.entity_id, row.floor_id or 0)
            if generated_id is None:
                try:
                    generated_id = (await gen.add(job.template_id, kind.type_id, row.entity_id)).id
                except (NotFound, InvalidArgument, AccessDenied) as exc:
                    raise Permanent(
                        f"Битрикс24 не создал документ по шаблону: {exc.description or exc.code}."
                    ) from None
            await self.db.write(lambda d: bulk_store.mark_generated(d, row.id, generated_id))
            row = await self._reload(row)
        if row.state != "generated" or row.generated_id is None:
            return
        generated = await self._ready(GeneratedDocument(row.generated_id, "", "", 0, 0, 0, ""), tries=1)
        try:
            async with self._pdf(generated) as upload:
                await self.intake.create(
                    job.author_id,
                    entity_type=row.entity_type,
                    entity_id=row.entity_id,
                    title=generated.title,
                    uploads=[upload],
                    signer_ids=job.signers,
                    counterparty_email=email,
                    send=True,
                    due_date=job.due_date,
                    message=job.message,
                    in_transaction=lambda d, doc_id: bulk_store.mark_done(d, row.id, doc_id),
                )
        except PdfTooLarge:
            raise Permanent(
                f"PDF документа больше {self.settings.limits.max_upload_mb} МБ, такие файлы не принимаются."
            ) from None

    async def _reload(self, row: bulk_store.BulkItem) -> bulk_store.BulkItem:
        fresh = await self.db.read(lambda d: bulk_store.item(d, row.id))
        assert fresh is not None
        return fresh

    async def _adopt(
        self, gen: DocumentGenerator, template_id: int, entity_type: str, entity_id: int, floor_id: int
    ) -> int | None:
        """A generator document an earlier attempt made for this card above ``floor_id`` (its answer lost, or the
        click not finished) that no bulk row or single attempt owns yet, if there is one."""
        made = await gen.made_after(template_id, kind_of(entity_type).type_id, entity_id, floor_id)
        if not made:
            return None
        owned = await self.db.read(lambda d: bulk_store.claimed_generated(d, made))
        return next((i for i in made if i not in owned), None)

    async def _contact_email(self, row: bulk_store.BulkItem) -> str:
        """The counterparty rule of a bulk send: the deal's contact's e-mail (primary contact first). Checked before
        anything is made in the portal, so a deal without one leaves no generator document behind."""
        try:
            contacts = await self.intake.card_contacts(row.entity_type, row.entity_id)
        except TransitionRefused as exc:
            raise Permanent(exc.message) from None
        for contact in contacts:
            for raw in contact.emails:
                address = email_address(raw)
                if address:
                    return address
        raise Permanent("У контакта сделки нет адреса электронной почты: документ не отправлен.")


def _reason(exc: Exception) -> str:
    if isinstance(exc, TransitionRefused):
        return exc.message
    if isinstance(exc, PdfNotReady):
        return "Битрикс24 ещё не сделал PDF документа; повторим позже."
    if isinstance(exc, Bitrix24Error):
        return f"Портал Битрикс24 не ответил ({exc.code or 'ошибка'}); повторим позже."
    return "Внутренняя ошибка при создании документа; повторим позже."
