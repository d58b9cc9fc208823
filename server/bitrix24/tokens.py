"""OAuth token pair of an installed app and where it is kept.

Bitrix rotates the refresh token on every refresh (the old one stops working), so losing a refreshed pair
means the admin has to reopen the app. The client therefore hands every new pair to a TokenStore before using
it; the server implements the store on SQLite, tests use the in-memory one.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable

import msgspec

from .masking import fingerprint


class OAuthTokens(msgspec.Struct, kw_only=True):
    """What the portal or the OAuth server gave us for one install.

    client_endpoint: the portal's REST base, `https://portal/rest/`.
    server_endpoint: the OAuth server's REST base as the portal or the install reported it; informational only:
        tokens are refreshed at the configured OAuth server (`PortalSettings.oauth_token_url`).
    expires_at: unix time the access token stops working (informational: we refresh on `expired_token`).
    """

    access_token: str
    refresh_token: str
    client_endpoint: str
    server_endpoint: str = ""
    member_id: str = ""
    domain: str = ""
    application_token: str = ""
    scope: str = ""
    status: str = ""
    user_id: int | None = None
    expires_at: float | None = None

    def __repr__(self) -> str:
        return (
            f"OAuthTokens(access_token={fingerprint(self.access_token)}, "
            f"refresh_token={fingerprint(self.refresh_token)}, client_endpoint={self.client_endpoint!r}, "
            f"server_endpoint={self.server_endpoint!r}, member_id={self.member_id!r}, domain={self.domain!r}, "
            f"application_token={fingerprint(self.application_token)}, user_id={self.user_id!r}, "
            f"expires_at={self.expires_at!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_oauth_response(cls, data: Mapping[str, Any], previous: OAuthTokens | None = None) -> OAuthTokens:
        """Build from `/oauth/token/` JSON or an event's `auth` block; keep what the answer leaves out."""
        expires_in = data.get("expires_in")
        expires = data.get("expires")
        expires_at: float | None
        if expires not in (None, ""):
            expires_at = float(expires)
        elif expires_in not in (None, ""):
            expires_at = time.time() + float(expires_in)
        else:
            expires_at = None
        keep = previous or cls(access_token="", refresh_token="", client_endpoint="")
        user_id = data.get("user_id")
        return cls(
            access_token=str(data.get("access_token") or ""),
            refresh_token=str(data.get("refresh_token") or keep.refresh_token),
            # A refresh never moves the portal: REST calls keep going where the install (the admin's
            # configured address) put them, whatever the answer says.
            client_endpoint=keep.client_endpoint
            if previous is not None and keep.client_endpoint
            else str(data.get("client_endpoint") or ""),
            server_endpoint=keep.server_endpoint
            if previous is not None and keep.server_endpoint
            else str(data.get("server_endpoint") or ""),
            member_id=str(data.get("member_id") or keep.member_id),
            # A refresh answer's `domain` is the OAuth server's, not the portal's: keep the portal's.
            domain=keep.domain if previous is not None and keep.domain else str(data.get("domain") or ""),
            application_token=str(data.get("application_token") or keep.application_token),
            scope=str(data.get("scope") or keep.scope),
            status=str(data.get("status") or keep.status),
            user_id=int(user_id) if user_id not in (None, "") else keep.user_id,
            expires_at=expires_at,
        )

    @classmethod
    def from_placement(cls, form: Mapping[str, Any], *, protocol_https: bool | None = None) -> OAuthTokens:
        """Build from the install/placement POST (`AUTH_ID`, `REFRESH_ID`, `DOMAIN`, `SERVER_ENDPOINT`...).

        That POST carries no client_endpoint; it is derived from DOMAIN and PROTOCOL (0 http, 1 https).
        """
        domain = str(form.get("DOMAIN") or "")
        if protocol_https is None:
            protocol_https = str(form.get("PROTOCOL", "1")) != "0"
        scheme = "https" if protocol_https else "http"
        expires = form.get("AUTH_EXPIRES")
        return cls(
            access_token=str(form.get("AUTH_ID") or ""),
            refresh_token=str(form.get("REFRESH_ID") or ""),
            client_endpoint=f"{scheme}://{domain}/rest/" if domain else "",
            server_endpoint=str(form.get("SERVER_ENDPOINT") or ""),
            member_id=str(form.get("member_id") or ""),
            domain=domain,
            application_token=str(form.get("APPLICATION_TOKEN") or ""),
            scope=str(form.get("APPLICATION_SCOPE") or ""),
            status=str(form.get("status") or ""),
            expires_at=time.time() + float(expires) if expires not in (None, "") else None,
        )


@runtime_checkable
class TokenStore(Protocol):
    """Persistence for one install's token pair. `save` must be durable before it returns."""

    async def load(self) -> OAuthTokens | None: ...

    async def save(self, tokens: OAuthTokens) -> None: ...


class MemoryTokenStore:
    """A TokenStore for tests and the emulator demo; remembers every saved pair in `history`."""

    def __init__(self, tokens: OAuthTokens | None = None) -> None:
        self._tokens = tokens
        self.history: list[OAuthTokens] = []
        self._lock = asyncio.Lock()

    async def load(self) -> OAuthTokens | None:
        return self._tokens

    async def save(self, tokens: OAuthTokens) -> None:
        async with self._lock:
            self._tokens = tokens
            self.history.append(tokens)

    def __repr__(self) -> str:
        return f"MemoryTokenStore(tokens={self._tokens!r}, saved={len(self.history)})"
