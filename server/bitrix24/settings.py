"""The `[portal]` section of the server config: how to reach the Bitrix24 portal."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from .masking import fingerprint, redact


class PortalSettings(msgspec.Struct, kw_only=True, forbid_unknown_fields=True, frozen=True):
    """Connection settings for one Bitrix24 portal (the `[portal]` config section).

    The field names match the foundation's `server.config.PortalSettings`, so this struct can replace it
    as is; `from_config` also converts any object with these attributes.

    mode: "oauth" uses the tokens the portal sends at app install (kept in a TokenStore and refreshed on
        `expired_token`); "webhook" uses an inbound webhook URL and needs no OAuth server, so it works on a
        portal without Internet access (but cannot bind placements or use the app's own Disk storage);
        "none" means no portal is configured (no client can be built).
    webhook_url: `https://portal/rest/<user_id>/<code>/`; required in webhook mode. It is a credential.
    client_id, client_secret: the local application's credentials from the portal (oauth mode).
    oauth_server: where tokens are refreshed, e.g. `https://oauth.bitrix.info`; empty means "use the
        server_endpoint the portal sent with the tokens", which is what Bitrix recommends.
    disk_storage_id: a Disk storage to keep documents in (e.g. the company's common drive); 0 means the
        application's own storage from `disk.storage.getforapp`.
    rate_per_second, burst: client-side leaky bucket, matching the portal's limit (2/s, burst 50 by default).
    max_retries: extra attempts after the first on 503 QUERY_LIMIT_EXCEEDED, 5xx and network errors.
    timeout_seconds: connect/read timeout of one REST call.
    transfer_timeout_seconds: timeout of one Disk upload or download (big files on a slow link).
    ca_file: PEM bundle for portals behind an internal CA; empty means the system store.
    """

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

    def __post_init__(self) -> None:
        if self.rate_per_second <= 0:
            raise ValueError("portal.rate_per_second must be positive")
        if self.burst < 1:
            raise ValueError("portal.burst must be at least 1")
        if self.max_retries < 0:
            raise ValueError("portal.max_retries must not be negative")

    @classmethod
    def from_config(cls, section: Any) -> PortalSettings:
        """Build from any object with these attribute names (e.g. the server config's `[portal]`)."""
        if isinstance(section, cls):
            return section
        values = {name: getattr(section, name) for name in cls.__struct_fields__ if hasattr(section, name)}
        return cls(**values)

    def __repr__(self) -> str:
        return (
            f"PortalSettings(mode={self.mode!r}, webhook_url={redact(self.webhook_url)!r}, "
            f"client_id={self.client_id!r}, client_secret={fingerprint(self.client_secret)}, "
            f"oauth_server={self.oauth_server!r}, disk_storage_id={self.disk_storage_id!r}, "
            f"rate_per_second={self.rate_per_second}, burst={self.burst}, max_retries={self.max_retries}, "
            f"timeout_seconds={self.timeout_seconds})"
        )

    __str__ = __repr__
