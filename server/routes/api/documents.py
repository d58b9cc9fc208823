"""``/api/v1``: documents, their routes and signatures, for the portal pages (and later the agent's UI).

Every call carries the page session (``X-KlikDok-Session``); the user id comes from it, never from the request.
Errors are ``{"error": code, "message": Russian text}`` with the HTTP status of the refusal
(:mod:`server.routes.errors`); a 403 on a route with ``audit_action`` is also written to the audit log
(``access.denied``).
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import Parameter, QueryParameter

from server.agents import store as jobs_store
from server.bitrix24.entities import cards_phrase, is_known
from server.config import Settings
from server.cryptoarm import transaction_store
from server.db import Database
from server.portal.sessions import Session
from server.text import portal_zone
from server.workflow import certificate_offers, docstate, job_store, previews, store
from server.workflow.audit_log import AuditLog, AuditLogPage
from server.workflow.directory import PersonInfo, PortalDirectory
from server.workflow.docstate import DocState
from server.workflow.downloads import Downloads
from server.workflow.files import safe_name
from server.workflow.intake import Intake, Upload
from server.workflow.model import DocumentDetail, DocumentPage, Job
from server.workflow.packaging import Packaging
from server.workflow.paper_copies import PaperCopies
from server.workflow.permissions import PermissionDenied, Viewer
from server.workflow.queries import DocumentQueries
from server.workflow.reports import Reports
from server.workflow.signatures import AcceptedSignature
from server.workflow.transitions import Transitions

from ..errors import ApiProblem, audit_object
from ..uploads import Limits, ReceivedForm, receive_body, receive_form

MIB = 1024 * 1024
# A signature upload may be multipart: room for the part headers around the signature itself.
FORM_OVERHEAD = 64 * 1024


def document_uploads(form: ReceivedForm) -> list[Upload]:
    """The document files of a received form (field ``files``), as the workflow takes them: a new document's and
    a new version's alike."""
    return [
        Upload(
            name=f.filename or "document",
            path=f.path,
            size=f.size,
            streebog256=f.streebog256,
            streebog512=f.streebog512,
            content_type=f.content_type,
        )
        for f in form.files
        if f.field == "files"
    ]


def document_limits(settings: Settings) -> Limits:
    """``[limits] max_upload_mb`` per file and ``max_request_mb`` for the whole request that creates a document."""
    per_file, total = settings.limits.max_upload_mb, settings.limits.max_request_mb
    return Limits(
        file_bytes=per_file * MIB,
        total_bytes=total * MIB,
        file_too_large=lambda name: (
            f"Файл «{safe_name(name)}» больше {per_file} МБ, такие файлы не принимаются. Документ не создан."
        ),
        total_too_large=f"Файлы вместе больше {total} МБ, столько за один раз не принимается. Документ не создан: "
        "уменьшите файлы или разделите их на несколько документов.",
    )


def signature_limits(settings: Settings) -> Limits:
    """``[limits] max_signature_kb`` for an uploaded .sig (a signature is small; anything bigger is not one)."""
    kb = settings.limits.max_signature_kb
    message = f"Файл подписи больше {kb} КБ: это не похоже на подпись. Подпись не принята."
    return Limits(
        file_bytes=kb * 1024,
        total_bytes=kb * 1024 + FORM_OVERHEAD,
        file_too_large=lambda _name: message,
        total_too_large=message,
    )


def attachment(name: str, data: bytes, media_type: str) -> Response[bytes]:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        data,
        media_type=media_type,
        headers={
            "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


# A previewed file is shown inside the panel only: nothing in it may run, load or submit anything.
PREVIEW_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; object-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'"
)


def preview(name: str, data: bytes) -> Response[bytes]:
    """Inline only for what :func:`server.workflow.previews.served` recognises by its bytes (PDF, PNG, JPEG, GIF,
    WebP), with that type; anything else, whatever its name or claimed type, as an octet-stream attachment."""
    served = previews.served(data)
    if not served.inline:
        return attachment(name, data, served.content_type)
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(
        data,
        media_type=served.content_type,
        headers={
            "Content-Disposition": f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
            "Content-Security-Policy": PREVIEW_CSP,
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff",
        },
    )


class RouteBody(msgspec.Struct):
    signers: list[int]
    counterparty_email: str | None = None
    # Issue 17: given, they replace the approvers (in ``approval`` order) and the observers; absent: unchanged.
    approvers: list[int] | None = None
    approval: Literal["sequential", "parallel"] = "sequential"
    observers: list[int] | None = None


