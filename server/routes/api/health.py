"""``GET /healthz``: what a load balancer, systemd's watchdog script or on-call looks at first."""

from __future__ import annotations

import time

import msgspec
from litestar import get
from litestar.response import Response
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from sqlite_utils import Database as SqliteUtilsDatabase

from server import __version__
from server.db import migrations

from ..dependencies import Services


class DatabaseHealth(msgspec.Struct):
    status: str
    applied_migrations: int = 0
    pending_migrations: int = 0
    error: str = ""


class Health(msgspec.Struct):
    status: str
    version: str
    uptime_seconds: float
    database: DatabaseHealth


def _database_health(db: SqliteUtilsDatabase) -> DatabaseHealth:
    applied, pending = migrations.check(db)
    return DatabaseHealth(status="ok", applied_migrations=applied, pending_migrations=pending)


@get("/healthz", operation_id="health", summary="Health of the server and its database", exclude_from_auth=True)
async def healthz(services: Services) -> Response[Health]:
    try:
        database = await services.db.read(_database_health)
    except Exception as exc:
        database = DatabaseHealth(status="error", error=type(exc).__name__)
    ok = database.status == "ok" and database.pending_migrations == 0
    body = Health(
        status="ok" if ok else "degraded",
        version=__version__,
        uptime_seconds=round(time.monotonic() - services.started_at, 3),
        database=database,
    )
    return Response(body, status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE)
