"""A new document coming in: its files checked and spooled, its signers and CRM requisites looked up, its route.

It changes when what a document is made of at creation changes: upload limits and file-name rules, which CRM
fields become the counterparty's snapshot (and how long a card's requisites are reused), how signers are
resolved. The state changes themselves are :mod:`.states`'; this service gathers and checks the inputs, then
records the draft (and, with ``send``, sends it) in one write transaction.
"""

from __future__ import annotations

import asyncio
import mimetypes
import secrets
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from server.bitrix24 import Bitrix24Error, CrmService
from server.bitrix24.crm import Contact
from server.bitrix24.entities import cards_phrase, is_known, kind_of
from server.config import Settings
from server.db import Database
from server.text import MESSAGE_MAX, email_address, portal_zone
from server.text import message as clean_message
from server.text import name as clean_name
from server.text import title as clean_title

from . import approval, deadlines, effects, previews, states, store
from .directory import PortalDirectory
from .files import FileCache, Spool, safe_name
from .listeners import TransitionListeners
from .permissions import PermissionDenied, Viewer
from .queries import DocumentQueries
from .states import TransitionRefused

CRM_CACHE_SECONDS = 30.0


@dataclass(frozen=True)
class Upload:
    """A document file as received: already on disk (the request's spool) and hashed while it arrived, so the
    workflow never holds a whole file in memory."""

    name: str
    path: Path
    size: int
    streebog256: str
    streebog512: str
    content_type: str = ""


def _head(path: Path) -> bytes:
    with path.open("rb") as f:
        return f.read(previews.HEAD_BYTES)


