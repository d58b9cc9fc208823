"""The server's link to its Bitrix24 portal: the REST client, install, and checking placement POSTs.

One on-prem server serves one portal. In "oauth" mode the portal comes from the install flow (tokens in
SQLite); in "webhook" mode from the configured webhook URL. Checking a placement POST never trusts what
the POST says about where the portal is: the AUTH_ID is checked against the endpoint stored at install.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import httpx
import msgspec

from server.bitrix24 import (
    COMPANY_TAB,
    DEAL_TAB,
    ApplicationService,
    AuthError,
    Bitrix24Client,
    Bitrix24Error,
    DiskService,
    OAuthTokens,
    PortalSettings,
    TransportError,
    User,
    UserDirectory,
)
from server import jsonbody
from server.db import Database, audit
from server.portal import store
from server.portal.store import Portal, SqliteTokenStore

log = logging.getLogger(__name__)

ENTITY_BY_PLACEMENT = {DEAL_TAB: "deal", COMPANY_TAB: "company"}


class PortalRejected(Exception):
    """A POST that claims to come from the portal and cannot be trusted (403)."""

    def __init__(self, message: str, reason: str) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason


class PortalUnavailable(Exception):
    """The portal did not answer (502): the request may well be genuine."""


class PlacementContext(msgspec.Struct, frozen=True):
    portal: Portal
    user: User
    placement: str
    entity_type: str
    entity_id: int
    app_sid: str
    admin: bool = False  # a portal administrator on the app page (never set for placement tabs)


class InstallResult(msgspec.Struct, frozen=True):
    portal: Portal
    user: User
    bound: list[str]
    disk_folder_id: int | None
    problems: list[str]


def _form_get(form: dict[str, Any], key: str) -> str:
    value = form.get(key)
    return value if isinstance(value, str) else ""


def placement_entity(form: dict[str, Any]) -> tuple[str, str, int]:
    """(PLACEMENT, entity type, entity id) from a placement POST; entity "" for the app page."""
    placement = _form_get(form, "PLACEMENT") or "DEFAULT"
    entity_type = ENTITY_BY_PLACEMENT.get(placement, "")
    entity_id = 0
    if entity_type:
        try:
            options = jsonbody.loads(_form_get(form, "PLACEMENT_OPTIONS") or "{}")
            entity_id = int(options.get("ID", 0)) if isinstance(options, dict) else 0
        except (ValueError, TypeError):
            entity_id = 0
        if entity_id <= 0:
            raise PortalRejected("Не указана сделка или компания (PLACEMENT_OPTIONS.ID).", "bad_placement_options")
    return placement, entity_type, entity_id


class PortalService:
    def __init__(self, settings: PortalSettings, db: Database, public_url: str, *,
                 transport: httpx.AsyncBaseTransport | None = None) -> None:
        # "none" and "oauth" both mean "a local application whose tokens arrive at install".
        self.settings = settings if settings.mode == "webhook" else msgspec.structs.replace(settings, mode="oauth")
        self.db = db
        self.public_url = public_url.rstrip("/")
        self._transport = transport
        self._client: Bitrix24Client | None = None
        self._client_member: str | None = None
        # A client for checking tokens that arrive in POSTs; it never uses stored tokens itself.
        self._checker = Bitrix24Client(msgspec.structs.replace(self.settings, mode="webhook",
                                                               webhook_url="http://unused.invalid/rest/"),
                                       transport=transport)
        self._lock = asyncio.Lock()

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
        await self._checker.aclose()

    # -- the portal and its client ---------------------------------------------------------------
    async def active_portal(self) -> Portal | None:
        return await self.db.read(store.active)

    async def client(self) -> Bitrix24Client | None:
        """The REST client for the portal: the webhook, or the installed app's tokens; None if neither."""
        async with self._lock:
            if self.settings.mode == "webhook":
                if self._client is None:
                    self._client = Bitrix24Client(self.settings, transport=self._transport)
                return self._client
            portal = await self.active_portal()
            if portal is None or not portal.has_tokens:
                return None
            if self._client is None or self._client_member != portal.member_id:
                if self._client is not None:
                    await self._client.aclose()
                self._client = Bitrix24Client(self.settings, token_store=SqliteTokenStore(self.db, portal.member_id),
                                              transport=self._transport)
                self._client_member = portal.member_id
            else:
                await self._client.reload_tokens()
            return self._client

    async def _user_of(self, access_token: str, endpoint: str) -> User:
        try:
            return await UserDirectory(self._checker).current(access_token=access_token, endpoint=endpoint)
        except AuthError as exc:
            raise PortalRejected("Портал не подтвердил авторизацию (AUTH_ID).", f"auth_rejected:{exc.code}") from None
        except TransportError as exc:
            raise PortalUnavailable(f"Портал Битрикс24 не отвечает ({exc.code}).") from None
        except Bitrix24Error as exc:
            raise PortalRejected("Портал отклонил проверку авторизации.", f"auth_error:{exc.code}") from None

    async def _is_admin(self, access_token: str, endpoint: str) -> bool:
        """Whether the portal says the token's user is its administrator (``user.admin``); no answer is no."""
        try:
            return await self._checker.call("user.admin", auth=access_token, endpoint=endpoint) is True
        except Bitrix24Error as exc:
            log.warning("user.admin failed; the session gets no admin rights", extra={"error": exc.code})
            return False

    # -- install ---------------------------------------------------------------------------------
    async def install(self, form: dict[str, Any]) -> InstallResult:
        """Handle the install page POST (or an ONAPPINSTALL event): store, bind tabs, prepare Disk."""
        if _form_get(form, "event").upper() == "ONAPPINSTALL" and isinstance(form.get("auth"), dict):
            tokens = OAuthTokens.from_oauth_response(form["auth"])
        else:
            tokens = OAuthTokens.from_placement(form)
        if not (tokens.access_token and tokens.member_id and tokens.client_endpoint):
            raise PortalRejected("В запросе установки нет AUTH_ID, member_id или DOMAIN.", "install_incomplete")
        user = await self._user_of(tokens.access_token, tokens.client_endpoint)
        current = await self.active_portal()
        if current is not None and current.member_id != tokens.member_id:
            raise PortalRejected(f"Сервер KlikDok уже подключён к порталу {current.domain}. "
                                 "Сначала удалите приложение там.", "other_portal_installed")
        await self.db.write(lambda d: store.save_install(d, tokens, installed_by=user.id))
        client = await self.client() if self.settings.mode == "oauth" else Bitrix24Client(
            msgspec.structs.replace(self.settings, mode="oauth"),
            token_store=SqliteTokenStore(self.db, tokens.member_id), transport=self._transport)
        assert client is not None
        bound: list[str] = []
        problems: list[str] = []
        app = ApplicationService(client)
        for placement, title in ((DEAL_TAB, "ЭДО"), (COMPANY_TAB, "ЭДО")):
            try:
                await app.bind(placement, f"{self.public_url}/b24/tab", title,
                               lang_all={"ru": {"TITLE": "ЭДО"}, "en": {"TITLE": "EDI"}})
                bound.append(placement)
            except Bitrix24Error as exc:
                problems.append(f"{placement}: {exc.code} {exc.description}".strip())
        try:
            await client.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": f"{self.public_url}/b24/events"})
        except Bitrix24Error as exc:
            if "already" not in exc.description.lower() and "HANDLER_ALREADY" not in exc.code.upper():
                problems.append(f"event.bind ONAPPUNINSTALL: {exc.code} {exc.description}".strip())
        folder_id: int | None = None
        try:
            disk = DiskService(client, storage_id=self.settings.disk_storage_id or None)
            root = await disk.root_folder_id()
            folder_id = await disk.ensure_folder(root, disk.base_folder)
            storage = str(self.settings.disk_storage_id or "app")
            await self.db.write(lambda d: store.save_disk(d, tokens.member_id, storage, folder_id))
        except Bitrix24Error as exc:
            problems.append(f"Диск: {exc.code} {exc.description}".strip())
        if client is not self._client:
            await client.aclose()
        if problems:
            await self.db.write(lambda d: audit.append(d, actor=f"user:{user.id}", action="portal.install_problems",
                                                       object_type="portal", object_id=tokens.member_id,
                                                       details={"problems": problems}))
        portal = await self.db.read(lambda d: store.get(d, tokens.member_id))
        assert portal is not None
        return InstallResult(portal=portal, user=user, bound=bound, disk_folder_id=folder_id, problems=problems)

    # -- placement and app-page POSTs ------------------------------------------------------------
    async def check_placement(self, form: dict[str, Any], *, client_ip: str) -> PlacementContext:
        """Trust a placement/app POST only after the stored application token and the portal agree."""
        member_id = _form_get(form, "member_id")
        try:
            portal = await self.db.read(lambda d: store.get(d, member_id)) if member_id else None
            if portal is None or not portal.enabled:
                raise PortalRejected("Приложение KlikDok не установлено на этом портале.", "unknown_portal")
            app_token = _form_get(form, "APPLICATION_TOKEN")
            if portal.application_token_hash:
                if not app_token:
                    log.info("placement POST without APPLICATION_TOKEN; relying on the AUTH_ID check")
                elif not store.application_token_matches(portal, app_token):
                    raise PortalRejected("Запрос не от этого портала (APPLICATION_TOKEN не совпадает).",
                                         "application_token_mismatch")
            auth_id = _form_get(form, "AUTH_ID")
            if not auth_id:
                raise PortalRejected("В запросе нет AUTH_ID.", "no_auth_id")
            placement, entity_type, entity_id = placement_entity(form)
            user = await self._user_of(auth_id, portal.client_endpoint)
            admin = placement == "DEFAULT" and await self._is_admin(auth_id, portal.client_endpoint)
        except PortalRejected as exc:
            details = {"reason": exc.reason, "placement": _form_get(form, "PLACEMENT")[:64]}
            await self.db.write(lambda d: audit.append(
                d, actor=f"ip:{client_ip}", action="placement.rejected", object_type="portal",
                object_id=member_id[:64], details=details))
            raise
        return PlacementContext(portal=portal, user=user, placement=placement, entity_type=entity_type,
                                entity_id=entity_id, app_sid=_form_get(form, "APP_SID"), admin=admin)

    async def uninstall(self, form: dict[str, Any], *, client_ip: str) -> bool:
        """ONAPPUNINSTALL: the application token is the only proof (the event carries no user token)."""
        auth = form.get("auth") if isinstance(form.get("auth"), dict) else {}
        member_id = str(auth.get("member_id") or "")
        token = str(auth.get("application_token") or "")
        portal = await self.db.read(lambda d: store.get(d, member_id)) if member_id else None
        if portal is None or not store.application_token_matches(portal, token):
            await self.db.write(lambda d: audit.append(
                d, actor=f"ip:{client_ip}", action="portal.uninstall_rejected", object_type="portal",
                object_id=member_id[:64], details={"reason": "application_token_mismatch"}))
            return False
        done = await self.db.write(lambda d: store.disable(d, member_id, actor="portal", reason="ONAPPUNINSTALL"))
        async with self._lock:
            if self._client is not None and self._client_member == member_id:
                await self._client.aclose()
                self._client = None
        return done
