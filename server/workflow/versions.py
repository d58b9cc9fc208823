"""«Новая версия»: a rejected, withdrawn or expired document is made again as version N+1 on the same CRM card;
so is a document an approver returned for rework (it is withdrawn in favour of the new version).

It changes when what a new version takes over from the old one changes. A version is a document of its own (its
files, route, signatures and history), linked to the one it replaces (:mod:`.version_store`), so everything that
works on documents works on versions unchanged. It takes over the card, the route of internal signers with its
approvers and observers (so it goes through согласование again), the counterparty's snapshot (requisites,
address, contact person) and the message; the deadline is recomputed (the day picked now, else ``[workflow]
counterparty_days`` from sending) because the old one has usually passed. The files are new ones when the request
brings them (what a returned document's author corrects), else the old version's own (the same bytes, already on
the card's Disk folder). It is sent at once: the author asked for the same route again, and the counterparty gets a new
invitation as usual once the company has signed; the old link then says that a newer version exists.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

from server.config import Settings
from server.db import Database, audit
from server.text import portal_zone

from . import approval, deadlines, effects, states, store, version_store
from .docstate import DocState
from .intake import Intake, Upload
from .listeners import TransitionListeners
from .model import DocumentRow
from .permissions import Viewer
from .queries import DocumentQueries
from .states import TransitionRefused

NEW_VERSION = "new_version"


def check_can_version(db: Any, doc: DocumentRow) -> None:
    """Refused (409, in Russian) unless the document is final in a way that asks for another try and has no newer
    version yet. Run again inside the writing transaction: a second click may have made version N+1 meanwhile."""
    if NEW_VERSION not in doc.state.info.author_actions:
        if doc.state == DocState.COMPLETED:
            why = "документ уже подписан обеими сторонами"
        elif doc.state.is_open:
            why = f"документ ещё в работе (статус «{doc.state.label}»): сначала отзовите его"
        else:
            why = f"документ в статусе «{doc.state.label}»"
        raise TransitionRefused("wrong_state", f"Новую версию создать нельзя: {why}.")
    newer = version_store.next_id(db, doc.id)
    if newer is not None:
        raise TransitionRefused(
            "has_newer_version", f"У документа уже есть новая версия (№{newer}): создавайте следующую из неё."
        )


class Versions:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        documents: DocumentQueries,
        intake: Intake,
        listeners: TransitionListeners,
        wake_outbox: Callable[[], None],
    ) -> None:
        self.settings = settings
        self.db = db
        self.documents = documents
        self.intake = intake
        self.listeners = listeners
        self.wake_outbox = wake_outbox

    async def new_version(
        self, viewer: Viewer, document_id: int, uploads: Sequence[Upload] = (), *, due_date: str = ""
    ) -> int:
        """Create and send version N+1 of ``document_id``; returns its id. Only the author may (as only the author
        manages a document); audited on both versions (``document.version_created``, ``document.superseded``)."""
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "создать новую версию")
        await self.db.read(lambda d: check_can_version(d, doc))
        route = await self.db.read(lambda d: store.route(d, document_id))
        signers = await self.intake.resolve_signers([s.user_id for s in route if s.kind == "internal" and s.user_id])
        if not signers:
            raise TransitionRefused("no_signers", "В маршруте прежней версии нет подписантов от компании.")
        zone = portal_zone(self.settings.portal.timezone)
        day = deadlines.parse_day(due_date, zone=zone)
        new_files: list[dict[str, Any]] | None = None
        spooled: list[str] = []
        if uploads:
            self.intake.check_uploads(uploads)
            new_files, spooled = await self.intake.spool_uploads(uploads)

        def write(d: Any) -> int:
            old = store.document_row(d, document_id)
            assert old is not None
            check_can_version(d, old)
            if new_files is None:
                files = _reused_files(d, old)
            else:
                files = new_files
            new_id = states.create_draft(
                d,
                title=old.title,
                entity_type=old.entity_type,
                entity_id=old.entity_id,
                company_id=old.company_id,
                author_id=old.author_id,
                author_name=old.author_name,
                department_id=old.department_id,
                files=files,
                signers=signers,
                counterparty={
                    "name": old.counterparty_name,
                    "inn": old.counterparty_inn,
                    "ogrn": old.counterparty_ogrn,
                    "email": old.counterparty_email,
                },
                disk_folder_id=old.disk_folder_id,
                due_at=deadlines.end_of_day(day, zone) if day else None,
                message=old.message,
                contact=(old.contact_id, old.contact_name) if old.contact_id else None,
            )
            version = old.version + 1
            try:
                version_store.link(d, new_id, previous=old.id, version=version)
            except sqlite3.IntegrityError:
                raise TransitionRefused("has_newer_version", "У документа уже есть новая версия.") from None
            if new_files is None:
                version_store.copy_disk_names(d, from_document=old.id, to_document=new_id)
            else:
                for f, spool_name in zip(store.files(d, new_id), spooled, strict=True):
                    effects.store_file_on_disk(d, f.id, spool_name)
            approval.carry_over(d, from_document=old.id, to_document=new_id)
            new = store.document_row(d, new_id)
            assert new is not None
            actor = f"user:{viewer.user_id}"
            if old.state == DocState.RETURNED:  # still open: withdrawn in favour of its correction
                states.withdraw(
                    d, old.id, actor_id=viewer.user_id, reason=f"Заменён версией {version}.", listeners=self.listeners
                )
            _audit(d, actor, "document.version_created", new, version=version, previous_id=old.id, reused=not uploads)
            _audit(d, actor, "document.superseded", old, version=version, next_id=new_id)
            effects.timeline(
                d,
                new,
                f"KlikDok: создана версия {version} документа «{new.title}» взамен прежней («{old.state.label}»).",
                key=f"doc:{new_id}:timeline:version",
            )
            # Through согласование again when the route has approvers, as the author's «Отправить» would.
            approval.send(
                d,
                new_id,
                actor_id=viewer.user_id,
                counterparty_days=self.settings.workflow.counterparty_days,
                listeners=self.listeners,
            )
            return new_id

        try:
            new_id = await self.db.write(write)
        except BaseException:
            for spool_name in spooled:
                self.intake.spool.remove(spool_name)
            raise
        self.listeners.committed()
        self.wake_outbox()
        return new_id


def _reused_files(d: Any, old: DocumentRow) -> list[dict[str, Any]]:
    """The old version's files for the new one: the same bytes, already on the card's Disk folder (the new rows
    point to the same Disk files). Refused while a file has not reached Disk yet: there would be nothing to
    point to."""
    files = store.files(d, old.id)
    if any(f.disk_file_id is None for f in files):
        raise TransitionRefused(
            "files_not_ready",
            "Файлы прежней версии ещё сохраняются на Диск портала: попробуйте через минуту или приложите файлы.",
        )
    return [
        {
            "name": f.name,
            "size": f.size,
            "content_type": f.content_type,
            "streebog256": f.streebog256,
            "streebog512": f.streebog512,
            "disk_file_id": f.disk_file_id,
        }
        for f in files
    ]


def _audit(d: Any, actor: str, action: str, doc: DocumentRow, **details: Any) -> None:
    audit.append(
        d,
        actor=actor,
        action=action,
        object_type="document",
        object_id=doc.id,
        details={"title": doc.title, "state": doc.state, **details},
    )
