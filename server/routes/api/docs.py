"""The API description (OpenAPI JSON): off unless ``[server] api_docs``; then for portal admins only.

No documentation pages are served: Swagger, ReDoc and the like load their scripts from a CDN, which an
on-prem box often cannot reach, and a public schema lists every route for an outsider. The JSON alone is
enough for an admin's tools; it needs the page session of the app page opened by a portal administrator.
"""

from __future__ import annotations

from typing import Any

from litestar import Router
from litestar.connection import ASGIConnection
from litestar.exceptions import PermissionDeniedException
from litestar.handlers import BaseRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from server import __version__
from server.config import Settings
from server.routes.dependencies import provide_services
from server.routes.sessions import verify_session

PATH = "/schema"


def admins_only(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    services = provide_services(connection.app.state)  # guards get no dependency injection
    session = verify_session(connection, services.sessions, services.portal)  # 401 without a valid page session
    if not session.admin:
        raise PermissionDeniedException("Описание API доступно только администратору портала.")


def openapi_config(settings: Settings) -> OpenAPIConfig | None:
    """``/schema/openapi.json`` (also ``/schema``) behind :func:`admins_only`, or nothing at all."""
    if not settings.server.api_docs:
        return None
    router = Router(PATH, route_handlers=[], guards=[admins_only], include_in_schema=False)
    return OpenAPIConfig(
        title="KlikDok API", version=__version__, render_plugins=[JsonRenderPlugin()], openapi_router=router
    )
