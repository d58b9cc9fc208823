"""The workflow as the API and pages use it: permissions first, then the portal, then a transition.

One ``Workflow`` per running server (``app.state.services.workflow``). It owns the outbox worker, the
validation context for ``accept_signature``, the caches of the portal's users and departments, and the
:class:`~server.workflow.listeners.TransitionListeners` other packages register with at start-up
(``workflow.listeners``: the counterparty exchange on ``internal_signed``, the agents hub on new jobs).
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import mimetypes
import secrets
import time
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec
from asn1crypto import x509

from cades.certs import cert_info
from cades.report import render_html
from cades.result import VerificationResult
from cades.validation import ValidationContext
from server.bitrix24 import (
    Bitrix24Client,
    Bitrix24Error,
    CrmService,
    DepartmentDirectory,
    DiskService,
    User,
    UserDirectory,
)
from server.bitrix24.entities import CODES, cards_phrase, kind_of
from server.config import Settings
from server.db import Database, audit
from server.portal.service import PortalService
from server.text import name as clean_name
from server.text import title as clean_title

from . import certificate_store, certificates, effects, jobs, states, store
from .docstate import DocState
from .files import FileCache, Spool, digests, safe_name
from .listeners import TransitionListeners
from .model import DocumentDetail, DocumentPage, Job
from .outbox_worker import OutboxWorker, signature_file_name
from .permissions import PermissionDenied, Viewer
from .signatures import AcceptedSignature, SignatureDeps, SignerClaim, accept_signature
from .states import TransitionRefused

log = logging.getLogger(__name__)

CRM_CACHE_SECONDS = 30.0


class PortalMissing(Exception):
    """The portal is not connected or did not answer (HTTP 502/503)."""


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


class PersonInfo(msgspec.Struct, kw_only=True):
    id: int
    name: str
    position: str
    departments: list[int]


def validation_context(settings: Settings) -> ValidationContext:
    trust = settings.trust
    return ValidationContext.from_paths(trust.roots, intermediates=trust.intermediates, crls=trust.crls)


class Workflow:
    def __init__(self, settings: Settings, db: Database, portal: PortalService) -> None:
        self.settings = settings
        self.db = db
        self.portal = portal
        wf = settings.workflow
        self.spool = Spool(settings.storage.path / "spool")
        self.worker = OutboxWorker(db, portal.client, batch_size=wf.outbox_batch_size,
                                   poll_seconds=wf.outbox_poll_seconds, max_attempts=wf.outbox_max_attempts,
                                   paused=wf.outbox_paused, spool=self.spool)
        self.listeners = TransitionListeners(states.TRANSITIONS)
        self.listeners.on_commit(self.worker.wake)
        self.deps = SignatureDeps(db=db, settings=settings, validation=validation_context(settings),
                                  listeners=self.listeners)
        self.cache = FileCache(settings.storage.path / "cache", settings.storage.cache_max_mb * 1024 * 1024)
        self._client: Bitrix24Client | None = None
        self._users: UserDirectory | None = None
        self._departments: DepartmentDirectory | None = None
        self._disk: DiskService | None = None
        self._people: tuple[float, list[PersonInfo]] | None = None
        self._auditor_group: tuple[float, frozenset[int]] | None = None
        # CRM requisites per card for a short while: a manager creating several documents in a row from one
        # card should not cost five portal calls each (the values are a snapshot taken at creation anyway).
        self._crm_cache: dict[tuple[str, int], tuple[float, int | None, dict[str, str]]] = {}

    # -- portal -----------------------------------------------------------------------------------------

    async def client(self) -> Bitrix24Client:
        client = await self.portal.client()
        if client is None:
            raise PortalMissing("Портал Битрикс24 не подключён: установите приложение KlikDok на портале.")
        if client is not self._client:
            self._client = client
            self._users = UserDirectory(client)
            self._departments = DepartmentDirectory(client)
            self._disk = DiskService(client)
        return client

    async def user(self, user_id: int) -> User | None:
        await self.client()
        assert self._users is not None
        return await self._users.get(user_id)

    async def people(self) -> list[PersonInfo]:
        """Active employees for the signer picker (cached for five minutes)."""
        if self._people and time.monotonic() - self._people[0] < 300:
            return self._people[1]
        client = await self.client()
        rows = await client.list_all("user.get", {"FILTER": {"ACTIVE": True}})
        from server.bitrix24.users import user_from

        people = sorted((PersonInfo(id=u.id, name=u.full_name, position=u.work_position, departments=u.departments)
                         for u in (user_from(r) for r in rows if isinstance(r, dict)) if u.active),
                        key=lambda p: p.name)
        self._people = (time.monotonic(), people)
        return people

    async def _auditor_group_members(self) -> frozenset[int]:
        group = self.settings.policy.auditor_group_id
        if not group:
            return frozenset()
        if self._auditor_group and time.monotonic() - self._auditor_group[0] < 300:
            return self._auditor_group[1]
        try:
            rows = await (await self.client()).call("sonet_group.user.get", {"ID": group}) or []
            members = frozenset(int(r["USER_ID"]) for r in rows if isinstance(r, dict) and r.get("USER_ID"))
        except (Bitrix24Error, PortalMissing, ValueError) as exc:
            log.warning("cannot read the auditor group: %s", type(exc).__name__)
            members = frozenset()
        self._auditor_group = (time.monotonic(), members)
        return members

    async def viewer(self, user_id: int) -> Viewer:
        """The viewer's rights: auditor from the config, department heads from the portal's tree (cached)."""
        auditor = user_id in self.settings.policy.auditor_user_ids or user_id in await self._auditor_group_members()
        managed: frozenset[int] = frozenset()
        try:
            await self.client()
            assert self._departments is not None
            tree = await self._departments.all()
            heads = [d.id for d in tree.values() if d.head == user_id]
            if heads:
                managed = frozenset(await self._departments.subtree(heads))
        except (Bitrix24Error, PortalMissing) as exc:
            log.warning("department tree unavailable: %s", type(exc).__name__)
        return Viewer(user_id=user_id, auditor=auditor, managed_departments=managed)

    # -- reads ------------------------------------------------------------------------------------------

    async def visible_document(self, viewer: Viewer, document_id: int) -> dict[str, Any]:
        """The document row if ``viewer`` may see it; else 404 (``TransitionRefused``) or 403 (audited by the API).

        The one visibility rule for everything that shows a document, including other packages' endpoints.
        """
        def read(d: Any) -> tuple[dict[str, Any] | None, bool]:
            return store.document_row(d, document_id), store.is_route_member(d, document_id, viewer.user_id)

        doc, member = await self.db.read(read)
        if doc is None or doc["state"] == DocState.DELETED:
            raise TransitionRefused("not_found", "Документ не найден.", 404)
        viewer.require_view(doc, member)
        return doc

    async def list(self, viewer: Viewer, *, view: str, entity: tuple[str, int] | None = None,
                   states_: Sequence[str] = (), query: str = "", overdue: bool = False, limit: int = 50,
                   offset: int = 0) -> DocumentPage:
        """view: "entity" (a CRM card), "mine" (authored), "queue" (waiting for my signature), "department"
        (a head's subtree), "all" (everything visible; auditors see every document)."""
        limit = max(1, min(200, limit))
        kwargs: dict[str, Any] = {"scope": viewer.scope(), "states": states_, "query": query, "overdue": overdue,
                                  "limit": limit, "offset": max(0, offset)}
        if view == "entity":
            if entity is None:
                raise TransitionRefused("bad_request", f"Не указана карточка {cards_phrase('или')}.", 400)
            kwargs["entity"] = entity
        elif view == "mine":
            kwargs["author_id"] = viewer.user_id
        elif view == "queue":
            kwargs["signer_id"] = viewer.user_id
        elif view == "department":
            if not viewer.is_head and not viewer.auditor:
                raise PermissionDenied("not_head", "Раздел «Отдел» доступен руководителям подразделений.")
            kwargs["departments"] = None if viewer.auditor and not viewer.is_head else viewer.managed_departments
        elif view != "all":
            raise TransitionRefused("bad_request", f"Неизвестный список: {view}.", 400)
        return await self.db.read(lambda d: store.list_documents(d, **kwargs))

    async def detail(self, viewer: Viewer, document_id: int) -> DocumentDetail:
        doc = await self.visible_document(viewer, document_id)

        def read(d: Any) -> DocumentDetail:
            summary = store.summary(d, document_id)
            assert summary is not None
            current = store.current_step(d, document_id)
            route = store.route(d, document_id)
            names = {f"user:{doc['author_id']}": doc["author_name"], "system": "KlikDok"}
            names.update({f"user:{s.user_id}": s.display_name for s in route if s.user_id})
            history = [msgspec.structs.replace(h, actor_name=names.get(h.actor, "Контрагент" if
                                                                        h.actor.startswith("counterparty:") else ""))
                       for h in store.history(d, document_id)]
            return DocumentDetail(
                document=summary, reason=doc["reason"], counterparty_name=doc["counterparty_name"],
                counterparty_inn=doc["counterparty_inn"], counterparty_ogrn=doc["counterparty_ogrn"],
                counterparty_email=doc["counterparty_email"], files=store.files(d, document_id),
                route=route, signatures=store.signatures(d, document_id), history=history,
                can=viewer.actions(doc, current.user_id if current else None))

        return await self.db.read(read)

    # -- create and route -------------------------------------------------------------------------------

    async def _signers(self, signer_ids: Sequence[int]) -> list[tuple[int, str]]:
        ids = list(dict.fromkeys(int(i) for i in signer_ids))
        if not ids:
            return []
        await self.client()
        assert self._users is not None
        found = await self._users.get_many(ids)
        missing = [i for i in ids if i not in found or not found[i].active]
        if missing:
            raise TransitionRefused("unknown_signer", f"Нет активного сотрудника с id {missing[0]}.", 400)
        return [(i, found[i].full_name) for i in ids]

    async def _counterparty(self, entity_type: str, entity_id: int) -> tuple[int | None, dict[str, str]]:
        hit = self._crm_cache.get((entity_type, entity_id))
        if hit and time.monotonic() - hit[0] < CRM_CACHE_SECONDS:
            return hit[1], dict(hit[2])
        company_id, info = await self._read_counterparty(entity_type, entity_id)
        if len(self._crm_cache) > 1000:
            self._crm_cache.clear()
        self._crm_cache[(entity_type, entity_id)] = (time.monotonic(), company_id, dict(info))
        return company_id, info

    async def _read_counterparty(self, entity_type: str, entity_id: int) -> tuple[int | None, dict[str, str]]:
        kind = kind_of(entity_type)
        crm = CrmService(await self.client())
        try:
            company_id = await crm.counterparty_company_id(kind, entity_id)
            contacts = await crm.record_contacts(kind, entity_id)
        except Bitrix24Error as exc:
            raise TransitionRefused("crm_not_found", f"Карточка {kind.genitive} №{entity_id} не найдена в CRM "
                                    f"({exc.code}).", 400) from None
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
        return company_id, info

    async def create(self, user_id: int, *, entity_type: str, entity_id: int, title: str, uploads: Sequence[Upload],
                     signer_ids: Sequence[int] = (), counterparty_email: str = "", send: bool = False) -> int:
        """Record a draft; with ``send`` it is sent in the same transaction (one commit: a document is never left
        half-sent). The files' bytes go to the spool first and reach the card's Disk folder through the outbox
        after the commit, so a crash at any point leaves no file on the portal that no document owns."""
        if entity_type not in CODES or entity_id <= 0:
            raise TransitionRefused("bad_request", f"Документ создаётся из карточки {cards_phrase('или')}.", 400)
        if not uploads:
            raise TransitionRefused("no_files", "Приложите хотя бы один файл.", 400)
        limit = self.settings.limits.max_upload_mb * 1024 * 1024
        names: set[str] = set()
        for up in uploads:
            if up.size > limit:
                raise TransitionRefused("too_large", f"Файл «{safe_name(up.name)}» больше "
                                        f"{self.settings.limits.max_upload_mb} МБ.", 413)
            if up.size == 0:
                raise TransitionRefused("empty_file", f"Файл «{safe_name(up.name)}» пустой.", 400)
            if safe_name(up.name).lower() in names:
                raise TransitionRefused("duplicate_name", f"Два файла с именем «{safe_name(up.name)}».", 400)
            names.add(safe_name(up.name).lower())
        title = clean_title(title) or safe_name(uploads[0].name)
        author = await self.user(user_id)
        if author is None:
            raise PermissionDenied("unknown_user", "Пользователь не найден на портале.")
        signers = await self._signers(signer_ids)
        company_id, counterparty = await self._counterparty(entity_type, entity_id)
        if counterparty_email:
            counterparty["email"] = counterparty_email.strip()[:254]
        files: list[dict[str, Any]] = []
        spooled: list[str] = []
        for up in uploads:
            name = safe_name(up.name)
            ctype = up.content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
            spooled.append(await asyncio.to_thread(self.spool.put_file, up.streebog256, secrets.token_hex(8), up.path))
            await asyncio.to_thread(self.cache.put_file, up.streebog256, up.path)
            files.append({"name": name, "size": up.size, "content_type": ctype, "streebog256": up.streebog256,
                          "streebog512": up.streebog512})
        department = author.departments[0] if author.departments else None

        def write(d: Any) -> int:
            doc_id = states.create_draft(
                d, title=title, entity_type=entity_type, entity_id=entity_id, company_id=company_id,
                author_id=user_id, author_name=clean_name(author.full_name), department_id=department, files=files,
                signers=signers, counterparty=counterparty, disk_folder_id=None)
            for f, spool_name in zip(store.files(d, doc_id), spooled, strict=True):
                effects.store_file_on_disk(d, f.id, spool_name)
            if send:
                states.send(d, doc_id, actor_id=user_id, counterparty_days=self.settings.workflow.counterparty_days,
                            listeners=self.listeners)
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
            self.worker.wake()
        return doc_id

    async def set_route(self, viewer: Viewer, document_id: int, signer_ids: Sequence[int],
                        counterparty_email: str | None = None) -> None:
        doc = await self.visible_document(viewer, document_id)
        viewer.require_author(doc, "изменить маршрут")
        signers = await self._signers(signer_ids)
        await self.db.write(lambda d: states.set_route(d, document_id, actor_id=viewer.user_id, signers=signers,
                                                       counterparty_email=counterparty_email))

    # -- transitions ------------------------------------------------------------------------------------

    async def send(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.visible_document(viewer, document_id)
        viewer.require_author(doc, "отправить на подпись")
        await self.db.write(lambda d: states.send(d, document_id, actor_id=viewer.user_id,
                                                  counterparty_days=self.settings.workflow.counterparty_days,
                                                  listeners=self.listeners))
        self.listeners.committed()

    async def withdraw(self, viewer: Viewer, document_id: int, reason: str) -> None:
        doc = await self.visible_document(viewer, document_id)
        viewer.require_author(doc, "отозвать")
        await self.db.write(lambda d: states.withdraw(d, document_id, actor_id=viewer.user_id, reason=reason[:1000],
                                                      listeners=self.listeners))
        self.listeners.committed()

    async def delete(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.visible_document(viewer, document_id)
        viewer.require_author(doc, "удалить")
        await self.db.write(lambda d: states.delete(d, document_id, actor_id=viewer.user_id, listeners=self.listeners))
        self.listeners.committed()

    async def remind(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.visible_document(viewer, document_id)
        viewer.require_author(doc, "напомнить")
        await self.db.write(lambda d: states.remind(d, document_id, actor_id=viewer.user_id,
                                                    per_day=self.settings.limits.manual_reminders_per_day))
        self.listeners.committed()

    async def _require_current_signer(self, viewer: Viewer, document_id: int) -> tuple[dict[str, Any], int]:
        doc = await self.visible_document(viewer, document_id)
        step = await self.db.read(lambda d: store.current_step(d, document_id))
        if doc["state"] != DocState.AWAITING_INTERNAL or step is None or step.kind != "internal":
            raise TransitionRefused("not_awaiting_signature", "Документ сейчас не ждёт подписи сотрудника.")
        viewer.require_current_signer(step.user_id, step.display_name)
        return doc, step.id

    async def reject(self, viewer: Viewer, document_id: int, reason: str) -> None:
        _, step_id = await self._require_current_signer(viewer, document_id)
        await self.db.write(lambda d: states.reject(d, document_id, step_id=step_id, actor=f"user:{viewer.user_id}",
                                                    reason=reason[:1000], listeners=self.listeners))
        self.listeners.committed()

    async def sign_request(self, viewer: Viewer, document_ids: Sequence[int], channel: str = "any") -> list[Job]:
        """The open signing job of each document whose current step is this viewer's, on ``channel``.

        A waiting job asked for on another channel moves there (:func:`.jobs.request`); one that another channel
        is signing right now refuses the whole request with ``job_in_flight``, and nothing changes. The agents
        hub is woken once the jobs are committed, so a connected agent gets them at once.
        """
        steps = [(document_id, (await self._require_current_signer(viewer, document_id))[1])
                 for document_id in dict.fromkeys(document_ids)]
        if not steps:
            return []

        def write(d: Any) -> list[Job]:
            ids = [jobs.request(d, document_id=document_id, step_id=step_id, user_id=viewer.user_id, channel=channel)
                   for document_id, step_id in steps]
            found = [store.job(d, job_id) for job_id in ids]
            return [j for j in found if j is not None]

        opened = await self.db.write(write)
        self.listeners.jobs_opened()
        return opened

    async def cancel_job(self, viewer: Viewer, job_id: int) -> Job:
        """The signer stops signing one document (agent or CryptoARM); it keeps waiting for them.

        Waking the committed-transition listeners lets the agents hub tell an agent holding the job to drop it.
        """
        await self.db.write(lambda d: jobs.cancel(d, job_id=job_id, user_id=viewer.user_id))
        self.listeners.committed()
        job = await self.db.read(lambda d: store.job(d, job_id))
        assert job is not None
        return job

    async def submit_signature(self, viewer: Viewer, document_id: int, file_id: int, cms: bytes, *,
                               source: str = "upload", job_id: int | None = None) -> AcceptedSignature:
        """A signature presented by a signed-in user (uploaded .sig); the route check is accept_signature's."""
        await self.visible_document(viewer, document_id)
        return await accept_signature(self.deps, document_id=document_id, file_id=file_id, cms=cms,
                                      claim=SignerClaim("internal", user_id=viewer.user_id), source=source,  # type: ignore[arg-type]
                                      job_id=job_id)

    # -- downloads --------------------------------------------------------------------------------------

    async def file_bytes(self, document_id: int, file_id: int) -> tuple[str, str, bytes]:
        """(name, content type, bytes) of a document file: cache first, then Disk, always checked by digest."""
        files = await self.db.read(lambda d: store.files(d, document_id))
        f = next((x for x in files if x.id == file_id), None)
        if f is None:
            raise TransitionRefused("not_found", "В документе нет такого файла.", 404)
        data = await asyncio.to_thread(self.cache.get, f.streebog256)
        if data is None and not f.disk_file_id:
            data = await asyncio.to_thread(self.spool.find, f.streebog256)  # not on Disk yet: the spool has it
        if data is None:
            await self.client()
            assert self._disk is not None
            if not f.disk_file_id:
                raise PortalMissing("Файл не сохранён на Диске.")
            try:
                got = await self._disk.download(f.disk_file_id)
            except Bitrix24Error as exc:
                raise PortalMissing(f"Не удалось скачать файл с Диска ({exc.code}).") from None
            assert isinstance(got, bytes)
            if (await asyncio.to_thread(digests, got))[0] != f.streebog256:
                raise TransitionRefused("file_changed", f"Файл «{f.name}» на Диске изменён после отправки: его хэш "
                                        "не совпадает с зафиксированным. Подписывать его нельзя.", 409)
            await asyncio.to_thread(self.cache.put, f.streebog256, got)
            data = got
        return f.name, f.content_type, data

    async def download_file(self, viewer: Viewer, document_id: int, file_id: int) -> tuple[str, str, bytes]:
        await self.visible_document(viewer, document_id)
        return await self.file_bytes(document_id, file_id)

    async def download_signature(self, viewer: Viewer, document_id: int, signature_id: int) -> tuple[str, bytes]:
        await self.visible_document(viewer, document_id)
        found = await self.db.read(lambda d: store.signature_bytes(d, document_id, signature_id))
        if found is None:
            raise TransitionRefused("not_found", "Подпись не найдена.", 404)
        cms, name, _ = found
        return f"{name}.{signature_id}.sig", cms

    async def report(self, viewer: Viewer, document_id: int) -> tuple[dict[str, Any], str]:
        """The verification report of every accepted signature: (JSON-able dict, HTML)."""
        return await self._report(await self.visible_document(viewer, document_id))

    async def _report(self, doc: dict[str, Any]) -> tuple[dict[str, Any], str]:
        document_id = int(doc["id"])
        rows = await self.db.read(lambda d: store.signature_rows_for_package(d, document_id))
        files = {f.id: f for f in await self.db.read(lambda d: store.files(d, document_id))}
        entries = []
        html_parts = [f"<h1>Отчёт о проверке подписей: {_esc(doc['title'])}</h1>"]
        for sig_id, file_id, _cms, verification, signer in rows:
            result = msgspec.json.decode(verification, type=VerificationResult)
            f = files[file_id]
            entries.append({"signature_id": sig_id, "file": f.name, "streebog256": f.streebog256,
                            "signer": json.loads(signer), "verification": msgspec.to_builtins(result)})
            html_parts.append(render_html(result, document=f.name))
        report = {"document_id": document_id, "title": doc["title"], "state": doc["state"],
                  "warnings": json.loads(doc["warnings"] or "[]"), "signatures": entries}
        if not rows:
            html_parts.append("<p>Подписей пока нет.</p>")
        return report, "\n".join(html_parts)

    async def package(self, viewer: Viewer, document_id: int) -> tuple[str, bytes]:
        """The ZIP package for a portal user: visibility checked and the export audited."""
        await self.visible_document(viewer, document_id)
        name, data = await self.build_package(document_id)
        await self.db.write(lambda d: audit.append(d, actor=f"user:{viewer.user_id}", action="document.exported",
                                                   object_type="document", object_id=document_id))
        return name, data

    async def build_package(self, document_id: int) -> tuple[str, bytes]:
        """ZIP: the files, every ``.sig``, and the verification report (HTML and JSON); (file name, bytes).

        No viewer and no audit row: the caller decides who may have it and records why (``package`` for portal
        users; the counterparty exchange for the counterparty's page and the confirmation e-mail).
        """
        doc = await self.db.read(lambda d: store.document_row(d, document_id))
        if doc is None or doc["state"] == DocState.DELETED:
            raise TransitionRefused("not_found", "Документ не найден.", 404)
        files = await self.db.read(lambda d: store.files(d, document_id))
        rows = await self.db.read(lambda d: store.signature_rows_for_package(d, document_id))
        report, html = await self._report(doc)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            by_id = {}
            for f in files:
                name, _, data = await self.file_bytes(document_id, f.id)
                z.writestr(name, data)
                by_id[f.id] = name
            counts: dict[int, int] = {}
            for _sig_id, file_id, cms, _v, _s in rows:
                counts[file_id] = counts.get(file_id, 0) + 1
                z.writestr(signature_file_name(by_id[file_id], counts[file_id]), bytes(cms))
            z.writestr("отчёт-о-проверке.html", f"<!doctype html><meta charset='utf-8'>{html}")
            z.writestr("отчёт-о-проверке.json", json.dumps(report, ensure_ascii=False, indent=2, default=str))
        return f"{safe_name(doc['title'])}.zip", buf.getvalue()

    # -- certificates -----------------------------------------------------------------------------------

    async def certificate_challenge(self, viewer: Viewer) -> certificates.Challenge:
        """A fresh challenge for this user to sign with the certificate they are about to register."""
        challenge = certificates.new_challenge(viewer.user_id)
        now = datetime.now(UTC)
        await self.db.write(lambda d: certificate_store.issue_challenge(
            d, user_id=viewer.user_id, challenge_hash=challenge.hash, now=now.isoformat(timespec="seconds"),
            expires_at=challenge.expires_at, keep_until=(now - timedelta(days=1)).isoformat(timespec="seconds")))
        return challenge

    async def register_certificate(self, viewer: Viewer, der_or_pem: bytes, *, challenge: str,
                                   signature: bytes) -> dict[str, Any]:
        """A user registers their own signing certificate (audited); signatures for them must use it.

        The registration must prove possession of the key: ``signature`` is a CMS signature over ``challenge``
        (issued to this user by :meth:`certificate_challenge`, unexpired, unused) made with this certificate.
        The challenge is spent by this attempt whatever its outcome; refusals are PermissionDenied, which the
        API audits.
        """
        try:
            data = der_or_pem
            if b"-----BEGIN" in data:
                import base64

                body = data.split(b"-----BEGIN CERTIFICATE-----")[1].split(b"-----END CERTIFICATE-----")[0]
                data = base64.b64decode(b"".join(body.split()))
            cert = x509.Certificate.load(data)
            info = cert_info(cert)
            data = cert.dump()
        except Exception:  # noqa: BLE001 - any parse failure is the same answer to the user
            raise TransitionRefused("bad_certificate", "Файл не является сертификатом X.509 (DER или PEM).", 400) from None
        if not info.serial:
            raise TransitionRefused("bad_certificate", "В сертификате нет серийного номера.", 400)
        now = store.now_iso()
        state = await self.db.write(lambda d: certificate_store.spend_challenge(
            d, user_id=viewer.user_id, challenge_hash=certificates.challenge_hash(challenge), now=now))

        async def refuse(code: str, message: str, why: str) -> None:
            details = {"serial": info.serial.lower(), "issuer": info.issuer, "subject": info.subject, "code": code,
                       "why": why}
            await self.db.write(lambda d: audit.append(d, actor=f"user:{viewer.user_id}", action="certificate.refused",
                                                       object_type="user", object_id=viewer.user_id, details=details))
            raise PermissionDenied(code, message)

        if state != "ok":
            why = {"used": "уже использован", "expired": "просрочен"}.get(state, "не выдавался вам")
            await refuse("bad_challenge", f"Код подтверждения {why}. Запросите новый код, подпишите его этим "
                         "сертификатом и повторите регистрацию.", f"challenge {state}")
        if not await asyncio.to_thread(certificates.proves_possession, signature, challenge, cert):
            await refuse("no_proof", "Подпись под кодом подтверждения не сделана ключом этого сертификата. "
                         "Зарегистрировать можно только свой сертификат: подпишите код тем ключом, которому он "
                         "выдан.", "signature does not verify with this certificate")
        row = {"issuer": info.issuer, "serial": info.serial, "subject": info.subject,
               "inn": info.identity.get("inn") or info.identity.get("innle") or "",
               "snils": info.identity.get("snils", ""),
               "not_after": info.not_after.isoformat() if info.not_after else None}

        def write(d: Any) -> None:
            if certificate_store.other_owner(d, issuer=info.issuer, serial=info.serial, user_id=viewer.user_id):
                raise PermissionDenied("certificate_taken", "Этот сертификат уже зарегистрирован за другим сотрудником.")
            certificate_store.register(d, user_id=viewer.user_id, info=row, der=data, now=now)
            audit.append(d, actor=f"user:{viewer.user_id}", action="certificate.registered", object_type="user",
                         object_id=viewer.user_id, details={"serial": info.serial, "subject": info.subject,
                                                            "proof": "challenge"})

        await self.db.write(write)
        return {"serial": info.serial.lower(), "subject": info.subject, "issuer": info.issuer}

    # -- background -------------------------------------------------------------------------------------

    async def expire_loop(self, stop: asyncio.Event, every: float = 60.0) -> None:
        while not stop.is_set():
            try:
                if await self.db.write(lambda d: states.expire_due(d, listeners=self.listeners)):
                    self.listeners.committed()
            except Exception:  # noqa: BLE001
                log.exception("expiry round failed")
            try:
                async with asyncio.timeout(every):
                    await stop.wait()
            except TimeoutError:
                pass


def _esc(text: str) -> str:
    import html

    return html.escape(text)
