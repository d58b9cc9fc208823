"""The `[portal]` section of the server config: how to reach the Bitrix24 portal."""

from __future__ import annotations

from typing import Any, Literal
from urllib.parse import urlsplit

import msgspec

from server.text import portal_zone

from .masking import fingerprint, redact

# The OAuth server a box portal itself uses unless its admin changed the `rest` module option `oauth_server`
# (Bitrix's box source reads `Option::get('rest', 'oauth_server', 'https://oauth.bitrix.info')`). The portal
# validates every app token there, so it is also where the app must refresh: a box need not proxy its own
# /oauth/token/ (Bitrix24 docs, "Коробочная версия": "для обновления токенов всегда обращайтесь напрямую к
# серверу авторизации"). oauth.bitrix24.tech is the same service's newer name in the Russian docs.
DEFAULT_OAUTH_SERVER = "https://oauth.bitrix.info"


def origin_of(url: str) -> str:
    """`HTTPS://Portal.Example.ru:443/rest/` -> `https://portal.example.ru`; "" when it is not an http(s) URL.

    Two addresses name the same portal exactly when their origins are equal: scheme and host compared
    case-insensitively, the default port dropped, any path ignored.
    """
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("http", "https") or not host or parts.username is not None:
        return ""
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != (443 if scheme == "https" else 80):
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


class PortalSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Connection settings for one Bitrix24 portal (the `[portal]` config section).

    The field names match the foundation's `server.config.PortalSettings`, so this struct can replace it
    as is; `from_config` also converts any object with these attributes.

    url: the portal's own address (`https://portal.example.ru`), named by the admin. Installs from any other
        address are refused, install tokens are checked there, and REST calls go there. Required in "oauth" and
        "none" modes; in "webhook" mode it defaults to the webhook URL's address.
    mode: "oauth" uses the tokens the portal sends at app install (kept in a TokenStore and refreshed on
        `expired_token`); "webhook" uses an inbound webhook URL and needs no OAuth server, so it works on a
        portal without Internet access (but cannot bind placements or use the app's own Disk storage);
        "none" means no portal is configured (no client can be built).
    webhook_url: `https://portal/rest/<user_id>/<code>/`; required in webhook mode. It is a credential.
    client_id, client_secret: the local application's credentials from the portal (oauth mode).
    oauth_server: the OAuth server where install tokens are proven and tokens are refreshed; empty means
        DEFAULT_OAUTH_SERVER, the box's own default. Never taken from a request's SERVER_ENDPOINT: whoever
        could name it would receive our client_secret and hand us tokens of their choice.
    disk_storage_id: a Disk storage to keep documents in (e.g. the company's common drive); 0 means the
        application's own storage from `disk.storage.getforapp`.
    rate_per_second, burst: client-side leaky bucket, matching the portal's limit (2/s, burst 50 by default).
    max_retries: extra attempts after the first on 503 QUERY_LIMIT_EXCEEDED, 5xx and network errors.
    timeout_seconds: connect/read timeout of one REST call.
    transfer_timeout_seconds: timeout of one Disk upload or download (big files on a slow link).
    ca_file: PEM bundle for portals behind an internal CA; empty means the system store.
    timezone: the portal's time zone (an IANA name): every page, e-mail and report shows moments in it.
    """

    url: str = ""
    mode: Literal["none", "oauth", "webhook"] = "none"
    webhook_url: str = ""
    client_id: str = ""
    client_secret: str = ""
    oauth_server: str = ""
    disk_storage_id: int = 0
    rate_per_second: float = 2.0
    burst: int = 50
    max_retries: int = 5
    timeout_seconds: float = 30.0
    transfer_timeout_seconds: float = 300.0
    ca_file: str = ""
    timezone: str = "Europe/Moscow"

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0:
            raise ValueError("portal.rate_per_second must be positive")
        if self.burst < 1:
            raise ValueError("portal.burst must be at least 1")
        if self.max_retries < 0:
            raise ValueError("portal.max_retries must not be negative")
        if self.url and (not origin_of(self.url) or urlsplit(self.url).path.strip("/")):
            raise ValueError("portal.url must be the portal's address, e.g. https://portal.example.ru")
        portal_zone(self.timezone)  # a ValueError in Russian naming the key
        if self.oauth_server and not origin_of(self.oauth_server):
            raise ValueError("portal.oauth_server must be an http(s) address, e.g. https://oauth.bitrix.info")

    @property
    def portal_origin(self) -> str:
        """The portal KlikDok serves (`scheme://host[:port]`), or "" when the admin has not named it."""
        if self.url:
            return origin_of(self.url)
        if self.mode == "webhook":
            return origin_of(self.webhook_url)
        return ""

    @property
    def portal_rest_base(self) -> str:
        """`https://portal.example.ru/rest/`, or "" when the portal is not named."""
        origin = self.portal_origin
        return f"{origin}/rest/" if origin else ""

    @property
    def oauth_base(self) -> str:
        """The OAuth server's address: `oauth_server` (a trailing `/rest/` tolerated), or the box's default."""
        base = (self.oauth_server or DEFAULT_OAUTH_SERVER).strip().rstrip("/")
        return base.removesuffix("/rest").rstrip("/")

    @property
    def oauth_token_url(self) -> str:
        """Where refresh_token grants go: `<oauth server>/oauth/token/`."""
        return f"{self.oauth_base}/oauth/token/"

    @property
    def is_oauth_application(self) -> bool:
        """Whether the local application's credentials are configured, so tokens can be refreshed (and proven)."""
        return bool(self.client_id and self.client_secret)

    @classmethod
    def from_config(cls, section: Any) -> PortalSettings:
        """Build from any object with these attribute names (e.g. the server config's `[portal]`)."""
        if isinstance(section, cls):
            return section
        values = {name: getattr(section, name) for name in cls.__struct_fields__ if hasattr(section, name)}
        return cls(**values)

    def __repr__(self) -> str:
        return (
            f"PortalSettings(url={self.url!r}, mode={self.mode!r}, webhook_url={redact(self.webhook_url)!r}, "
            f"client_id={self.client_id!r}, client_secret={fingerprint(self.client_secret)}, "
            f"oauth_server={self.oauth_server!r}, disk_storage_id={self.disk_storage_id!r}, "
            f"rate_per_second={self.rate_per_second}, burst={self.burst}, max_retries={self.max_retries}, "
            f"timeout_seconds={self.timeout_seconds}, timezone={self.timezone!r})"
        )

    __str__ = __repr__
