"""What a portal user does to an existing document: send, withdraw, delete, remind, reject, ask to sign, sign.

It changes when who may trigger a transition, or what happens around it, changes: the permission check before
it, the single write transaction that runs it (:mod:`.states`, with the in-transaction listeners), and the
wake-ups after the commit (the outbox and mail workers, the agents hub). Signatures still come in through the
one door, :func:`.signatures.accept_signature`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from server.config import Settings
from server.db import Database

from . import approval, jobs, states, store
from .docstate import DocState
from .listeners import TransitionListeners
from .model import DocumentRow, Job
from .permissions import Viewer
from .queries import DocumentQueries
from .signatures import AcceptedSignature, SignatureDeps, SignerClaim, Source, accept_signature
from .states import TransitionRefused


class Transitions:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        documents: DocumentQueries,
        listeners: TransitionListeners,
        signatures: SignatureDeps,
    ) -> None:
        self.settings = settings
        self.db = db
        self.documents = documents
        self.listeners = listeners
        self.signatures = signatures

    async def send(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "отправить на подпись")
        await self.db.write(
            lambda d: approval.send(
                d,
                document_id,
                actor_id=viewer.user_id,
                counterparty_days=self.settings.workflow.counterparty_days,
                listeners=self.listeners,
            )
        )
        self.listeners.committed()

    async def withdraw(self, viewer: Viewer, document_id: int, reason: str) -> None:
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "отозвать")
        await self.db.write(
            lambda d: states.withdraw(
                d, document_id, actor_id=viewer.user_id, reason=reason[:1000], listeners=self.listeners
            )
        )
        self.listeners.committed()

    async def delete(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "удалить")
        await self.db.write(lambda d: states.delete(d, document_id, actor_id=viewer.user_id, listeners=self.listeners))
        self.listeners.committed()

    async def remind(self, viewer: Viewer, document_id: int) -> None:
        doc = await self.documents.visible_document(viewer, document_id)
        viewer.require_author(doc, "напомнить")
        await self.db.write(
            lambda d: states.remind(
                d, document_id, actor_id=viewer.user_id, per_day=self.settings.limits.manual_reminders_per_day
            )
        )
        self.listeners.committed()

    async def approve(self, viewer: Viewer, document_id: int) -> None:
        """Согласование (issue 17): the approver whose turn it is approves; the last approval starts the signers'
        route in the same transaction. Who may is decided inside it (:func:`.approval.approve`)."""
        await self.documents.visible_document(viewer, document_id)
        await self.db.write(
            lambda d: approval.approve(
                d,
                document_id,
                user_id=viewer.user_id,
                counterparty_days=self.settings.workflow.counterparty_days,
                listeners=self.listeners,
            )
        )
        self.listeners.committed()

    async def send_back(self, viewer: Viewer, document_id: int, comment: str) -> None:
        """The approver whose turn it is returns the document to its author with a comment."""
        await self.documents.visible_document(viewer, document_id)
        await self.db.write(
            lambda d: approval.send_back(
                d, document_id, user_id=viewer.user_id, comment=comment[:1000], listeners=self.listeners
            )
        )
        self.listeners.committed()

    async def _require_current_signer(self, viewer: Viewer, document_id: int) -> tuple[DocumentRow, int]:
        doc = await self.documents.visible_document(viewer, document_id)
        step = await self.db.read(lambda d: store.current_step(d, document_id))
        if doc.state != DocState.AWAITING_INTERNAL or step is None or step.kind != "internal":
            raise TransitionRefused("not_awaiting_signature", "Документ сейчас не ждёт подписи сотрудника.")
        viewer.require_current_signer(step.user_id, step.display_name)
        return doc, step.id

    async def reject(self, viewer: Viewer, document_id: int, reason: str) -> None:
        _, step_id = await self._require_current_signer(viewer, document_id)
        await self.db.write(
            lambda d: states.reject(
                d,
                document_id,
                step_id=step_id,
                actor=f"user:{viewer.user_id}",
                reason=reason[:1000],
                listeners=self.listeners,
            )
        )
        self.listeners.committed()

    async def sign_request(self, viewer: Viewer, document_ids: Sequence[int], channel: str = "any") -> list[Job]:
        """The open signing job of each document whose current step is this viewer's, on ``channel``.

        A waiting job asked for on another channel moves there (:func:`.jobs.request`); one that another channel
        is signing right now refuses the whole request with ``job_in_flight``, and nothing changes. The agents
        hub is woken once the jobs are committed, so a connected agent gets them at once.
        """
        steps = [
            (document_id, (await self._require_current_signer(viewer, document_id))[1])
            for document_id in dict.fromkeys(document_ids)
        ]
        if not steps:
            return []

        def write(d: Any) -> list[Job]:
            ids = [
                jobs.request(d, document_id=document_id, step_id=step_id, user_id=viewer.user_id, channel=channel)
                for document_id, step_id in steps
            ]
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

    async def submit_signature(
        self,
        viewer: Viewer,
        document_id: int,
        file_id: int,
        cms: bytes,
        *,
        source: Source = "upload",
        job_id: int | None = None,
    ) -> AcceptedSignature:
        """A signature presented by a signed-in user (uploaded .sig); the route check is accept_signature's."""
        await self.documents.visible_document(viewer, document_id)
        return await accept_signature(
            self.signatures,
            document_id=document_id,
            file_id=file_id,
            cms=cms,
            claim=SignerClaim("internal", user_id=viewer.user_id),
            source=source,
            job_id=job_id,
        )
