"""``/api/v1``: documents, their routes and signatures, for the portal pages (and later the agent's UI).

Every call carries the page session (``X-KlikDok-Session``); the user id comes from it, never from the request.
Errors are ``{"error": code, "message": Russian text}`` with the HTTP status of the refusal; every 403 is also
written to the audit log (``access.denied``).
"""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any, Literal
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, delete, get, post, put
from litestar.params import Parameter

from server.bitrix24 import Bitrix24Error
from server.bitrix24.entities import CODES, KINDS, cards_phrase
from server.config import Settings
from server.db import audit
from server.portal.sessions import Session
from server.web.b24 import current_session
from server.web.uploads import Limits, ReceivedForm, UploadRefused, receive_body, receive_form
from server.workflow import certificates, docstate
from server.workflow.docstate import DocState
from server.workflow.files import safe_name
from server.workflow.model import DocumentDetail, DocumentPage, Job
from server.workflow.permissions import PermissionDenied, Viewer
from server.workflow.service import PersonInfo, PortalMissing, Upload, Workflow
from server.workflow.signatures import AcceptedSignature, SignatureRefused
from server.workflow.states import TransitionRefused

MIB = 1024 * 1024
# A signature upload may be multipart: room for the part headers around the signature itself.
FORM_OVERHEAD = 64 * 1024


class ApiProblem(Exception):
    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def problem_response(request: Request, exc: ApiProblem) -> Response[dict[str, Any]]:
    headers = {"Cache-Control": "no-store"}
    if exc.status == 413:
        # The rest of a refused body is not worth reading: closing the connection stops it at once.
        headers["Connection"] = "close"
    return Response({"error": exc.code, "message": exc.message, **exc.extra}, status_code=exc.status,
                    headers=headers)


def workflow_of(request: Request) -> Workflow:
    return request.app.state.services.workflow  # type: ignore[no-any-return]


async def guarded(request: Request, session: Session, what: str, document_id: int | None, call: Any, *,
                  object_type: str = "document") -> Any:
    """Run ``call()`` and turn workflow refusals into API problems; 403s are audited.

    ``document_id`` names the object the 403 is audited against (a job id with ``object_type="job"``).
    """
    try:
        return await call()
    except PermissionDenied as exc:
        denied = {"action": what, "code": exc.code}
        await workflow_of(request).db.write(lambda d: audit.append(
            d, actor=f"user:{session.user_id}", action="access.denied", object_type=object_type if document_id else "",
            object_id=document_id or "", details=denied))
        raise ApiProblem(403, exc.code, exc.message) from None
    except SignatureRefused as exc:
        if exc.status == 403:
            refused = {"action": what, "code": exc.code}
            await workflow_of(request).db.write(lambda d: audit.append(
                d, actor=f"user:{session.user_id}", action="access.denied", object_type="document",
                object_id=document_id or "", details=refused))
        raise ApiProblem(exc.status, exc.code, exc.message, {"details": exc.details} if exc.details else None) from None
    except TransitionRefused as exc:
        # JobInFlight adds where the job is being signed (job_id, document_id, in_flight: "agent" | "cryptoarm").
        raise ApiProblem(exc.status, exc.code, exc.message, getattr(exc, "details", None)) from None
    except PortalMissing as exc:
        raise ApiProblem(502, "portal_unavailable", str(exc)) from None
    except Bitrix24Error as exc:
        raise ApiProblem(502, "portal_error", f"Портал Битрикс24 ответил ошибкой ({exc.code}). Попробуйте позже.") from None


def document_limits(settings: Settings) -> Limits:
    """``[limits] max_upload_mb`` per file and ``max_request_mb`` for the whole request that creates a document."""
    per_file, total = settings.limits.max_upload_mb, settings.limits.max_request_mb
    return Limits(
        file_bytes=per_file * MIB, total_bytes=total * MIB,
        file_too_large=lambda name: f"Файл «{safe_name(name)}» больше {per_file} МБ, такие файлы не принимаются. "
                                    "Документ не создан.",
        total_too_large=f"Файлы вместе больше {total} МБ, столько за один раз не принимается. Документ не создан: "
                        "уменьшите файлы или разделите их на несколько документов.")


