"""The application factory.

``create_app(settings)`` builds a Litestar app and has no side effects: the database, HTTP clients and
background tasks are opened by the lifespan when the server starts and closed when it stops, so tests can
build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.contrib.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from server import __version__
from server.agents.hub import AgentHub
from server.agents.routes import ROUTES as AGENT_ROUTES
from server.api import docs
from server.api.documents import DocumentsController
from server.api.health import healthz
from server.config import Settings
from server.counterparty import runtime as counterparty_runtime
from server.cryptoarm.endpoint import ROUTES as CRYPTOARM_ROUTES
from server.db import Database, audit, migrations, outbox
from server.jsonbody import Request as JsonSafeRequest
from server.portal.service import PortalService
from server.portal.sessions import SessionSigner, load_or_create_key
from server.sdnotify import notify, watchdog_interval
from server.state import AppServices
from server.web import uploads
from server.web.b24 import Bitrix24Pages, session_info
from server.workflow.service import Workflow

HERE = Path(__file__).resolve().parent

log = logging.getLogger("klikdok")


def open_database(settings: Settings) -> Database:
    """Open the database and bring its schema up to date (used by the server and the CLI)."""
    db = Database(settings.storage.database_path, busy_timeout_ms=settings.storage.busy_timeout_ms,
                  synchronous=settings.storage.synchronous)
    db.open()
    applied = db.write_sync(migrations.apply, transaction=False)
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return db


async def _watchdog(services: AppServices, interval: float, stop: asyncio.Event) -> None:
    """Ping systemd's watchdog only while the database still answers.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 ``wait_for`` can swallow a cancellation
    that races with its result, which would keep this loop alive through shutdown.
    """
    while not stop.is_set():
        try:
            async with asyncio.timeout(interval):
                await services.db.read(lambda db: db.execute("SELECT 1").fetchone())
        except Exception:  # a stuck or broken database must stop the pings
            log.error("database check failed; withholding the watchdog ping")
        else:
            notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()


def create_app(settings: Settings, *, portal_transport: httpx.AsyncBaseTransport | None = None) -> Litestar:
    """Build the application; ``portal_transport`` lets tests route portal calls in-process."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = await asyncio.to_thread(open_database, settings)
        recovered = await db.write(outbox.recover)
        if recovered:
            log.info("outbox messages returned to the queue after a restart", extra={"count": recovered})
        # Half-received uploads of a server that was killed mid-request: nothing refers to them.
        await asyncio.to_thread(uploads.sweep, settings.storage.path)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False)
        key = await asyncio.to_thread(load_or_create_key, settings.storage.path / "session.key")
        portal = PortalService(settings.portal, db, settings.server.public_url, data_dir=settings.storage.path,
                               transport=portal_transport)
        workflow = Workflow(settings, db, portal)
        services = AppServices(settings=settings, db=db, http=http, started_at=time.monotonic(),
                               sessions=SessionSigner(key, settings.server.session_ttl_minutes * 60),
                               portal=portal, workflow=workflow)
        app.state.services = services
        await db.write(lambda d: audit.append(d, actor="system", action="server.start",
                                              details={"version": __version__}))
        tasks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()
        interval = watchdog_interval() if settings.server.watchdog else None
        tasks.append(asyncio.create_task(workflow.worker.run(stop), name="outbox"))
        tasks.append(asyncio.create_task(workflow.expire_loop(stop), name="expiry"))
        tasks += counterparty_runtime.start(services, stop)
        agents = services.agents = AgentHub(settings, db, workflow)
        await agents.start()
        if interval:
            tasks.append(asyncio.create_task(_watchdog(services, interval, stop), name="watchdog"))
        try:
            yield
        finally:
            stop.set()
            await agents.stop()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await portal.aclose()
            await http.aclose()
            await asyncio.to_thread(db.close)

    return Litestar(
        route_handlers=[healthz, session_info, Bitrix24Pages, DocumentsController,
                        *AGENT_ROUTES, *CRYPTOARM_ROUTES,
                        *counterparty_runtime.ROUTES,
                        create_static_files_router(path="/static", directories=[HERE / "static"],
                                                   include_in_schema=False)],
        template_config=TemplateConfig(directory=HERE / "templates", engine=JinjaTemplateEngine),
        lifespan=[lifespan],
        openapi_config=docs.openapi_config(settings),
        request_class=JsonSafeRequest,
        debug=False,
        logging_config=None,
    )
