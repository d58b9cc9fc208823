"""Domain errors as HTTP answers: the one place that knows which refusal is which status.

The domain raises refusals with a stable ``code`` and a Russian ``message`` and no HTTP status; here each
code gets its status (:data:`STATUS_BY_CODE`, else the class's default) and each class its answer:
``{"error": code, "message": text}`` for the JSON API, the Russian error page for the portal pages.
``create_app`` registers :data:`EXCEPTION_HANDLERS` and :data:`AFTER_EXCEPTION` once.

Everything else (Litestar's own 404/405/400/413, an unexpected exception) goes through :func:`http_error`: a
browser may land on any address (a reload after a failed upload, a bookmark, a typo), so every address outside
``/api/`` answers with a Russian page and a way back (the counterparty's own page for ``/c/<token>/...``, the
portal for the rest); ``/api/`` answers ``{"error", "message"}`` in Russian, never Litestar's
``{"status_code", "detail"}``.

Routes say what they need through ``opt``: ``audit_action`` (a 403 on this route is written to the audit
log as ``access.denied``; ``audit_object`` names the path parameter that identifies the object,
``audit_object_type`` its type), ``portal_missing_status`` (the counterparty API answers 503 where the
documents API answers 502) and ``portal_page`` (which portal page's wording a refusal gets).
"""

from __future__ import annotations

import logging
import re
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.response import Template
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR
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

log = logging.getLogger(__name__)

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
    "not_a_zip": 400,
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
    "bad_poa": 400,  # issue 18: an МЧД that is not one (XML, schema, the pair of files)
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
    "newer_version": 410,  # issue 17: the counterparty's old link once the document has a newer version
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
    "poa_missing": 422,
    "poa_invalid": 422,
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
        return http_error(request, exc)
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


def error_page(
    status: int,
    title: str,
    message: str,
    hint: str = "",
    *,
    origin: str = "",
    back: str = "",
    back_text: str = "",
    headers: dict[str, str] | None = None,
) -> Template:
    """The portal pages' error page; ``origin`` lets the portal show it in its frame, ``back`` is the way on."""
    return Template(
        template_name="error.html",
        status_code=status,
        headers={**(headers or {}), **frame_headers(origin)},
        context={"title": title, "message": message, "hint": hint, "back": back, "back_text": back_text},
    )


# -- the counterparty's pages ---------------------------------------------------------------------------------


def security_headers(*, frame_self: bool = False, scripts: bool = False) -> dict[str, str]:
    """The public pages' headers: nothing from elsewhere, no framing, the token kept out of referrers and caches.

    Every public page may run this server's own scripts (the busy buttons of its forms); ``scripts``: it also reads
    this server's JSON (the CryptoARM hand-off page follows the signing live). Each works without JavaScript."""
    script = "script-src 'self'; connect-src 'self'; " if scripts else "script-src 'self'; "
    return {
        "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        f"{script}frame-src 'self'; object-src 'self'; form-action 'self' cryptoarm:; "
        "base-uri 'none'; frame-ancestors " + ("'self'" if frame_self else "'none'"),
        "Referrer-Policy": "no-referrer",
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        "X-Robots-Tag": "noindex, nofollow",
    }


def problem_page(
    status: int,
    title: str,
    message: str,
    *,
    retry_after: float | None = None,
    back: str = "",
    back_text: str = "",
    footer: str = "",
    headers: dict[str, str] | None = None,
) -> Template:
    """The public pages' error page; ``back`` links to the page it came from (the counterparty's document page
    unless ``back_text`` names another); ``footer`` replaces the counterparty's «personal link» footer."""
    merged = {**(headers or {}), **security_headers()}
    if retry_after is not None:
        merged["Retry-After"] = str(max(1, int(retry_after + 0.999)))
    return Template(
        template_name="public/problem.html",
        status_code=status,
        headers=merged,
        context={"title": title, "message": message, "back": back, "back_text": back_text, "footer": footer},
    )


# The footer of the public signature check's pages (/verify, /v/<id>): nobody there holds a personal link.
PUBLIC_CHECK_FOOTER = "Проверка электронной подписи KlikDok. Загруженные файлы не сохраняются."


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


# -- every other failure: Litestar's own exceptions and the unexpected -------------------------------------------

# status -> (the API's error code, the page's title, what the person is told)
GENERIC: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "Неверный запрос", "Сервер не смог разобрать запрос."),
    401: ("unauthorized", "Нужен вход", "Откройте KlikDok из портала Битрикс24 заново."),
    403: ("forbidden", "Доступ запрещён", "У вас нет доступа к этой странице."),
    404: ("not_found", "Страница не найдена", "Такой страницы нет. Проверьте, что адрес скопирован полностью."),
    405: (
        "method_not_allowed",
        "Эту страницу нельзя открыть по адресу",
        "Этот адрес принимает только действия со страницы (кнопки и формы), а не переход по ссылке или "
        "обновление страницы.",
    ),
    408: ("timeout", "Запрос не дошёл", "Запрос передавался слишком долго. Попробуйте ещё раз."),
    413: ("too_large", "Слишком большой запрос", "Отправлено больше данных, чем сервер принимает за один раз."),
    415: ("unsupported_media_type", "Неверный запрос", "Сервер не принимает данные в таком формате."),
    429: ("too_many_requests", "Слишком много запросов", "Подождите немного и попробуйте снова."),
    500: (
        "internal_error",
        "Ошибка сервера",
        "На сервере произошла ошибка. Попробуйте позже; если она повторится, сообщите администратору портала.",
    ),
    502: ("bad_gateway", "Сервис недоступен", "Сервер не смог связаться с нужной системой. Попробуйте позже."),
    503: ("unavailable", "Сервис недоступен", "Сервер сейчас не может ответить. Попробуйте через несколько минут."),
}