def signature_limits(settings: Settings) -> Limits:
    """``[limits] max_signature_kb`` for an uploaded .sig (a signature is small; anything bigger is not one)."""
    kb = settings.limits.max_signature_kb
    message = f"Файл подписи больше {kb} КБ: это не похоже на подпись. Подпись не принята."
    return Limits(file_bytes=kb * 1024, total_bytes=kb * 1024 + FORM_OVERHEAD, file_too_large=lambda _name: message,
                  total_too_large=message)


def attachment(name: str, data: bytes, media_type: str) -> Response[bytes]:
    ascii_name = name.encode("ascii", "replace").decode().replace("?", "_").replace('"', "_")
    return Response(data, media_type=media_type, headers={
        "Content-Disposition": f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}",
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


class RouteBody(msgspec.Struct):
    signers: list[int]
    counterparty_email: str | None = None


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


class Certificate(msgspec.Struct):
    serial: str
    subject: str
    issuer: str


class CertificateChallenge(msgspec.Struct):
    challenge: str  # sign exactly these bytes (UTF-8), detached, with the certificate's key
    expires_at: str


class CertificateRegistration(msgspec.Struct):
    certificate: str  # PEM, or base64 of the DER
    challenge: str
    signature: str  # detached CMS over the challenge: base64 of the DER, or PEM


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


class AuditRow(msgspec.Struct):
    id: int
    at: str
    actor: str
    action: str
    object_type: str
    object_id: str
    details: dict[str, Any]


class DocumentsController(Controller):
    path = "/api/v1"
    tags = ["documents"]
    exception_handlers = {ApiProblem: problem_response}

    async def _viewer(self, request: Request) -> tuple[Session, Viewer]:
        session = current_session(request)
        return session, await workflow_of(request).viewer(session.user_id)

    @get("/me", operation_id="me", summary="Who the session is and which roles they have")
    async def me(self, request: Request) -> Me:
        session, viewer = await self._viewer(request)
        return Me(user_id=session.user_id, auditor=viewer.auditor, department_head=viewer.is_head,
                  managed_departments=sorted(viewer.managed_departments), entity_type=session.entity_type,
                  entity_id=session.entity_id)

    @get("/directory/users", operation_id="directory_users", summary="Active employees (signer picker)")
    async def users(self, request: Request) -> list[PersonInfo]:
        session = current_session(request)
        return await guarded(request, session, "directory", None, workflow_of(request).people)  # type: ignore[no-any-return]

    @get("/documents", operation_id="list_documents", summary="Documents visible to the session's user")
    async def list_documents(
        self, request: Request,
        view: Literal["entity", "mine", "queue", "department", "all"] = "entity",
        entity_type: str = Parameter(default="", max_length=64,
                                     schema_extra={"enum": ["", *(kind.code for kind in KINDS)]}),
        entity_id: int = 0,
        states: list[str] | None = Parameter(query="state", default=None),
        q: str = "",
        overdue: bool = False,
        limit: int = Parameter(default=50, ge=1, le=200),
        offset: int = Parameter(default=0, ge=0),
    ) -> DocumentPage:
        session, viewer = await self._viewer(request)
        entity = None
        if view == "entity":
            et, eid = (entity_type, entity_id) if entity_type else (session.entity_type, session.entity_id)
            if et not in CODES or eid <= 0:
                raise ApiProblem(400, "bad_request", f"Не указана карточка {cards_phrase('или')}.")
            entity = (et, eid)
        wf = workflow_of(request)
        return await guarded(request, session, "list", None, lambda: wf.list(  # type: ignore[no-any-return]
            viewer, view=view, entity=entity, states_=states or [], query=q.strip()[:200], overdue=overdue,
            limit=limit, offset=offset))

    @post("/documents", operation_id="create_document", status_code=201, request_max_body_size=None,
          summary="Create a draft (multipart: files, title, signers, entity; send=1 sends it at once)")
    async def create(self, request: Request) -> Created:
        """The body is streamed to temporary files (:mod:`server.web.uploads`), never held in memory; a file over
        ``max_upload_mb`` or a request over ``max_request_mb`` is refused with 413 as soon as it gets there."""
        session, viewer = await self._viewer(request)
        settings: Settings = request.app.state.services.settings
        try:
            async with receive_form(request, settings.storage.path, document_limits(settings)) as form:
                return await self._create(request, session, form)
        except UploadRefused as exc:
            raise ApiProblem(exc.status, exc.code, exc.message) from None

    async def _create(self, request: Request, session: Session, form: ReceivedForm) -> Created:
        field = form.get
        uploads = [Upload(name=f.filename or "document", path=f.path, size=f.size, streebog256=f.streebog256,
                          streebog512=f.streebog512, content_type=f.content_type) for f in form.files if f.field == "files"]
        entity_type = str(field("entity_type") or session.entity_type)
        try:
            entity_id = int(field("entity_id") or session.entity_id)
            signers = [int(x) for x in str(field("signers") or "").replace(";", ",").split(",") if x.strip()]
        except ValueError:
            raise ApiProblem(400, "bad_request", "Неверный номер карточки CRM или подписанта.") from None
        wf = workflow_of(request)

        async def run() -> Created:
            if not session.entity_type:
                raise PermissionDenied("no_entity", f"Документ создаётся из вкладки «ЭДО» в карточке {cards_phrase('или')}.")
            if (entity_type, entity_id) != (session.entity_type, session.entity_id):
                raise PermissionDenied("other_entity", "Документ создаётся из карточки, в которой открыта вкладка.")
            send = str(field("send") or "") in ("1", "true", "on")
            doc_id = await wf.create(session.user_id, entity_type=entity_type, entity_id=entity_id,
                                     title=str(field("title") or ""), uploads=uploads, signer_ids=signers,
                                     counterparty_email=str(field("counterparty_email") or ""), send=send)
            return Created(id=doc_id, state=DocState.AWAITING_INTERNAL if send else DocState.DRAFT)

        return await guarded(request, session, "create", None, run)  # type: ignore[no-any-return]

    @get("/documents/{document_id:int}", operation_id="get_document", summary="A document with route and history")
    async def detail(self, request: Request, document_id: int) -> DocumentDetail:
        session, viewer = await self._viewer(request)
        return await guarded(request, session, "view", document_id,  # type: ignore[no-any-return]
                             lambda: workflow_of(request).detail(viewer, document_id))

    @put("/documents/{document_id:int}/route", operation_id="set_route", summary="Set the internal signers (draft)")
    async def set_route(self, request: Request, document_id: int, data: RouteBody) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "route", document_id, lambda: workflow_of(request).set_route(
            viewer, document_id, data.signers, data.counterparty_email))
        return Done()

    @post("/documents/{document_id:int}/send", operation_id="send_document", status_code=200)
    async def send(self, request: Request, document_id: int) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "send", document_id, lambda: workflow_of(request).send(viewer, document_id))
        return Done()

    @post("/documents/{document_id:int}/withdraw", operation_id="withdraw_document", status_code=200)
    async def withdraw(self, request: Request, document_id: int, data: ReasonBody) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "withdraw", document_id,
                      lambda: workflow_of(request).withdraw(viewer, document_id, data.reason))
        return Done()

    @post("/documents/{document_id:int}/remind", operation_id="remind_signer", status_code=200)
    async def remind(self, request: Request, document_id: int) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "remind", document_id, lambda: workflow_of(request).remind(viewer, document_id))
        return Done()

    @post("/documents/{document_id:int}/reject", operation_id="reject_document", status_code=200)
    async def reject(self, request: Request, document_id: int, data: ReasonBody) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "reject", document_id,
                      lambda: workflow_of(request).reject(viewer, document_id, data.reason))
        return Done()

    @delete("/documents/{document_id:int}", operation_id="delete_document", status_code=200)
    async def delete_draft(self, request: Request, document_id: int) -> Done:
        session, viewer = await self._viewer(request)
        await guarded(request, session, "delete", document_id, lambda: workflow_of(request).delete(viewer, document_id))
        return Done()

    @post("/documents/sign-request", operation_id="sign_request", status_code=200,
          summary="Open signing jobs for one or many documents waiting for the session's user")
    async def sign_request(self, request: Request, data: SignRequestBody) -> list[Job]:
        session, viewer = await self._viewer(request)
        return await guarded(request, session, "sign-request", data.document_ids[0] if data.document_ids else None,  # type: ignore[no-any-return]
                             lambda: workflow_of(request).sign_request(viewer, data.document_ids, data.channel))

    @post("/jobs/{job_id:int}/cancel", operation_id="cancel_job", status_code=200,
          summary="Stop signing one document (agent or CryptoARM); the document keeps waiting for its signer")
    async def cancel_job(self, request: Request, job_id: int) -> Job:
        session, viewer = await self._viewer(request)
        return await guarded(request, session, "cancel-job", job_id,  # type: ignore[no-any-return]
                             lambda: workflow_of(request).cancel_job(viewer, job_id), object_type="job")

    @get("/jobs", operation_id="my_jobs", summary="Open signing jobs of the session's user")
    async def jobs(self, request: Request) -> list[Job]:
        session = current_session(request)
        from server.workflow import store

        return await workflow_of(request).db.read(lambda d: store.open_jobs(d, session.user_id))

    @get("/jobs/status", operation_id="jobs_status",
         summary="Progress of the session user's jobs (closed ones too) and of their latest CryptoARM run")
    async def jobs_status(self, request: Request,
                          ids: list[int] | None = Parameter(query="ids", default=None)) -> list[JobProgress]:
        session = current_session(request)
        wanted = list(dict.fromkeys(ids or []))[:200]
        if not wanted:
            return []

        def read(d: Any) -> list[JobProgress]:
            marks = ",".join("?" * len(wanted))
            rows = d.execute(
                "SELECT j.id, j.document_id, d.title, j.status, j.channel, j.error, d.state FROM jobs j"
                f" JOIN documents d ON d.id = j.document_id WHERE j.id IN ({marks}) AND j.user_id = ? ORDER BY j.id",
                [*wanted, session.user_id]).fetchall()
            runs: dict[int, tuple[str, str]] = {}
            for state, targets, outcome in d.execute(
                    "SELECT state, targets, outcome FROM cryptoarm_transactions WHERE kind = 'job' AND user_id = ?"
                    " ORDER BY id DESC LIMIT 500", [session.user_id]).fetchall():
                refused = {str(r.get("key", "")).split(".")[0]: str(r.get("message", ""))
                           for r in json.loads(outcome or "{}").get("refused", []) if isinstance(r, dict)}
                for job_id in json.loads(targets or "[]"):
                    runs.setdefault(int(job_id), (state, refused.get(str(job_id), "")))
            return [JobProgress(id=r[0], document_id=r[1], title=r[2], status=r[3], channel=r[4], error=r[5],
                                document_state=r[6], document_state_label=docstate.label(r[6]),
                                cryptoarm_state=runs.get(r[0], ("", ""))[0],
                                cryptoarm_message=runs.get(r[0], ("", ""))[1]) for r in rows]

        return await workflow_of(request).db.read(read)  # type: ignore[no-any-return]

    @post("/documents/{document_id:int}/files/{file_id:int}/signatures", operation_id="upload_signature",
          status_code=201, request_max_body_size=None,
          summary="Submit a detached CMS signature of one file (raw body or multipart field 'signature')")
    async def upload_signature(self, request: Request, document_id: int, file_id: int,
                               job_id: int | None = None) -> AcceptedSignature:
        session, viewer = await self._viewer(request)
        settings: Settings = request.app.state.services.settings
        limits = signature_limits(settings)
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        try:
            if ctype == "multipart/form-data":
                async with receive_form(request, settings.storage.path, limits) as form:
                    part = next((f for f in form.files if f.field == "signature"), None)
                    if part is None:
                        raise ApiProblem(400, "no_signature", "Приложите файл подписи (.sig).")
                    cms = await asyncio.to_thread(part.read_bytes)
            else:
                async with receive_body(request, settings.storage.path, limits, name="signature") as body:
                    cms = await asyncio.to_thread(body.read_bytes)
        except UploadRefused as exc:
            raise ApiProblem(exc.status, exc.code, exc.message) from None
        return await guarded(request, session, "sign", document_id,  # type: ignore[no-any-return]
                             lambda: workflow_of(request).submit_signature(viewer, document_id, file_id, cms,
                                                                           job_id=job_id))

    @get("/documents/{document_id:int}/files/{file_id:int}/content", operation_id="download_file",
         summary="The original file (exactly the bytes that are signed)")
    async def download_file(self, request: Request, document_id: int, file_id: int) -> Response[bytes]:
        session, viewer = await self._viewer(request)
        name, ctype, data = await guarded(request, session, "download", document_id,
                                          lambda: workflow_of(request).download_file(viewer, document_id, file_id))
        return attachment(name, data, ctype)

    @get("/documents/{document_id:int}/signatures/{signature_id:int}", operation_id="download_signature")
    async def download_signature(self, request: Request, document_id: int, signature_id: int) -> Response[bytes]:
        session, viewer = await self._viewer(request)
        name, data = await guarded(request, session, "download", document_id,
                                   lambda: workflow_of(request).download_signature(viewer, document_id, signature_id))
        return attachment(name, data, "application/pkcs7-signature")

    @get("/documents/{document_id:int}/package", operation_id="download_package",
         summary="ZIP with the files, their .sig files and the verification report (HTML, JSON)")
    async def package(self, request: Request, document_id: int) -> Response[bytes]:
        session, viewer = await self._viewer(request)
        name, data = await guarded(request, session, "package", document_id,
                                   lambda: workflow_of(request).package(viewer, document_id))
        return attachment(name, data, "application/zip")

    @get("/documents/{document_id:int}/report", operation_id="verification_report")
    async def report(self, request: Request, document_id: int,
                     format: Literal["json", "html"] = "json") -> Response[Any]:
        session, viewer = await self._viewer(request)
        data, html = await guarded(request, session, "report", document_id,
                                   lambda: workflow_of(request).report(viewer, document_id))
        if format == "html":
            return Response(f"<!doctype html><html lang='ru'><meta charset='utf-8'><body>{html}</body></html>",
                            media_type="text/html", headers={"Cache-Control": "no-store"})
        return Response(json.loads(json.dumps(data, default=str)), headers={"Cache-Control": "no-store"})

    @post("/me/certificates/challenge", operation_id="certificate_challenge", status_code=200,
          summary="A one-time code to sign with the certificate being registered (valid 10 minutes)")
    async def certificate_challenge(self, request: Request) -> CertificateChallenge:
        session, viewer = await self._viewer(request)
        challenge = await workflow_of(request).certificate_challenge(viewer)
        return CertificateChallenge(challenge=challenge.text, expires_at=challenge.expires_at)

    @post("/me/certificates", operation_id="register_certificate", status_code=201,
          request_max_body_size=256 * 1024,
          summary="Register the session user's signing certificate with proof of its key (JSON: certificate, "
                  "challenge, signature = detached CMS over the challenge, base64 or PEM)")
    async def register_certificate(self, request: Request) -> Certificate:
        session, viewer = await self._viewer(request)
        try:
            data = msgspec.json.decode(await request.body(), type=CertificateRegistration)
            certificate = data.certificate.encode() if "-----BEGIN" in data.certificate else \
                base64.b64decode("".join(data.certificate.split()), validate=True)
            signature = certificates.decode_signature(data.signature)
        except (msgspec.DecodeError, ValueError):
            raise ApiProblem(400, "proof_required", "Для регистрации сертификата нужны сам сертификат, код "
                             "подтверждения (POST /api/v1/me/certificates/challenge) и отсоединённая подпись "
                             "этого кода, сделанная ключом регистрируемого сертификата (JSON: certificate, "
                             "challenge, signature; base64 или PEM).") from None
        info = await guarded(request, session, "register_certificate", None,
                             lambda: workflow_of(request).register_certificate(
                                 viewer, certificate, challenge=data.challenge, signature=signature))
        return Certificate(**info)

    @get("/me/certificates", operation_id="my_certificates")
    async def my_certificates(self, request: Request) -> list[dict[str, Any]]:
        session = current_session(request)
        from server.workflow import store

        return await workflow_of(request).db.read(lambda d: store.registered_certificates(d, session.user_id))

    @get("/audit", operation_id="audit_search", summary="Search the audit log (auditors only)")
    async def audit_search(self, request: Request, q: str = "", action: str = "", document_id: int = 0,
                           limit: int = Parameter(default=100, ge=1, le=1000)) -> list[AuditRow]:
        session, viewer = await self._viewer(request)
        if not viewer.auditor:
            async def deny() -> None:
                raise PermissionDenied("not_auditor", "Журнал аудита доступен только аудиторам.")
            await guarded(request, session, "audit", None, deny)
        where, params = ["1 = 1"], []
        if action:
            where.append("action = ?")
            params.append(action)
        if document_id:
            where.append("object_type = 'document' AND object_id = ?")
            params.append(str(document_id))
        if q:
            where.append("(details LIKE ? OR actor LIKE ?)")
            params += [f"%{q}%", f"%{q}%"]
        rows = await workflow_of(request).db.read(lambda d: d.execute(
            f"SELECT id, at, actor, action, object_type, object_id, details FROM audit_log WHERE {' AND '.join(where)}"
            " ORDER BY id DESC LIMIT ?", [*params, limit]).fetchall())
        return [AuditRow(id=r[0], at=r[1], actor=r[2], action=r[3], object_type=r[4], object_id=r[5],
                         details=json.loads(r[6])) for r in rows]