class ReasonBody(msgspec.Struct):
    reason: str = ""


class SignRequestBody(msgspec.Struct):
    document_ids: list[int]
    channel: Literal["any", "agent", "cryptoarm", "upload"] = "any"


class Created(msgspec.Struct):
    id: int
    state: str


class Done(msgspec.Struct):
    ok: bool = True


class Me(msgspec.Struct):
    user_id: int
    auditor: bool
    department_head: bool
    managed_departments: list[int]
    entity_type: str
    entity_id: int


class JobProgress(msgspec.Struct):
    """Where one signing job stands, for the page that waits on it (agent or CryptoARM GOST)."""

    id: int
    document_id: int
    title: str
    status: str
    channel: str
    error: str
    document_state: str
    document_state_label: str
    cryptoarm_state: str
    cryptoarm_message: str
    refusal: str  # the agent's signature the workflow refused ("code: message"), while the job stays open
    # The offer to bind the certificate of that refused signature (agent or CryptoARM), given once to the job's own
    # user: token, certificate, expires_at (server.workflow.certificate_offers.hand_out).
    bind_offer: dict[str, str] | None = None


async def job_progress(session: Session, db: Database, wanted: list[int]) -> list[JobProgress]:
    """Where each of ``wanted`` stands (the session user's own jobs only), with the latest CryptoARM run over it
    and, once, the offer to bind the certificate of a signature refused for it."""
    if not wanted:
        return []

    def offers(d: Any) -> dict[int, dict[str, Any]]:
        return certificate_offers.hand_out(d, user_id=session.user_id, job_ids=wanted)

    waiting = await db.read(lambda d: certificate_offers.waiting(d, session.user_id, wanted))
    handed = await db.write(offers) if waiting else {}

    def read(d: Any) -> list[JobProgress]:
        rows = jobs_store.job_progress(d, session.user_id, wanted)
        runs: dict[int, tuple[str, str]] = {}
        for run in transaction_store.job_runs(d, session.user_id):
            for job_id in run.job_ids:
                runs.setdefault(job_id, (run.state, run.refused.get(str(job_id), "")))
        return [
            JobProgress(
                id=r.id,
                document_id=r.document_id,
                title=r.title,
                status=r.status,
                channel=r.channel,
                error=r.error,
                document_state=r.document_state,
                document_state_label=docstate.label(r.document_state),
                cryptoarm_state=runs.get(r.id, ("", ""))[0],
                cryptoarm_message=runs.get(r.id, ("", ""))[1],
                refusal=r.refusal,
                bind_offer=handed.get(r.id),
            )
            for r in rows
        ]

    return await db.read(read)


def _ids(value: object) -> list[int]:
    """User ids of a form field: "3,5" (or "3;5"); a non-number is a ValueError."""
    return [int(x) for x in str(value or "").replace(";", ",").split(",") if x.strip()]


def audited(action: str, **more: str) -> dict[str, Any]:
    """The route's ``opt``: a 403 on it is audited as ``action`` (see :mod:`server.routes.errors`)."""
    return {"audit_action": action, **{f"audit_{k}": v for k, v in more.items()}}