class Intake:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        directory: PortalDirectory,
        documents: DocumentQueries,
        spool: Spool,
        cache: FileCache,
        listeners: TransitionListeners,
        wake_outbox: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.db = db
        self.directory = directory
        self.documents = documents
        self.spool = spool
        self.cache = cache
        self.listeners = listeners
        self.wake_outbox = wake_outbox
        # CRM requisites per card for a short while: a manager creating several documents in a row from one
        # card should not cost five portal calls each (the values are a snapshot taken at creation anyway).
        self._crm_cache: dict[tuple[str, int], tuple[float, int | None, dict[str, str], list[Contact]]] = {}

    async def _signers(self, signer_ids: Sequence[int]) -> list[tuple[int, str]]:
        ids = list(dict.fromkeys(int(i) for i in signer_ids))
        if not ids:
            return []
        found = await self.directory.users(ids)
        missing = [i for i in ids if i not in found or not found[i].active]
        if missing:
            raise TransitionRefused("unknown_signer", f"Нет активного сотрудника с id {missing[0]}.")
        return [(i, found[i].full_name) for i in ids]

    async def card_email(self, entity_type: str, entity_id: int) -> str:
        """The counterparty's address the create form defaults to for this card (the company's, else a
        contact's): the send robot's default when neither its property nor the draft names one."""
        return (await self._counterparty(entity_type, entity_id))[1]["email"]

    async def _counterparty(self, entity_type: str, entity_id: int) -> tuple[int | None, dict[str, str], list[Contact]]:
        hit = self._crm_cache.get((entity_type, entity_id))
        if hit and time.monotonic() - hit[0] < CRM_CACHE_SECONDS:
            return hit[1], dict(hit[2]), list(hit[3])
        company_id, info, contacts = await self._read_counterparty(entity_type, entity_id)
        if len(self._crm_cache) > 1000:
            self._crm_cache.clear()
        self._crm_cache[(entity_type, entity_id)] = (time.monotonic(), company_id, dict(info), list(contacts))
        return company_id, info, contacts

    async def _read_counterparty(
        self, entity_type: str, entity_id: int
    ) -> tuple[int | None, dict[str, str], list[Contact]]:
        kind = kind_of(entity_type)
        crm = CrmService(await self.directory.client())
        try:
            company_id = await crm.counterparty_company_id(kind, entity_id)
            contacts = await crm.record_contacts(kind, entity_id)
        except Bitrix24Error as exc:
            raise TransitionRefused(
                "crm_not_found", f"Карточка {kind.genitive} №{entity_id} не найдена в CRM ({exc.code})."
            ) from None
        info = {"name": "", "inn": "", "ogrn": "", "email": ""}
        if company_id:
            company = await crm.company(company_id)
            info["name"] = company.title
            if company.emails:
                info["email"] = company.emails[0]
            requisites = await crm.company_requisites(company_id)
            if requisites:
                r = requisites[0]
                info.update(inn=r.inn, ogrn=r.ogrn or r.ogrnip, name=r.company_name or company.title)
        info["name"] = clean_name(info["name"])
        for contact in contacts:
            if contact.emails and not info["email"]:
                info["email"] = contact.emails[0]
        return company_id, info, contacts

    async def card_contacts(self, entity_type: str, entity_id: int) -> list[Contact]:
        """The card's contacts as :meth:`create` will see them (the same short cache: asking first costs nothing)."""
        return (await self._counterparty(entity_type, entity_id))[2]

    @staticmethod
    def _contact(contacts: Sequence[Contact], contact_id: int, email: str) -> tuple[int, str, str]:
        """(id, name, address) of the contact person picked in the form: one of the card's own contacts (the id
        comes from the page, the name and the address from the CRM), at the picked address if it is theirs."""
        found = next((c for c in contacts if c.id == contact_id), None)
        if found is None:
            raise TransitionRefused(
                "unknown_contact", "Такого контактного лица нет в карточке CRM: выберите контакт из списка."
            )
        name = clean_name(found.full_name)
        addresses = [a for a in (email_address(e) for e in found.emails) if a]
        wanted = email_address(email) if email else None
        if wanted and wanted.lower() not in {a.lower() for a in addresses}:
            raise TransitionRefused("unknown_contact", f"Адрес {wanted} не принадлежит контакту «{name}» в CRM.")
        return found.id, name, wanted or (addresses[0] if addresses else "")

    def check_uploads(self, uploads: Sequence[Upload]) -> None:
        """At least one file; none empty, over ``max_upload_mb`` or named like another (a document's file names
        are its package's names)."""
        if not uploads:
            raise TransitionRefused("no_files", "Приложите хотя бы один файл.")
        limit = self.settings.limits.max_upload_mb * 1024 * 1024
        names: set[str] = set()
        for up in uploads:
            if up.size > limit:
                raise TransitionRefused(
                    "too_large", f"Файл «{safe_name(up.name)}» больше {self.settings.limits.max_upload_mb} МБ."
                )
            if up.size == 0:
                raise TransitionRefused("empty_file", f"Файл «{safe_name(up.name)}» пустой.")
            if safe_name(up.name).lower() in names:
                raise TransitionRefused("duplicate_name", f"Два файла с именем «{safe_name(up.name)}».")
            names.add(safe_name(up.name).lower())

    async def spool_uploads(self, uploads: Sequence[Upload]) -> tuple[list[dict[str, Any]], list[str]]:
        """Each checked upload into the spool (where the outbox takes it to Disk from) and the file cache: the
        files' rows for :func:`.states.create_draft` and the spool names, to remove if the write fails."""
        files: list[dict[str, Any]] = []
        spooled: list[str] = []
        for up in uploads:
            name = safe_name(up.name)
            head = await asyncio.to_thread(_head, up.path)
            ctype = previews.stored_type(head, up.content_type or mimetypes.guess_type(name)[0] or "")
            spooled.append(await asyncio.to_thread(self.spool.put_file, up.streebog256, secrets.token_hex(8), up.path))
            await asyncio.to_thread(self.cache.put_file, up.streebog256, up.path)
            files.append(
                {
                    "name": name,
                    "size": up.size,
                    "content_type": ctype,
                    "streebog256": up.streebog256,
                    "streebog512": up.streebog512,
                }
            )
        return files, spooled

    async def resolve_signers(self, signer_ids: Sequence[int]) -> list[tuple[int, str]]:
        """(id, full name) of each signer as the create form resolves them, refused when one is not an active
        employee: a new version's route is checked again (someone may have left since), and the send robot's."""
        return await self._signers(signer_ids)

    async def create(
        self,
        user_id: int,
        *,
        entity_type: str,
        entity_id: int,
        title: str,
        uploads: Sequence[Upload],
        signer_ids: Sequence[int] = (),
        counterparty_email: str = "",
        send: bool = False,
        due_date: str = "",
        message: str = "",
        contact_id: int | None = None,
        contact_email: str = "",
        in_transaction: Callable[[Any, int], None] | None = None,
        approver_ids: Sequence[int] = (),
        approval_mode: str = "sequential",
        observer_ids: Sequence[int] = (),
    ) -> int:
        """Record a draft; with ``send`` it is sent in the same transaction (one commit: a document is never left
        half-sent). The files' bytes go to the spool first and reach the card's Disk folder through the outbox
        after the commit, so a crash at any point leaves no file on the portal that no document owns.

        The counterparty's address: the one typed in the form, else the picked contact person's, else the CRM's
        default (the company's, then the first contact's). ``due_date`` is the picked day (:mod:`.deadlines`).
        ``in_transaction(d, document_id)`` runs in the same write transaction (a bulk send records its row there, so
        the row and the document exist together or not at all).
        ``approver_ids`` approve before the signers sign, in ``approval_mode`` order; ``observer_ids`` are told of
        the outcome (:mod:`.approval`)."""

        if not is_known(entity_type) or entity_id <= 0:
            raise TransitionRefused("bad_request", f"Документ создаётся из карточки {cards_phrase('или')}.")
        self.check_uploads(uploads)
        title = clean_title(title) or safe_name(uploads[0].name)
        zone = portal_zone(self.settings.portal.timezone)
        day = deadlines.parse_day(due_date, zone=zone)
        note = clean_message(message, limit=MESSAGE_MAX + 1)
        if len(note) > MESSAGE_MAX:
            raise TransitionRefused(
                "message_too_long", f"Сообщение контрагенту длиннее {MESSAGE_MAX} символов: сократите его."
            )
        author = await self.directory.user(user_id)
        if author is None:
            raise PermissionDenied("unknown_user", "Пользователь не найден на портале.")
        signers = await self._signers(signer_ids)
        approvers = await self._signers(approver_ids)
        observers = await self._signers(observer_ids)
        if approval_mode not in approval.MODES:
            raise TransitionRefused("bad_request", "Порядок согласования: «по очереди» или «одновременно».")
        company_id, counterparty, contacts = await self._counterparty(entity_type, entity_id)
        contact = self._contact(contacts, contact_id, contact_email) if contact_id else None
        if counterparty_email.strip():
            counterparty["email"] = counterparty_email.strip()[:254]
        elif contact is not None:
            if not contact[2]:
                raise TransitionRefused(
                    "contact_without_email",
                    f"У контакта «{contact[1]}» в CRM нет адреса электронной почты: укажите e-mail контрагента.",
                )
            counterparty["email"] = contact[2]
        files, spooled = await self.spool_uploads(uploads)
        department = author.departments[0] if author.departments else None

        def write(d: Any) -> int:
            doc_id = states.create_draft(
                d,
                title=title,
                entity_type=entity_type,
                entity_id=entity_id,
                company_id=company_id,
                author_id=user_id,
                author_name=clean_name(author.full_name),
                department_id=department,
                files=files,
                signers=signers,
                counterparty=counterparty,
                disk_folder_id=None,
                due_at=deadlines.end_of_day(day, zone) if day else None,
                message=note,
                contact=contact[:2] if contact else None,
            )
            for f, spool_name in zip(store.files(d, doc_id), spooled, strict=True):
                effects.store_file_on_disk(d, f.id, spool_name)
            if approvers or observers:
                approval.configure(
                    d, doc_id, actor_id=user_id, mode=approval_mode, approvers=approvers, observers=observers
                )
            if send:
                approval.send(
                    d,
                    doc_id,
                    actor_id=user_id,
                    counterparty_days=self.settings.workflow.counterparty_days,
                    listeners=self.listeners,
                )
            if in_transaction is not None:
                in_transaction(d, doc_id)
            return doc_id

        try:
            doc_id = await self.db.write(write)
        except BaseException:
            for spool_name in spooled:
                self.spool.remove(spool_name)
            raise
        if send:
            self.listeners.committed()
        else:
            self.wake_outbox()
        return doc_id

    async def set_route(
        self,
        viewer: Viewer,
        document_id: int,
        signer_ids: Sequence[int],
        counterparty_email: str | None = None,
        *,
        approver_ids: Sequence[int] | None = None,
        approval_mode: str = "sequential",
        observer_ids: Sequence[int] | None = None,
    ) -> None:
        """The route of a draft or a returned document; ``approver_ids``/``observer_ids`` given (None: unchanged)
        replace the approvers and the observers in the same transaction."""
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "изменить маршрут")
        signers = await self._signers(signer_ids)
        approvers = await self._signers(approver_ids) if approver_ids is not None else None
        observers = await self._signers(observer_ids) if observer_ids is not None else None

        def write(d: Any) -> None:
            states.set_route(
                d, document_id, actor_id=viewer.user_id, signers=signers, counterparty_email=counterparty_email
            )
            if approvers is not None or observers is not None:
                current = approval.info(d, doc)
                approval.configure(
                    d,
                    document_id,
                    actor_id=viewer.user_id,
                    mode=approval_mode,
                    approvers=approvers if approvers is not None else approval.planned(d, document_id),
                    observers=observers
                    if observers is not None
                    else [(p.user_id, p.display_name) for p in (current.observers if current else [])],
                )

        await self.db.write(write)
