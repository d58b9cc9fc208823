"""Pages the portal opens: the install page, the CRM tab placement, the app page, and app events.

Each of these is a POST made by the user's browser (or, for events, by the portal) that claims to come
from the portal; nothing in it is trusted before ``PortalService`` has checked it. A refused or unanswered
check becomes the Russian error page in :mod:`server.routes.errors` (each page's wording is its ``portal_page``
opt); the events hook answers the portal in JSON itself.
"""

from __future__ import annotations

import logging
from typing import Any

import msgspec
from litestar import Controller, Request, Response, post
from litestar.response import Template
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_403_FORBIDDEN

from server import jsonbody
from server.bitrix24 import Bitrix24Error, CrmService
from server.bitrix24.entities import (
    UnknownKind,
    cards_phrase,
    cards_plural_phrase,
    kind_for_placement,
    kind_of,
)
from server.bitrix24.phpquery import MalformedQuery, decode, merge
from server.config import Settings
from server.db import audit_actions
from server.portal.service import PlacementContext, PortalRejected, PortalService, PortalUnavailable
from server.portal.sessions import SessionSigner
from server.text import MESSAGE_MAX, portal_zone
from server.workflow import deadlines, docstate
from server.workflow.directory import PortalDirectory

from .errors import BadForm, error_page, frame_headers

log = logging.getLogger(__name__)


def placement_names(bound: list[str]) -> dict[str, str]:
    """«карточка сделки», «карточка элемента смарт-процесса» for each bound tab (smart processes are not in KINDS)."""
    kinds = {p: kind_for_placement(p) for p in bound}
    return {p: kind.card_name if kind is not None else p for p, kind in kinds.items()}


MAX_FORM_BYTES = 64 * 1024


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


# What the CRM tab asks BX24.openApplication to pass (PLACEMENT_OPTIONS of the slider's app page) for the create
# form alone: {"klikdok": "create", "entity_type": <kind code>, "entity_id": <id>}.
CREATE_IN_SLIDER = "create"


def slider_create_entity(form: dict[str, Any]) -> tuple[str, int] | None:
    """The card a slider's create form is for, when the app page was opened by the tab's «Создать документ»;
    None for the ordinary app page. The card is as trusted as a tab's PLACEMENT_OPTIONS.ID: the user's own
    browser posts both, and the create route checks the session's card either way."""
    raw = form.get("PLACEMENT_OPTIONS")
    try:
        options = jsonbody.loads(raw) if isinstance(raw, str) and raw else {}
    except ValueError:
        return None
    if not isinstance(options, dict) or options.get("klikdok") != CREATE_IN_SLIDER:
        return None
    try:
        kind = kind_of(str(options.get("entity_type") or ""))
        entity_id = int(options.get("entity_id") or 0)
    except (UnknownKind, ValueError, TypeError):
        return None
    return (kind.code, entity_id) if entity_id > 0 else None


def create_form_context(settings: Settings) -> dict[str, Any]:
    return {
        "due": deadlines.picker(settings.workflow.counterparty_days, zone=portal_zone(settings.portal.timezone)),
        "message_max": MESSAGE_MAX,
    }