class DocumentsController(Controller):
    path = "/api/v1"
    tags = ["documents"]

    @get("/me", operation_id="me", summary="Who the session is and which roles they have")
    async def me(self, session: Session, viewer: Viewer) -> Me:
        return Me(
            user_id=session.user_id,
            auditor=viewer.auditor,
            department_head=viewer.is_head,
            managed_departments=sorted(viewer.managed_departments),
            entity_type=session.entity_type,
            entity_id=session.entity_id,
        )

    @get(
        "/directory/users",
        operation_id="directory_users",
        summary="Active employees (signer picker)",
        opt=audited("directory"),
    )
    async def users(self, session: Session, directory: PortalDirectory) -> list[PersonInfo]:
        return await directory.people()

    @get(
        "/documents",
        operation_id="list_documents",
        summary="Documents visible to the session's user",
        opt=audited("list"),
    )
    async def list_documents(
        self,
        session: Session,
        viewer: Viewer,
        documents: DocumentQueries,
        view: Literal["entity", "mine", "queue", "approvals", "department", "all"] = "entity",
        entity_type: str = Parameter(
            default="",
            max_length=64,
            description="a CRM kind's code (server.bitrix24.entities), dynamic_<entityTypeId> for a smart process",
        ),
        entity_id: int = 0,
        states: Annotated[list[str] | None, QueryParameter(name="state")] = None,
        q: str = "",
        overdue: bool = False,
        role: Literal["", "created", "waiting", "signed"] = Parameter(
            default="", description='view=mine: "created" by me, "waiting" for me, "signed" by me; "" all of mine'
        ),
        group: Literal["", "open", "final"] = Parameter(default="", description="open or final states only"),
        kind: str = Parameter(
            default="", max_length=64, description="view=entity on a company card: one kind of its cards only"
        ),
        limit: int = Parameter(default=50, ge=1, le=200),
        offset: int = Parameter(default=0, ge=0),
    ) -> DocumentPage:
        entity = None
        if view == "entity":
            et, eid = (entity_type, entity_id) if entity_type else (session.entity_type, session.entity_id)
            if not is_known(et) or eid <= 0:
                raise ApiProblem(400, "bad_request", f"Не указана карточка {cards_phrase('или')}.")
            entity = (et, eid)
        return await documents.list(
            viewer,
            view=view,
            entity=entity,
            states_=states or [],
            query=q.strip()[:200],
            overdue=overdue,
            role=role,
            group=group,
            kind=kind,
            limit=limit,
            offset=offset,
        )

    @post(
        "/documents",
        operation_id="create_document",
        status_code=201,
        request_max_body_size=None,
        summary="Create a draft (multipart: files, title, signers, entity, due_date, message, contact_id, "
        "contact_email, approvers, approval (sequential|parallel), observers; send=1 sends it at once)",
        opt=audited("create"),
    )
    async def create(
        self, request: Request, session: Session, viewer: Viewer, intake: Intake, settings: Settings
    ) -> Created:
        """The body is streamed to temporary files (:mod:`server.routes.uploads`), never held in memory; a file over
        ``max_upload_mb`` or a request over ``max_request_mb`` is refused with 413 as soon as it gets there."""
        async with receive_form(request, settings.storage.path, document_limits(settings)) as form:
            return await self._create(session, intake, form)

    async def _create(self, session: Session, intake: Intake, form: ReceivedForm) -> Created:
        field = form.get
        uploads = document_uploads(form)
        entity_type = str(field("entity_type") or session.entity_type)
        try:
            entity_id = int(field("entity_id") or session.entity_id)
            signers = _ids(field("signers"))
            approvers, observers = _ids(field("approvers")), _ids(field("observers"))
            contact_id = int(field("contact_id") or 0) or None
        except ValueError:
            raise ApiProblem(400, "bad_request", "Неверный номер карточки CRM, подписанта или контакта.") from None
        if not session.entity_type:
            raise PermissionDenied(
                "no_entity", f"Документ создаётся из вкладки «ЭДО» в карточке {cards_phrase('или')}."
            )
        if (entity_type, entity_id) != (session.entity_type, session.entity_id):
            raise PermissionDenied("other_entity", "Документ создаётся из карточки, в которой открыта вкладка.")
        send = str(field("send") or "") in ("1", "true", "on")
        approval = str(field("approval") or "sequential")
        if approval not in ("sequential", "parallel"):
            raise ApiProblem(400, "bad_request", "Порядок согласования: «по очереди» или «одновременно».")
        doc_id = await intake.create(
            session.user_id,
            entity_type=entity_type,
            entity_id=entity_id,
            title=str(field("title") or ""),
            uploads=uploads,
            signer_ids=signers,
            counterparty_email=str(field("counterparty_email") or ""),
            send=send,
            due_date=str(field("due_date") or ""),
            message=str(field("message") or ""),
            contact_id=contact_id,
            contact_email=str(field("contact_email") or ""),
            approver_ids=approvers,
            approval_mode=approval,
            observer_ids=observers,
        )
        if not send:
            return Created(id=doc_id, state=DocState.DRAFT)
        return Created(id=doc_id, state=DocState.APPROVAL if approvers else DocState.AWAITING_INTERNAL)

    @get(
        "/documents/{document_id:int}",
        operation_id="get_document",
        summary="A document with route and history",
        opt=audited("view"),
    )
    async def detail(self, viewer: Viewer, documents: DocumentQueries, document_id: int) -> DocumentDetail:
        return await documents.detail(viewer, document_id)

    @put(
        "/documents/{document_id:int}/route",
        operation_id="set_route",
        summary="Set the internal signers (draft)",
        opt=audited("route"),
    )
    async def set_route(self, viewer: Viewer, intake: Intake, document_id: int, data: RouteBody) -> Done:
        await intake.set_route(
            viewer,
            document_id,
            data.signers,
            data.counterparty_email,
            approver_ids=data.approvers,
            approval_mode=data.approval,
            observer_ids=data.observers,
        )
        return Done()

    @post("/documents/{document_id:int}/send", operation_id="send_document", status_code=200, opt=audited("send"))
    async def send(self, viewer: Viewer, transitions: Transitions, document_id: int) -> Done:
        await transitions.send(viewer, document_id)
        return Done()

    @post(
        "/documents/{document_id:int}/withdraw",
        operation_id="withdraw_document",
        status_code=200,
        opt=audited("withdraw"),
    )
    async def withdraw(self, viewer: Viewer, transitions: Transitions, document_id: int, data: ReasonBody) -> Done:
        await transitions.withdraw(viewer, document_id, data.reason)
        return Done()

    @post("/documents/{document_id:int}/remind", operation_id="remind_signer", status_code=200, opt=audited("remind"))
    async def remind(self, viewer: Viewer, transitions: Transitions, document_id: int) -> Done:
        await transitions.remind(viewer, document_id)
        return Done()

    @post("/documents/{document_id:int}/reject", operation_id="reject_document", status_code=200, opt=audited("reject"))
    async def reject(self, viewer: Viewer, transitions: Transitions, document_id: int, data: ReasonBody) -> Done:
        await transitions.reject(viewer, document_id, data.reason)
        return Done()

    @delete("/documents/{document_id:int}", operation_id="delete_document", status_code=200, opt=audited("delete"))
    async def delete_draft(self, viewer: Viewer, transitions: Transitions, document_id: int) -> Done:
        await transitions.delete(viewer, document_id)
        return Done()

    @post(
        "/documents/sign-request",
        operation_id="sign_request",
        status_code=200,
        summary="Open signing jobs for one or many documents waiting for the session's user",
        opt=audited("sign-request"),
    )
    async def sign_request(
        self,
        request: Request,
        viewer: Viewer,
        transitions: Transitions,
        data: SignRequestBody,
    ) -> list[Job]:
        audit_object(request, data.document_ids[0] if data.document_ids else None)
        return await transitions.sign_request(viewer, data.document_ids, data.channel)

    @post(
        "/jobs/{job_id:int}/cancel",
        operation_id="cancel_job",
        status_code=200,
        summary="Stop signing one document (agent or CryptoARM); the document keeps waiting for its signer",
        opt=audited("cancel-job", object="job_id", object_type="job"),
    )
    async def cancel_job(self, viewer: Viewer, transitions: Transitions, job_id: int) -> Job:
        return await transitions.cancel_job(viewer, job_id)

    @get("/jobs", operation_id="my_jobs", summary="Open signing jobs of the session's user")
    async def jobs(self, session: Session, db: Database) -> list[Job]:
        return await db.read(lambda d: store.open_jobs(d, session.user_id))

    @get(
        "/jobs/status",
        operation_id="jobs_status",
        summary="Progress of the session user's jobs (closed ones too) and of their latest CryptoARM run",
    )
    async def jobs_status(
        self, session: Session, db: Database, ids: Annotated[list[int] | None, QueryParameter(name="ids")] = None
    ) -> list[JobProgress]:
        return await job_progress(session, db, list(dict.fromkeys(ids or []))[:200])

    @get(
        "/jobs/in-progress",
        operation_id="jobs_in_progress",
        summary="The session user's jobs being signed now (agent jobs, CryptoARM jobs with a live link), with "
        "their progress: a reloaded page puts its progress panel back from these",
    )
    async def jobs_in_progress(self, session: Session, db: Database) -> list[JobProgress]:
        now = datetime.now(UTC).isoformat(timespec="seconds")  # the CryptoARM transactions' own format
        wanted = await db.read(lambda d: job_store.in_progress(d, session.user_id, now))
        return await job_progress(session, db, wanted)

    @post(
        "/documents/{document_id:int}/files/{file_id:int}/signatures",
        operation_id="upload_signature",
        status_code=201,
        request_max_body_size=None,
        summary="Submit a detached CMS signature of one file (raw body or multipart field 'signature')",
        opt=audited("sign"),
    )
    async def upload_signature(
        self,
        request: Request,
        viewer: Viewer,
        transitions: Transitions,
        settings: Settings,
        document_id: int,
        file_id: int,
        job_id: int | None = None,
    ) -> AcceptedSignature:
        limits = signature_limits(settings)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype == "multipart/form-data":
            async with receive_form(request, settings.storage.path, limits) as form:
                part = next((f for f in form.files if f.field == "signature"), None)
                if part is None:
                    raise ApiProblem(400, "no_signature", "Приложите файл подписи (.sig).")
                cms = await asyncio.to_thread(part.read_bytes)
        else:
            async with receive_body(request, settings.storage.path, limits, name="signature") as body:
                cms = await asyncio.to_thread(body.read_bytes)
        return await transitions.submit_signature(viewer, document_id, file_id, cms, job_id=job_id)

    @get(
        "/documents/{document_id:int}/files/{file_id:int}/content",
        operation_id="download_file",
        summary="The original file (exactly the bytes that are signed)",
        opt=audited("download"),
    )
    async def download_file(
        self, viewer: Viewer, downloads: Downloads, document_id: int, file_id: int
    ) -> Response[bytes]:
        name, _, data = await downloads.download_file(viewer, document_id, file_id)
        return attachment(name, data, previews.served(data).content_type)

    @get(
        "/documents/{document_id:int}/files/{file_id:int}/preview",
        operation_id="preview_file",
        summary="The original file to show in the panel: inline only for a PDF or an image recognised by its bytes",
        opt=audited("download"),
    )
    async def preview_file(
        self, viewer: Viewer, downloads: Downloads, document_id: int, file_id: int
    ) -> Response[bytes]:
        name, _, data = await downloads.download_file(viewer, document_id, file_id)
        return preview(name, data)

    @get(
        "/documents/{document_id:int}/signatures/{signature_id:int}",
        operation_id="download_signature",
        opt=audited("download"),
    )
    async def download_signature(
        self, viewer: Viewer, downloads: Downloads, document_id: int, signature_id: int
    ) -> Response[bytes]:
        name, data = await downloads.download_signature(viewer, document_id, signature_id)
        return attachment(name, data, "application/pkcs7-signature")

    @get(
        "/documents/{document_id:int}/package",
        operation_id="download_package",
        summary="ZIP with the files, their .sig files and the verification report (HTML, JSON)",
        opt=audited("package"),
    )
    async def package(self, viewer: Viewer, packaging: Packaging, document_id: int) -> Response[bytes]:
        name, data = await packaging.package(viewer, document_id)
        return attachment(name, data, "application/zip")

    @get(
        "/documents/{document_id:int}/files/{file_id:int}/stamped.pdf",
        operation_id="download_stamped_copy",
        summary="The file's copy with the marks of its electronic signatures and a QR code of the public verdict "
        "(a signing sheet PDF for a non-PDF original); 409 before the file's first signature",
        opt=audited("download"),
    )
    async def stamped_copy(self, viewer: Viewer, paper: PaperCopies, document_id: int, file_id: int) -> Response[bytes]:
        name, data = await paper.stamped_for(viewer, document_id, file_id)
        return attachment(name, data, "application/pdf")

    @get("/documents/{document_id:int}/report", operation_id="verification_report", opt=audited("report"))
    async def report(
        self,
        viewer: Viewer,
        reports: Reports,
        document_id: int,
        format: Literal["json", "html"] = "json",
    ) -> Response[Any]:
        data, html = await reports.report(viewer, document_id)
        if format == "html":
            return Response(html, media_type="text/html", headers={"Cache-Control": "no-store"})
        return Response(json.loads(json.dumps(data, default=str)), headers={"Cache-Control": "no-store"})

    @get(
        "/audit",
        operation_id="audit_search",
        summary="A page of the audit log in words (auditors only): names, phrases, document titles",
        opt=audited("audit"),
    )
    async def audit_search(
        self,
        viewer: Viewer,
        db: Database,
        directory: PortalDirectory,
        settings: Settings,
        q: str = Parameter(default="", max_length=200),
        action: str = Parameter(default="", max_length=64),
        document_id: int = 0,
        date_from: date | None = Parameter(default=None, description="first day, in the portal's zone"),
        date_to: date | None = Parameter(default=None, description="last day (included), in the portal's zone"),
        limit: int = Parameter(default=50, ge=1, le=200),
        offset: int = Parameter(default=0, ge=0),
    ) -> AuditLogPage:
        zone = portal_zone(settings.portal.timezone)  # checked at start
        if date_from and date_to and date_from > date_to:
            raise ApiProblem(400, "bad_request", "Начало периода позже его конца.")
        return await AuditLog(db, directory).page(
            viewer,
            q=q.strip(),
            action=action,
            document_id=document_id,
            since=date_from,
            until=date_to,
            zone=zone,
            limit=limit,
            offset=offset,
        )
