"""Domain errors as HTTP answers: the one place that knows which refusal is which status.

The domain raises refusals with a stable ``code`` and a Russian ``message`` and no HTTP status; here each
code gets its status (:data:`STATUS_BY_CODE`, else the class's default) and each class its answer:
``{"error": code, "message": text}`` for the JSON API, the Russian error page for the portal pages.
``create_app`` registers :data:`EXCEPTION_HANDLERS` and :data:`AFTER_EXCEPTION` once.

Routes say what they need through ``opt``: ``audit_action`` (a 403 on this route is written to the audit
log as ``access.denied``; ``audit_object`` names the path parameter that identifies the object,
``audit_object_type`` its type), ``portal_missing_status`` (the counterparty API answers 503 where the
documents API answers 502) and ``portal_page`` (which portal page's wording a refusal gets).
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response
from litestar.exceptions.responses import create_exception_response
from litestar.response import Template
from litestar.types import ExceptionHandlersMap, Scope

from server.bitrix24 import Bitrix24Error
from server.counterparty.exchange import ActionRefused, LinkProblem
from server.counterparty.links import LinkRefused
from server.db import audit
from server.portal.service import PortalRejected, PortalUnavailable
from server.portal.sessions import Session
from server.state import AppServices
from server.workflow.directory import PortalMissing
from server.workflow.permissions import PermissionDenied
from server.workflow.signatures import SignatureRefused
from server.workflow.states import TransitionRefused

from .sessions import SESSION_KEY
from .uploads import UploadRefused

Refusal = TransitionRefused | SignatureRefused | LinkRefused | LinkProblem | ActionRefused | UploadRefused

# A refusal code means the same status whichever class carries it (the counterparty exchange passes the
# workflow's codes on as its own).
STATUS_BY_CODE: dict[str, int] = {
    # 400: the request is malformed or incomplete
    "bad_request": 400,
    "bad_form": 400,
    "bad_email": 400,
    "bad_certificate": 400,
    "certificate_required": 400,
    "crm_not_found": 400,
    "duplicate_name": 400,
    "empty_file": 400,
    "no_file": 400,
    "no_files": 400,
    "no_signers": 400,
    "reason_required": 400,
    "reason_too_long": 400,
    "unknown_signer": 400,
    "bad_deadline": 400,
    "deadline_in_past": 400,
    "deadline_too_far": 400,
    "unknown_contact": 400,
    "contact_without_email": 400,
    "message_too_long": 400,
    # 403: someone else's
    "not_current_signer": 403,
    "wrong_signer": 403,
    # 404 and 410: nothing there, or not any more
    "not_found": 404,
    "unknown_link": 404,
    "offer_unknown": 404,
    "link_replaced": 410,
    "link_revoked": 410,
    "link_expired": 410,
    "offer_expired": 410,
    "document_expired": 410,
    "withdrawn": 410,
    # 409: not in a state that allows it
    "wrong_state": 409,
    "not_current_step": 409,
    "not_awaiting_signature": 409,
    "not_open": 409,
    "not_available": 409,
    "file_changed": 409,
    "job_closed": 409,
    "job_not_open": 409,
    "job_in_flight": 409,
    "already_signed": 409,
    "no_link": 409,
    "offer_used": 409,
    # 413: too big to take
    "too_large": 413,
    "field_too_large": 413,
    # 422: a signature that cannot be accepted
    "malformed": 422,
    "signer_count": 422,
    "wrong_document": 422,
    "invalid_signature": 422,
    "unverifiable": 422,
    # 429 and 503
    "too_many_reminders": 429,
    "portal_unavailable": 503,
}

DEFAULT_STATUS: dict[type[Exception], int] = {
    TransitionRefused: 409,
    SignatureRefused: 422,
    LinkRefused: 409,
    LinkProblem: 409,
    ActionRefused: 422,
    UploadRefused: 400,
}

NO_STORE = {"Cache-Control": "no-store"}


def status_of(exc: Refusal) -> int:
    """The HTTP status of a domain refusal."""
    status = STATUS_BY_CODE.get(exc.code)
    if status is not None:
        return status
    return next(code for cls, code in DEFAULT_STATUS.items() if isinstance(exc, cls))


class ApiProblem(Exception):
    """A refusal made by a route itself (a malformed request): already an HTTP answer."""

    def __init__(self, status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.extra = extra or {}


def problem(status: int, code: str, message: str, extra: dict[str, Any] | None = None) -> Response[dict[str, Any]]:
    """The API's error body; a 413 also closes the connection (the rest of a refused body is not worth reading)."""
    headers = dict(NO_STORE)
    if status == 413:
        headers["Connection"] = "close"
    return Response({"error": code, "message": message, **(extra or {})}, status_code=status, headers=headers)


def _opt(request: Request[Any, Any, Any]) -> dict[str, Any]:
    handler = request.scope.get("route_handler")
    return handler.opt if handler is not None else {}


def api_problem(_request: Request[Any, Any, Any], exc: ApiProblem) -> Response[Any]:
    return problem(exc.status, exc.code, exc.message, exc.extra)


def permission_denied(_request: Request[Any, Any, Any], exc: PermissionDenied) -> Response[Any]:
    return problem(403, exc.code, exc.message)


