"""Pages the portal opens: the install page, the CRM tab placement, the app page, and app events.

Each of these is a POST made by the user's browser (or, for events, by the portal) that claims to come
from the portal; nothing in it is trusted before ``PortalService`` has checked it.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Controller, Request, Response, get, post
from litestar.exceptions import NotAuthorizedException
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_403_FORBIDDEN, HTTP_502_BAD_GATEWAY

from server.bitrix24 import Bitrix24Error, CrmService
from server.bitrix24.entities import KINDS, UnknownKind, cards_phrase, cards_plural_phrase, kind_of
from server.bitrix24.phpquery import MalformedQuery, decode, merge
from server.portal.service import PlacementContext, PortalRejected, PortalService, PortalUnavailable
from server.portal.sessions import HEADER, InvalidSession, Session, SessionSigner
from server.state import AppServices
from server.workflow import docstate

log = logging.getLogger(__name__)

PLACEMENT_NAMES = {kind.placement: kind.card_name for kind in KINDS}
MAX_FORM_BYTES = 64 * 1024


def frame_headers(origin: str) -> dict[str, str]:
    """Allow framing by the portal only (never X-Frame-Options: the portal is another origin)."""
    ancestors = f"'self' {origin}" if origin else "'self'"
    return {"Content-Security-Policy": f"frame-ancestors {ancestors}", "Referrer-Policy": "no-referrer",
            "X-Content-Type-Options": "nosniff", "Cache-Control": "no-store"}


class BadForm(Exception):
    """A form no portal sends (nesting deeper than PHP accepts): 400, not a stack overflow."""


async def read_form(request: Request) -> dict[str, Any]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise PortalRejected("Слишком большой запрос.", "form_too_large")
    try:
        return merge(decode(request.scope.get("query_string", b"")), decode(body))
    except MalformedQuery:
        raise BadForm("Запрос не похож на запрос портала: слишком глубокая вложенность полей.") from None


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "?"


def error_page(status: int, title: str, message: str, hint: str = "") -> Template:
    return Template(template_name="error.html", status_code=status, headers=frame_headers(""),
                    context={"title": title, "message": message, "hint": hint})


def services_of(request: Request) -> AppServices:
    return request.app.state.services


def portal_of(request: Request) -> PortalService:
    return services_of(request).portal


def signer_of(request: Request) -> SessionSigner:
    return services_of(request).sessions


async def entity_label(portal: PortalService, ctx: PlacementContext) -> str:
    kind = kind_of(ctx.entity_type)
    client = await portal.client()
    if client is not None:
        try:
            entity = await CrmService(client).record(kind, ctx.entity_id)
            return f"{kind.label} «{entity.title}»"
        except Bitrix24Error as exc:
            log.warning("cannot read %s %s: %s", ctx.entity_type, ctx.entity_id, exc.code)
    return f"{kind.label} №{ctx.entity_id}"


class Bitrix24Pages(Controller):
    path = "/b24"
    include_in_schema = False

    @post("/install", status_code=200)
    async def install(self, request: Request) -> Template:
        portal = portal_of(request)
        try:
            result = await portal.install(await read_form(request), client_ip=client_ip(request))
        except BadForm as exc:
            return error_page(HTTP_400_BAD_REQUEST, "Установка отклонена", str(exc))
        except PortalRejected as exc:
            return error_page(HTTP_403_FORBIDDEN, "Установка отклонена", exc.message)
        except PortalUnavailable as exc:
            return error_page(HTTP_502_BAD_GATEWAY, "Портал недоступен", str(exc),
                              "Проверьте, что сервер KlikDok может обращаться к порталу по HTTPS.")
        return Template(template_name="install.html", headers=frame_headers(result.portal.origin), context={
            "portal": result.portal, "user": result.user, "bound": result.bound, "problems": result.problems,
            "disk_folder_id": result.disk_folder_id, "placement_names": PLACEMENT_NAMES,
            "cards_plural": cards_plural_phrase(),
            "portal_origin": result.portal.origin, "app_sid": request.query_params.get("APP_SID", "")})

    async def _placement(self, request: Request) -> tuple[PlacementContext | None, Template | None]:
        portal = portal_of(request)
        try:
            ctx = await portal.check_placement(await read_form(request), client_ip=client_ip(request))
        except BadForm as exc:
            return None, error_page(HTTP_400_BAD_REQUEST, "Неверный запрос", str(exc))
        except PortalRejected as exc:
            return None, error_page(HTTP_403_FORBIDDEN, "Доступ запрещён", exc.message,
                                    "Откройте KlikDok из портала Битрикс24.")
        except PortalUnavailable as exc:
            return None, error_page(HTTP_502_BAD_GATEWAY, "Портал недоступен", str(exc))
        return ctx, None

    def _session(self, request: Request, ctx: PlacementContext) -> str:
        return signer_of(request).issue(member_id=ctx.portal.member_id, user_id=ctx.user.id,
                                        placement=ctx.placement, entity_type=ctx.entity_type,
                                        entity_id=ctx.entity_id, admin=ctx.admin, generation=ctx.portal.generation)

    @post("/tab", status_code=200)
    async def tab(self, request: Request) -> Template:
        ctx, refusal = await self._placement(request)
        if refusal is not None:
            return refusal
        assert ctx is not None
        try:
            kind = kind_of(ctx.entity_type)
        except UnknownKind:
            return error_page(400, "Не та встройка",
                              f"Эта страница открывается во вкладке {cards_phrase('или')}.")
        return Template(template_name="tab.html", headers=frame_headers(ctx.portal.origin), context={
            "user": ctx.user, "entity_type": kind.code, "entity_id": ctx.entity_id,
            "entity_this_dative": kind.this_dative,
            "entity_label": await entity_label(portal_of(request), ctx),
            "portal_origin": ctx.portal.origin, "app_sid": ctx.app_sid, "session_token": self._session(request, ctx),
            "doc_states": docstate.for_pages()})

    @post("/app", status_code=200)
    async def app_page(self, request: Request) -> Template:
        ctx, refusal = await self._placement(request)
        if refusal is not None:
            return refusal
        assert ctx is not None
        return Template(template_name="app.html", headers=frame_headers(ctx.portal.origin), context={
            "user": ctx.user, "portal_origin": ctx.portal.origin, "app_sid": ctx.app_sid,
            "session_token": self._session(request, ctx), "doc_states": docstate.for_pages()})

    @post("/events", status_code=200)
    async def events(self, request: Request) -> Response[dict[str, str]]:
        try:
            form = await read_form(request)
        except BadForm:
            return Response({"status": "error", "error": "malformed_request"}, status_code=HTTP_400_BAD_REQUEST)
        except PortalRejected as exc:
            return Response({"status": "error", "error": exc.reason}, status_code=HTTP_400_BAD_REQUEST)
        event = str(form.get("event") or "").upper()
        portal = portal_of(request)
        refused = Response({"status": "error", "error": "invalid_application_token"}, status_code=HTTP_403_FORBIDDEN)
        if event == "ONAPPUNINSTALL":
            if await portal.uninstall(form, client_ip=client_ip(request)):
                return Response({"status": "ok", "message": "event accepted"})
            return refused
        if event == "ONAPPINSTALL":
            try:
                await portal.install(form, client_ip=client_ip(request))
            except (PortalRejected, PortalUnavailable) as exc:
                return Response({"status": "error", "error": str(exc)}, status_code=HTTP_403_FORBIDDEN)
            return Response({"status": "ok", "message": "event accepted"})
        if not await portal.check_event(form, client_ip=client_ip(request)):
            return refused
        return Response({"status": "ok", "message": "event ignored"})


def current_session(request: Request) -> Session:
    """Dependency for API handlers called from the portal pages."""
    token = request.headers.get(HEADER, "")
    if not token:
        raise NotAuthorizedException("Нужна сессия страницы (заголовок X-KlikDok-Session).")
    try:
        session = signer_of(request).verify(token)
    except InvalidSession as exc:
        raise NotAuthorizedException(str(exc)) from None
    if not portal_of(request).session_current(session.member_id, session.generation):
        raise NotAuthorizedException("Сессия больше не действует: приложение переустановлено или отключено — "
                                     "откройте вкладку заново.")
    return session


@get("/api/v1/session", operation_id="session", summary="The page session behind X-KlikDok-Session")
async def session_info(request: Request) -> Session:
    return current_session(request)
