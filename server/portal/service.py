"""The server's link to its Bitrix24 portal: the REST client, install, and checking placement POSTs.

One on-prem server serves one portal, the one the admin names in `[portal] url`. Nothing in a request says
where the portal is: an install from any other address is refused, install tokens are proven at the
configured address (and, for an OAuth application, by a refresh at the configured OAuth server with the
configured client_id/client_secret), and placement POSTs and events must carry the application token once
it is known. Every install and uninstall moves the portal's generation, which ends the page sessions issued
before it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import httpx
import msgspec

from server import jsonbody
from server.bitrix24 import (
    ApplicationService,
    AuthError,
    Bitrix24Client,
    Bitrix24Error,
    CrmService,
    DiskService,
    OAuthError,
    OAuthTokens,
    PortalSettings,
    TransportError,
    User,
    UserDirectory,
)
from server.bitrix24.entities import KINDS, kind_for_placement, smart_process
from server.bitrix24.limiter import LeakyBucket
from server.bitrix24.settings import origin_of
from server.db import Database, audit
from server.portal import robots, store
from server.portal.generation import InstallGeneration
from server.portal.store import Portal, SqliteTokenStore
from server.portal.user_tokens import UserTokens

log = logging.getLogger(__name__)

# Said the same way by the refused install page and by `klikdok doctor`.
PORTAL_URL_HINT = (
    "укажите адрес коробочного Битрикс24 в /etc/klikdok/klikdok.toml: [portal] url = "
    '"https://портал.вашей.компании" — и перезапустите сервер (systemctl restart klikdok)'
)
URL_NOT_SET = (
    "Адрес портала не задан в настройках KlikDok ([portal] url), поэтому установка отклонена. "
    f"Администратору сервера KlikDok: {PORTAL_URL_HINT}."
)


class NoUserToken(Exception):
    """The user has not opened a page since the server started (or their token ran out): their own rights on the
    portal cannot be asked now."""


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
    kind = kind_for_placement(placement)
    entity_id = 0
    if kind is not None:
        try:
            options = jsonbody.loads(_form_get(form, "PLACEMENT_OPTIONS") or "{}")
            entity_id = int(options.get("ID", 0)) if isinstance(options, dict) else 0
        except (ValueError, TypeError):
            entity_id = 0
        if entity_id <= 0:
            raise PortalRejected(f"Не указан номер {kind.genitive} (PLACEMENT_OPTIONS.ID).", "bad_placement_options")
    return placement, kind.code if kind is not None else "", entity_id


class PortalService:
    def __init__(
        self,
        settings: PortalSettings,
        db: Database,
        public_url: str,
        *,
        data_dir: Path,
        transport: httpx.AsyncBaseTransport | None = None,
        smart_processes: Sequence[int] = (),
    ) -> None:
        self.smart_processes = tuple(smart_processes)
        # Users' own tokens from their page POSTs, to ask the portal what they may read (server.workflow.card_access).
        self.user_tokens = UserTokens()
        # "none" and "oauth" both mean "a local application whose tokens arrive at install".
        self.settings = settings if settings.mode == "webhook" else msgspec.structs.replace(settings, mode="oauth")
        self.db = db
        self.public_url = public_url.rstrip("/")
        self._transport = transport
        self._client: Bitrix24Client | None = None
        self._client_member: str | None = None
        # Further install steps the upper layers register (the CRM status field and triggers, issue 17): each
        # gets the install's client and returns its problems, which are audited with the others.
        self.install_steps: list[Callable[[Bitrix24Client], Awaitable[list[str]]]] = []
        # One budget for every client of the portal: it counts all of the application's requests against one
        # bucket, and a checker pacing itself apart from the main client let the two together overflow it.
        self._budget = LeakyBucket(self.settings.rate_per_second, self.settings.burst)
        # A client for checking tokens that arrive in POSTs; it never uses stored tokens itself.
        self._checker = Bitrix24Client(
            msgspec.structs.replace(self.settings, mode="webhook", webhook_url="http://unused.invalid/rest/"),
            transport=transport,
            limiter=self._budget,
        )
        self._lock = asyncio.Lock()
        # The active portal and its generation, for checking page sessions without a database read.
        self.installs = InstallGeneration(db, data_dir)

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
                    self._client = Bitrix24Client(self.settings, transport=self._transport, limiter=self._budget)
                return self._client
            portal = await self.active_portal()
            if portal is None or not portal.has_tokens or not self.serves(portal):
                return None
            if self._client is None or self._client_member != portal.member_id:
                if self._client is not None:
                    await self._client.aclose()
                self._client = Bitrix24Client(
                    self.settings,
                    token_store=SqliteTokenStore(self.db, portal.member_id),
                    transport=self._transport,
                    limiter=self._budget,
                )
                self._client_member = portal.member_id
            else:
                await self._client.reload_tokens()
            return self._client

    def serves(self, portal: Portal) -> bool:
        """Whether `portal` is the one the admin configured (an install kept from another address is not)."""
        origin = self.settings.portal_origin
        return bool(origin) and origin_of(portal.client_endpoint) == origin

    def session_current(self, member_id: str, generation: int) -> bool:
        """Whether a page session issued for (member_id, generation) still stands; no database read."""
        portal = self.installs.active()
        return (
            portal is not None
            and portal.member_id == member_id
            and portal.generation == generation
            and self.serves(portal)
        )

    async def _user_of(self, access_token: str, endpoint: str) -> User:
        try:
            return await UserDirectory(self._checker).current(access_token=access_token, endpoint=endpoint)
        except AuthError as exc:
            raise PortalRejected("Портал не подтвердил авторизацию (AUTH_ID).", f"auth_rejected:{exc.code}") from None
        except TransportError as exc:
            raise PortalUnavailable(f"Портал Битрикс24 не отвечает ({exc.code}).") from None
        except Bitrix24Error as exc:
            raise PortalRejected("Портал отклонил проверку авторизации.", f"auth_error:{exc.code}") from None

    # -- install ---------------------------------------------------------------------------------
    async def _is_admin(self, access_token: str, *, strict: bool) -> bool:
        """Whether the configured portal says the token's user is its administrator (``user.admin``).

        An install needs a clear yes (``strict``: no answer refuses it); a page session without an answer
        just gets no admin rights.
        """
        try:
            return (
                await self._checker.call("user.admin", auth=access_token, endpoint=self.settings.portal_rest_base)
                is True
            )
        except Bitrix24Error as exc:
            if not strict:
                log.warning("user.admin failed; the session gets no admin rights", extra={"error": exc.code})
                return False
            if isinstance(exc, TransportError):
                raise PortalUnavailable(f"Портал Битрикс24 не отвечает ({exc.code}).") from None
            raise PortalRejected("Портал не подтвердил права администратора.", f"admin_check:{exc.code}") from None

    async def _proven_by_refresh(self, tokens: OAuthTokens, user: User) -> OAuthTokens:
        """Trade the install's refresh token at the configured OAuth server with our client_id/client_secret.

        Only a pair minted for this application on this portal survives that; the fresh pair replaces the
        one the browser saw, so only the server holds a live refresh token afterwards.
        """
        if not tokens.refresh_token:
            raise PortalRejected("В запросе установки нет REFRESH_ID.", "no_refresh_token")
        try:
            fresh = await self._checker.redeem_refresh_token(tokens.refresh_token)
        except OAuthError as exc:
            raise PortalRejected(
                "Сервер авторизации Битрикс24 не подтвердил, что токены установки выданы этому приложению (client_id).",
                f"oauth_refresh_refused:{exc.code}",
            ) from None
        except TransportError as exc:
            raise PortalUnavailable(
                f"Сервер авторизации {self.settings.oauth_base} не отвечает ({exc.code})."
            ) from None
        except Bitrix24Error as exc:
            raise PortalRejected(
                "Сервер авторизации отклонил проверку токенов установки.", f"oauth_error:{exc.code}"
            ) from None
        if fresh.member_id and fresh.member_id != tokens.member_id:
            raise PortalRejected("Токены установки выданы другому порталу.", "oauth_member_mismatch")
        if fresh.client_endpoint and origin_of(fresh.client_endpoint) != self.settings.portal_origin:
            raise PortalRejected("Токены установки выданы другому порталу.", "oauth_portal_mismatch")
        if fresh.user_id is not None and fresh.user_id != user.id:
            raise PortalRejected("Токены установки выданы другому пользователю.", "oauth_user_mismatch")
        return msgspec.structs.replace(
            tokens,
            access_token=fresh.access_token,
            refresh_token=fresh.refresh_token,
            expires_at=fresh.expires_at,
            scope=fresh.scope or tokens.scope,
        )

    async def _proven_install(self, tokens: OAuthTokens) -> tuple[OAuthTokens, User]:
        """Every check an install must pass before anything is stored; raises PortalRejected."""
        origin = self.settings.portal_origin
        if not origin:
            raise PortalRejected(URL_NOT_SET, "portal_url_not_configured")
        if not (tokens.access_token and tokens.member_id and tokens.client_endpoint):
            raise PortalRejected("В запросе установки нет AUTH_ID, member_id или DOMAIN.", "install_incomplete")
        if origin_of(tokens.client_endpoint) != origin:
            raise PortalRejected(
                f"Установка пришла не с портала {origin}, к которому подключён этот сервер KlikDok ([portal] url).",
                "wrong_portal",
            )
        current = await self.active_portal()
        if current is not None and current.member_id != tokens.member_id:
            raise PortalRejected(
                f"Сервер KlikDok уже подключён к порталу {current.domain}. Сначала удалите приложение там.",
                "other_portal_installed",
            )
        if (
            current is not None
            and current.application_token_hash
            and not store.application_token_matches(current, tokens.application_token)
        ):
            raise PortalRejected(
                "Токен приложения не совпадает с полученным при установке. Если приложение "
                "удалили и установили заново, а сервер не узнал об удалении, выполните "
                "`klikdok portal disable` и повторите установку.",
                "application_token_mismatch",
            )
        # The tokens are checked at the configured address, never at the one the request names.
        user = await self._user_of(tokens.access_token, self.settings.portal_rest_base)
        if not await self._is_admin(tokens.access_token, strict=True):
            raise PortalRejected("Установить приложение может только администратор портала.", "not_admin")
        if self.settings.is_oauth_application:
            tokens = await self._proven_by_refresh(tokens, user)
        pinned = msgspec.structs.replace(
            tokens,
            client_endpoint=self.settings.portal_rest_base,
            domain=origin.split("://", 1)[1],
            server_endpoint=f"{self.settings.oauth_base}/rest/" if self.settings.is_oauth_application else "",
        )
        return pinned, user

    async def install(self, form: dict[str, Any], *, client_ip: str = "?") -> InstallResult:
        """Handle the install page POST (or an ONAPPINSTALL event): prove, store, bind tabs, prepare Disk."""
        if _form_get(form, "event").upper() == "ONAPPINSTALL" and isinstance(form.get("auth"), dict):
            claimed = OAuthTokens.from_oauth_response(form["auth"])
        else:
            claimed = OAuthTokens.from_placement(form)
        try:
            tokens, user = await self._proven_install(claimed)
        except PortalRejected as exc:
            details = {"reason": exc.reason, "address": origin_of(claimed.client_endpoint) or claimed.domain[:253]}
            await self.db.write(
                lambda d: audit.append(
                    d,
                    actor=f"ip:{client_ip}",
                    action="portal.install_rejected",
                    object_type="portal",
                    object_id=claimed.member_id[:64],
                    details=details,
                )
            )
            raise
        await self.db.write(lambda d: store.save_install(d, tokens, installed_by=user.id))
        self.installs.changed()
        client = (
            await self.client()
            if self.settings.mode == "oauth"
            else Bitrix24Client(
                msgspec.structs.replace(self.settings, mode="oauth"),
                token_store=SqliteTokenStore(self.db, tokens.member_id),
                transport=self._transport,
                limiter=self._budget,
            )
        )
        assert client is not None
        bound: list[str] = []
        problems: list[str] = []
        app = ApplicationService(client)
        tabs = [*KINDS, *(smart_process(t) for t in await self._enabled_smart_processes(client, problems))]
        for placement, title in ((kind.placement, "ЭДО") for kind in tabs):
            try:
                await app.bind(
                    placement,
                    f"{self.public_url}/b24/tab",
                    title,
                    lang_all={"ru": {"TITLE": "ЭДО"}, "en": {"TITLE": "EDI"}},
                )
                bound.append(placement)
            except Bitrix24Error as exc:
                problems.append(f"{placement}: {exc.code} {exc.description}".strip())
        try:
            # Issue 17: the deal list's row menu opens the bulk send (server/routes/templates.py); bind() is
            # idempotent, so a reinstall adds nothing.
            await app.bind(
                "CRM_DEAL_LIST_MENU",
                f"{self.public_url}/b24/bulk",
                "KlikDok: отправить на подпись",
                lang_all={
                    "ru": {"TITLE": "KlikDok: отправить на подпись"},
                    "en": {"TITLE": "KlikDok: send for signing"},
                },
            )
        except Bitrix24Error as exc:
            problems.append(f"CRM_DEAL_LIST_MENU: {exc.code} {exc.description}".strip())
        try:
            await client.call("event.bind", {"event": "ONAPPUNINSTALL", "handler": f"{self.public_url}/b24/events"})
        except Bitrix24Error as exc:
            if "already" not in exc.description.lower() and "HANDLER_ALREADY" not in exc.code.upper():
                problems.append(f"event.bind ONAPPUNINSTALL: {exc.code} {exc.description}".strip())
        # Issue 17: the automation robots (added once; a re-install keeps the ones the portal has).
        problems += await robots.register(client, self.public_url, auth_user_id=user.id)
        folder_id: int | None = None
        try:
            disk = DiskService(client, storage_id=self.settings.disk_storage_id or None)
            root = await disk.root_folder_id()
            folder_id = await disk.ensure_folder(root, disk.base_folder)
            storage = str(self.settings.disk_storage_id or "app")
            await self.db.write(lambda d: store.save_disk(d, tokens.member_id, storage, folder_id))
        except Bitrix24Error as exc:
            problems.append(f"Диск: {exc.code} {exc.description}".strip())
        for step in self.install_steps:
            problems.extend(await step(client))
        if client is not self._client:
            await client.aclose()
        if problems:
            await self.db.write(
                lambda d: audit.append(
                    d,
                    actor=f"user:{user.id}",
                    action="portal.install_problems",
                    object_type="portal",
                    object_id=tokens.member_id,
                    details={"problems": problems},
                )
            )
        portal = await self.db.read(lambda d: store.get(d, tokens.member_id))
        assert portal is not None
        return InstallResult(portal=portal, user=user, bound=bound, disk_folder_id=folder_id, problems=problems)

    async def _enabled_smart_processes(self, client: Bitrix24Client, problems: list[str]) -> list[int]:
        """The configured smart processes the portal has (crm.type.list); the others are named as a problem on the
        install page instead of failing their placement.bind one by one."""
        if not self.smart_processes:
            return []
        try:
            known = {t.entity_type_id for t in await CrmService(client).smart_process_types()}
        except Bitrix24Error as exc:
            problems.append(f"Смарт-процессы: {exc.code} {exc.description}".strip())
            return []
        missing = [t for t in self.smart_processes if t not in known]
        if missing:
            problems.append(
                f"Смарт-процессы {', '.join(map(str, missing))} из настроек ([crm] smart_processes) не найдены "
                "на портале: вкладка «ЭДО» для них не добавлена."
            )
        return [t for t in self.smart_processes if t in known]

    # -- placement and app-page POSTs ------------------------------------------------------------
    async def check_placement(self, form: dict[str, Any], *, client_ip: str) -> PlacementContext:
        """Trust a placement/app POST only after the stored application token and the portal agree."""
        member_id = _form_get(form, "member_id")
        try:
            portal = await self.db.read(lambda d: store.get(d, member_id)) if member_id else None
            if portal is None or not portal.enabled:
                raise PortalRejected("Приложение KlikDok не установлено на этом портале.", "unknown_portal")
            if not self.settings.portal_origin:
                raise PortalRejected(URL_NOT_SET, "portal_url_not_configured")
            if not self.serves(portal):
                raise PortalRejected(
                    "Приложение установлено с портала, который не указан в настройках KlikDok "
                    "([portal] url). Установите приложение заново.",
                    "portal_not_configured",
                )
            app_token = _form_get(form, "APPLICATION_TOKEN")
            if portal.application_token_hash:
                if not app_token:
                    raise PortalRejected("Запрос не от портала: нет APPLICATION_TOKEN.", "no_application_token")
                if not store.application_token_matches(portal, app_token):
                    raise PortalRejected(
                        "Запрос не от этого портала (APPLICATION_TOKEN не совпадает).", "application_token_mismatch"
                    )
            auth_id = _form_get(form, "AUTH_ID")
            if not auth_id:
                raise PortalRejected("В запросе нет AUTH_ID.", "no_auth_id")
            placement, entity_type, entity_id = placement_entity(form)
            user = await self._user_of(auth_id, self.settings.portal_rest_base)
            admin = placement == "DEFAULT" and await self._is_admin(auth_id, strict=False)
            self.user_tokens.keep(member_id, user.id, auth_id, _form_get(form, "AUTH_EXPIRES"))
        except PortalRejected as exc:
            details = {"reason": exc.reason, "placement": _form_get(form, "PLACEMENT")[:64]}
            await self.db.write(
                lambda d: audit.append(
                    d,
                    actor=f"ip:{client_ip}",
                    action="placement.rejected",
                    object_type="portal",
                    object_id=member_id[:64],
                    details=details,
                )
            )
            raise
        return PlacementContext(
            portal=portal,
            user=user,
            placement=placement,
            entity_type=entity_type,
            entity_id=entity_id,
            app_sid=_form_get(form, "APP_SID"),
            admin=admin,
        )

    async def call_as_user(self, user_id: int, method: str, params: dict[str, Any]) -> Any:
        """One REST call with the user's own token (their rights, not the application's); None when no page of
        theirs brought a live token since the server started (see :mod:`server.portal.user_tokens`)."""
        active = self.installs.active()
        member_id = active.member_id if active is not None and active.enabled else ""
        token = self.user_tokens.get(member_id, user_id) if member_id else None
        if token is None:
            raise NoUserToken(user_id)
        try:
            return await self._checker.call(method, params, auth=token, endpoint=self.settings.portal_rest_base)
        except AuthError:
            self.user_tokens.forget(member_id, user_id)
            raise

    async def uninstall(self, form: dict[str, Any], *, client_ip: str) -> bool:
        """ONAPPUNINSTALL: the application token is the only proof (the event carries no user token)."""
        given = form.get("auth")
        auth: dict[str, Any] = given if isinstance(given, dict) else {}
        member_id = str(auth.get("member_id") or "")
        token = str(auth.get("application_token") or "")
        portal = await self.db.read(lambda d: store.get(d, member_id)) if member_id else None
        if portal is None or not store.application_token_matches(portal, token):
            await self.db.write(
                lambda d: audit.append(
                    d,
                    actor=f"ip:{client_ip}",
                    action="portal.uninstall_rejected",
                    object_type="portal",
                    object_id=member_id[:64],
                    details={"reason": "application_token_mismatch"},
                )
            )
            return False
        done = await self.db.write(lambda d: store.disable(d, member_id, actor="portal", reason="ONAPPUNINSTALL"))
        self.installs.changed()
        async with self._lock:
            if self._client is not None and self._client_member == member_id:
                await self._client.aclose()
                self._client = None
        return done

    async def check_event(self, form: dict[str, Any], *, client_ip: str) -> bool:
        """Any other event: it must come from the installed portal with its application token."""
        given = form.get("auth")
        auth: dict[str, Any] = given if isinstance(given, dict) else {}
        member_id = str(auth.get("member_id") or "")
        token = str(auth.get("application_token") or "")
        portal = await self.db.read(lambda d: store.get(d, member_id)) if member_id else None
        if portal is not None and portal.enabled and store.application_token_matches(portal, token):
            return True
        event = _form_get(form, "event")[:64]
        await self.db.write(
            lambda d: audit.append(
                d,
                actor=f"ip:{client_ip}",
                action="event.rejected",
                object_type="portal",
                object_id=member_id[:64],
                details={"event": event, "reason": "application_token_mismatch"},
            )
        )
        return False