class Bitrix24Pages(Controller):
    path = "/b24"
    include_in_schema = False

    @post("/install", status_code=200, opt={"portal_page": "install"})
    async def install(self, request: Request, portal: PortalService) -> Template:
        result = await portal.install(await read_form(request), client_ip=client_ip(request))
        return Template(
            template_name="install.html",
            headers=frame_headers(result.portal.origin),
            context={
                "portal": result.portal,
                "user": result.user,
                "bound": result.bound,
                "problems": result.problems,
                "disk_folder_id": result.disk_folder_id,
                "placement_names": placement_names(result.bound),
                "cards_plural": cards_plural_phrase(),
                "portal_origin": result.portal.origin,
                "app_sid": request.query_params.get("APP_SID", ""),
            },
        )

    async def _placement(self, request: Request, portal: PortalService) -> PlacementContext:
        return await portal.check_placement(await read_form(request), client_ip=client_ip(request))

    def _session(self, signer: SessionSigner, ctx: PlacementContext) -> str:
        return signer.issue(
            member_id=ctx.portal.member_id,
            user_id=ctx.user.id,
            placement=ctx.placement,
            entity_type=ctx.entity_type,
            entity_id=ctx.entity_id,
            admin=ctx.admin,
            generation=ctx.portal.generation,
        )

    @post("/tab", status_code=200, opt={"portal_page": "placement"})
    async def tab(self, request: Request, portal: PortalService, signer: SessionSigner, settings: Settings) -> Template:
        ctx = await self._placement(request, portal)
        return await self._tab(ctx, portal, signer, settings, create_only=False)

    async def _tab(
        self,
        ctx: PlacementContext,
        portal: PortalService,
        signer: SessionSigner,
        settings: Settings,
        *,
        create_only: bool,
    ) -> Template:
        """The tab, or (``create_only``) its create form alone, in the slider the tab opens for it."""
        try:
            kind = kind_of(ctx.entity_type)
        except UnknownKind:
            return error_page(400, "Не та встройка", f"Эта страница открывается во вкладке {cards_phrase('или')}.")
        return Template(
            template_name="tab.html",
            headers=frame_headers(ctx.portal.origin),
            context={
                "user": ctx.user,
                "entity_type": kind.code,
                "entity_id": ctx.entity_id,
                "entity_this_dative": kind.this_dative,
                "entity_label": await entity_label(portal, ctx),
                "portal_origin": ctx.portal.origin,
                "app_sid": ctx.app_sid,
                "session_token": self._session(signer, ctx),
                "doc_states": docstate.for_pages(),
                "audit_actions": audit_actions.for_pages(),
                "create_only": create_only,
                **create_form_context(settings),
            },
        )

    @post("/app", status_code=200, opt={"portal_page": "placement"})
    async def app_page(
        self,
        request: Request,
        portal: PortalService,
        signer: SessionSigner,
        directory: PortalDirectory,
        settings: Settings,
    ) -> Template:
        """The sections the user may not use are not offered: the page names in their place who may use them (an
        old bookmark may still open one); the API refuses their lists all the same."""
        form = await read_form(request)
        ctx = await portal.check_placement(form, client_ip=client_ip(request))
        card = slider_create_entity(form)
        if card is not None:
            # The tab's «Создать документ» opened the app in a slider (BX24.openApplication): the create form
            # alone, for that card, with a session bound to it (never an admin one).
            ctx = msgspec.structs.replace(ctx, entity_type=card[0], entity_id=card[1], admin=False)
            return await self._tab(ctx, portal, signer, settings, create_only=True)
        viewer = await directory.viewer(ctx.user.id)
        return Template(
            template_name="app.html",
            headers=frame_headers(ctx.portal.origin),
            context={
                "user": ctx.user,
                "portal_origin": ctx.portal.origin,
                "app_sid": ctx.app_sid,
                "session_token": self._session(signer, ctx),
                "doc_states": docstate.for_pages(),
                "audit_actions": audit_actions.for_pages(),
                "denied": viewer.section_notes(),
                "admin": ctx.admin,
            },
        )

    @post("/events", status_code=200)
    async def events(self, request: Request, portal: PortalService) -> Response[dict[str, str]]:
        """The portal's event hook: it reads a JSON status, never a page, so refusals are answered here."""
        try:
            form = await read_form(request)
        except BadForm:
            return Response({"status": "error", "error": "malformed_request"}, status_code=HTTP_400_BAD_REQUEST)
        except PortalRejected as exc:
            return Response({"status": "error", "error": exc.reason}, status_code=HTTP_400_BAD_REQUEST)
        event = str(form.get("event") or "").upper()
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