def refused(_request: Request[Any, Any, Any], exc: Refusal) -> Response[Any]:
    """Transition, signature, link and upload refusals; ``details`` (where a job is signed, why a signature
    failed) is added when the refusal has any, and ``bind_offer`` when a refused signature offers to bind its
    certificate."""
    details = getattr(exc, "details", None)
    extra: dict[str, Any] | None
    if isinstance(exc, SignatureRefused):
        # The offer to bind the signature's certificate (server.workflow.certificate_offers) is for the page
        # to act on, not a detail of why: it goes beside the message.
        rest = {k: v for k, v in (details or {}).items() if k != "bind_offer"}
        extra = {"details": rest} if rest else {}
        if details and details.get("bind_offer"):
            extra["bind_offer"] = details["bind_offer"]
    else:
        extra = details or None
    return problem(status_of(exc), exc.code, exc.message, extra)


def portal_missing(request: Request[Any, Any, Any], exc: PortalMissing) -> Response[Any]:
    return problem(_opt(request).get("portal_missing_status", 502), "portal_unavailable", str(exc))


def portal_error(request: Request[Any, Any, Any], exc: Bitrix24Error) -> Response[Any]:
    """A failed portal call is a 502 on the documents API; elsewhere it stays an internal error."""
    if "audit_action" not in _opt(request):
        return create_exception_response(request, exc)
    return problem(502, "portal_error", f"Портал Битрикс24 ответил ошибкой ({exc.code}). Попробуйте позже.")


# -- the portal pages ---------------------------------------------------------------------------------------


def frame_headers(origin: str) -> dict[str, str]:
    """Allow framing by the portal only (never X-Frame-Options: the portal is another origin)."""
    ancestors = f"'self' {origin}" if origin else "'self'"
    return {
        "Content-Security-Policy": f"frame-ancestors {ancestors}",
        "Referrer-Policy": "no-referrer",
        "X-Content-Type-Options": "nosniff",
        "Cache-Control": "no-store",
    }


def error_page(status: int, title: str, message: str, hint: str = "") -> Template:
    return Template(
        template_name="error.html",
        status_code=status,
        headers=frame_headers(""),
        context={"title": title, "message": message, "hint": hint},
    )


class BadForm(Exception):
    """A form no portal sends (nesting deeper than PHP accepts): 400, not a stack overflow."""


# Per portal page (the route's ``portal_page`` opt): the titles of a bad form, a refused and an unanswered request.
PAGE_WORDING: dict[str, dict[str, tuple[str, str]]] = {
    "install": {
        "bad_form": ("Установка отклонена", ""),
        "rejected": ("Установка отклонена", ""),
        "unavailable": ("Портал недоступен", "Проверьте, что сервер KlikDok может обращаться к порталу по HTTPS."),
    },
    "placement": {
        "bad_form": ("Неверный запрос", ""),
        "rejected": ("Доступ запрещён", "Откройте KlikDok из портала Битрикс24."),
        "unavailable": ("Портал недоступен", ""),
    },
}


def _page_wording(request: Request[Any, Any, Any], what: str) -> tuple[str, str]:
    return PAGE_WORDING[_opt(request).get("portal_page", "placement")][what]


def bad_form(request: Request[Any, Any, Any], exc: BadForm) -> Response[Any]:
    title, hint = _page_wording(request, "bad_form")
    return error_page(400, title, str(exc), hint)


def portal_rejected(request: Request[Any, Any, Any], exc: PortalRejected) -> Response[Any]:
    title, hint = _page_wording(request, "rejected")
    return error_page(403, title, exc.message, hint)


def portal_unavailable(request: Request[Any, Any, Any], exc: PortalUnavailable) -> Response[Any]:
    title, hint = _page_wording(request, "unavailable")
    return error_page(502, title, str(exc), hint)


EXCEPTION_HANDLERS: ExceptionHandlersMap = {
    ApiProblem: api_problem,
    PermissionDenied: permission_denied,
    TransitionRefused: refused,
    SignatureRefused: refused,
    LinkRefused: refused,
    UploadRefused: refused,
    PortalMissing: portal_missing,
    Bitrix24Error: portal_error,
    BadForm: bad_form,
    PortalRejected: portal_rejected,
    PortalUnavailable: portal_unavailable,
}


# -- the audit of refusals -----------------------------------------------------------------------------------

AUDIT_OBJECT_KEY = "klikdok.audit_object_id"


def audit_object(request: Request[Any, Any, Any], object_id: int | None) -> None:
    """The object a 403 is audited against when no path parameter names it (a batch of documents)."""
    request.scope.setdefault("state", {})[AUDIT_OBJECT_KEY] = object_id


async def audit_denial(exc: Exception, scope: Scope) -> None:
    """Every 403 of a route with ``audit_action`` is written to the audit log (``access.denied``) before the
    answer goes out."""
    if not isinstance(exc, PermissionDenied | SignatureRefused):
        return
    if isinstance(exc, SignatureRefused) and status_of(exc) != 403:
        return
    handler = scope.get("route_handler")
    opt = handler.opt if handler is not None else {}
    state: dict[str, Any] = scope.get("state") or {}
    session = state.get(SESSION_KEY)
    if "audit_action" not in opt or not isinstance(session, Session):
        return
    object_type = opt.get("audit_object_type", "document")
    if AUDIT_OBJECT_KEY in state:
        object_id = state[AUDIT_OBJECT_KEY]
    else:
        object_id = (scope.get("path_params") or {}).get(opt.get("audit_object", "document_id"))
    if isinstance(exc, PermissionDenied):
        object_type = object_type if object_id else ""
    details = {"action": opt["audit_action"], "code": exc.code}
    services: AppServices = scope["litestar_app"].state.services
    await services.db.write(
        lambda d: audit.append(
            d,
            actor=f"user:{session.user_id}",
            action="access.denied",
            object_type=object_type,
            object_id=object_id or "",
            details=details,
        )
    )


AFTER_EXCEPTION = [audit_denial]
