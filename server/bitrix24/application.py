"""App-level calls: `app.info` and CRM tab placements.

`placement.bind` fails on a placement/handler pair that is already bound, and re-installs happen (new version,
admin clicking "reinstall"), so binding checks `placement.get` first and only binds what is missing.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote, urlencode

import msgspec

from .client import Bitrix24Client
from .convert import to_bool, to_int, to_str
from .entities import COMPANY, DEAL
from .errors import InvalidArgument

DEAL_TAB = DEAL.placement
COMPANY_TAB = COMPANY.placement


class AppInfo(msgspec.Struct, frozen=True):
    id: int | None
    code: str
    version: int | None
    status: str
    installed: bool


class Binding(msgspec.Struct, frozen=True):
    placement: str
    handler: str
    title: str


def app_page_path(app: int | str, **options: str) -> str:
    """The application's page on the portal, relative to its origin: ``/marketplace/app/<id>/?k=v``.

    ``app`` is the id ``app.info`` gives, or the application's client_id (the portal looks an application up by
    either). The portal hands the query of a link to the main page as PLACEMENT_OPTIONS (``{"k": "v"}``): that is
    how a link in a notification opens one view of the page (Bitrix's box source, the ``app.layout`` component).
    """
    path = f"/marketplace/app/{quote(str(app), safe='')}/"
    return f"{path}?{urlencode(options)}" if options else path


def _norm_handler(url: str) -> str:
    return url.strip().rstrip("/")


class ApplicationService:
    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    async def info(self, *, access_token: str | None = None, endpoint: str | None = None) -> AppInfo:
        """`app.info`; with `access_token` it checks someone else's token (e.g. a placement's AUTH_ID)."""
        kwargs: dict[str, Any] = {}
        if access_token is not None:
            kwargs = {"auth": access_token, "endpoint": endpoint}
        raw = await self.client.call("app.info", **kwargs) or {}
        return AppInfo(
            id=to_int(raw.get("ID")),
            code=to_str(raw.get("CODE")),
            version=to_int(raw.get("VERSION")),
            status=to_str(raw.get("STATUS")),
            installed=to_bool(raw.get("INSTALLED")),
        )

    async def bindings(self) -> list[Binding]:
        rows = await self.client.call("placement.get") or []
        return [
            Binding(
                placement=to_str(r.get("placement") or r.get("PLACEMENT")),
                handler=to_str(r.get("handler") or r.get("HANDLER")),
                title=to_str(r.get("title") or r.get("TITLE")),
            )
            for r in rows
            if isinstance(r, dict)
        ]

    async def bind(
        self, placement: str, handler: str, title: str, *, lang_all: dict[str, dict[str, str]] | None = None
    ) -> bool:
        """Bind `handler` to `placement` unless that exact pair is bound already. Returns True if it bound."""
        existing = await self.bindings()
        if any(b.placement == placement and _norm_handler(b.handler) == _norm_handler(handler) for b in existing):
            return False
        params: dict[str, Any] = {"PLACEMENT": placement, "HANDLER": handler, "TITLE": title}
        if lang_all:
            params["LANG_ALL"] = lang_all
        try:
            await self.client.call("placement.bind", params)
        except InvalidArgument as exc:
            # A concurrent install bound it between our check and our bind.
            if "already" in exc.description.lower() or "ALREADY" in exc.code.upper():
                return False
            raise
        return True

    async def unbind(self, placement: str, handler: str | None = None) -> int:
        params: dict[str, Any] = {"PLACEMENT": placement}
        if handler:
            params["HANDLER"] = handler
        result = await self.client.call("placement.unbind", params) or {}
        return to_int(result.get("count") if isinstance(result, dict) else result, 0) or 0