# The counterparty's personal pages: /c/<token>/... (a token is 43 URL-safe characters; anything that could be
# one is taken for one, the page it links back to says whether it works).
_PUBLIC_PAGE = re.compile(r"^/c/([A-Za-z0-9_-]{16,64})(?:/|$)")
_CYRILLIC = re.compile("[А-Яа-яЁё]")
# Machine endpoints that speak JSON to their clients when the client asks for JSON (never to a browser).
_MACHINE_PREFIXES = ("/agent/", "/cryptoarm/", "/b24/events", "/healthz")


def _generic(status: int) -> tuple[str, str, str]:
    return GENERIC.get(status) or GENERIC[500 if status >= 500 else 400]


def wants_json(request: Request[Any, Any, Any]) -> bool:
    """Whether the failure is answered as JSON: the API always, a machine endpoint when its client asks for JSON;
    every other address (whatever a browser may land on) gets a page."""
    path = request.url.path
    if path.startswith("/api/"):
        return True
    accept = request.headers.get("accept", "").lower()
    return path.startswith(_MACHINE_PREFIXES) and "text/html" not in accept and "json" in accept


def _portal_origin(request: Request[Any, Any, Any]) -> str:
    services: AppServices | None = getattr(request.app.state, "services", None)
    return services.settings.portal.portal_origin if services is not None else ""


def _safe_path(path: str) -> str:
    """The path for the log: a counterparty's token never goes there."""
    return _PUBLIC_PAGE.sub("/c/<token>/", path)


def page_for(
    request: Request[Any, Any, Any], status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> Template:
    """The page a browser gets for a failure at this address, with a way back."""
    path = request.url.path
    if path == "/c" or path.startswith("/c/"):
        found = _PUBLIC_PAGE.match(path)
        back = f"/c/{found.group(1)}" if found and path.rstrip("/") != found.group(0).rstrip("/") else ""
        return problem_page(status, title, message, back=back, headers=headers)
    if path == "/verify" or path.startswith("/v/") or path == "/v":
        # The public signature check (server.routes.public_verify): its own way back, no portal.
        return problem_page(
            status,
            title,
            message,
            back="/verify",
            back_text="Проверить файл и подпись",
            footer=PUBLIC_CHECK_FOOTER,
            headers=headers,
        )
    origin = _portal_origin(request)
    if path.startswith("/b24/") and status == 405:  # a bookmark or the address bar: the portal POSTs these
        title = "Откройте KlikDok из портала Битрикс24"
        message = "Эта страница показывается внутри портала Битрикс24 и не открывается по прямой ссылке."
    hint = (
        "Приложение KlikDok открывается из портала Битрикс24 (меню «Приложения» или вкладка KlikDok в карточке "
        "сделки), а документ на подпись — по ссылке из письма."
    )
    return error_page(
        status,
        title,
        message,
        hint,
        origin=origin,
        back=origin,
        back_text="Перейти на портал Битрикс24" if origin else "",
        headers=headers,
    )


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Litestar's own exceptions (no route, wrong method, a malformed parameter, a body too large) and anything
    unexpected: Russian words in the API's shape (``detail`` repeats the message for clients that read Litestar's
    old key) or on a page, never Litestar's ``{"status_code": ...}`` and never its English."""
    if isinstance(exc, HTTPException):
        status = exc.status_code
        detail = exc.detail if isinstance(exc.detail, str) else ""
        extra_headers = dict(exc.headers or {})
    else:
        status, detail, extra_headers = HTTP_500_INTERNAL_SERVER_ERROR, "", {}
    if status >= 500:
        log.error(
            "request failed",
            exc_info=exc if not isinstance(exc, HTTPException) else None,
            extra={"method": request.method, "path": _safe_path(request.url.path), "status": status},
        )
    code, title, message = _generic(status)
    # Our own raises speak Russian already; Litestar's ("Not Found", "Validation failed ...") are replaced.
    if detail and _CYRILLIC.search(detail):
        message = detail
    if wants_json(request):
        body: dict[str, Any] = {"error": code, "message": message, "detail": message}
        if isinstance(exc, ValidationException) and exc.extra:
            body["details"] = exc.extra
        headers = {**extra_headers, **NO_STORE}
        if status == 413:
            headers["Connection"] = "close"
        return Response(body, status_code=status, headers=headers)
    return page_for(request, status, title, message, extra_headers)


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
    HTTPException: http_error,
    HTTP_500_INTERNAL_SERVER_ERROR: http_error,
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
