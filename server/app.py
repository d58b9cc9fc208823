"""The application factory.

``create_app(settings)`` builds a Litestar app and has no side effects: the database, HTTP clients and
background tasks are opened by the lifespan when the server starts and closed when it stops, so tests can
build as many apps as they like.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
from litestar import Litestar
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.static_files import create_static_files_router
from litestar.template.config import TemplateConfig

from cades.tls import default_context
from server import __version__
from server.agents.hub import AgentHub
from server.config import Settings
from server.counterparty import runtime as counterparty_runtime
from server.cryptoarm import handlers as cryptoarm_handlers
from server.cryptoarm.certificate_handler import CertificateHandler
from server.cryptoarm.job_handler import JobHandler
from server.db import Database, audit, checks, idempotency, migrations, outbox
from server.foreground import Foreground
from server.jsonbody import Request as JsonSafeRequest
from server.portal.service import PortalService
from server.portal.sessions import SessionSigner, load_or_create_key
from server.routes import ROUTES, errors, uploads
from server.routes.api import docs
from server.routes.dependencies import DEPENDENCIES
from server.routes.idempotency import IdempotencyMiddleware, IdempotencyRefused, refusal_answer
from server.sdnotify import notify, watchdog_interval
from server.state import AppServices
from server.trust.context import TrustContext
from server.trust.refresher import RevocationRefresher
from server.trust.revocation_cache import CachingFetcher, cache_directory
from server.workflow import approval, effects, robots
from server.workflow.archive_checks import ArchiveChecks
from server.workflow.card_access import CardAccess
from server.workflow.crm_status import CrmStatus
from server.workflow.directory import PortalDirectory
from server.workflow.docstate import TRANSITIONS
from server.workflow.downloads import Downloads
from server.workflow.expiry import Expiry
from server.workflow.files import FileCache, Spool
from server.workflow.intake import Intake
from server.workflow.listeners import TransitionListeners
from server.workflow.outbox_worker import OutboxWorker
from server.workflow.packaging import Packaging
from server.workflow.paper_copies import PaperCopies
from server.workflow.public_verdicts import PublicVerdicts
from server.workflow.queries import DocumentQueries
from server.workflow.registration import CertificateRegistration
from server.workflow.reminders import Reminders
from server.workflow.reports import Reports
from server.workflow.robots import Robots
from server.workflow.signatures import SignatureDeps
from server.workflow.templates import DocumentTemplates
from server.workflow.transitions import Transitions
from server.workflow.versions import Versions

HERE = Path(__file__).resolve().parent

log = logging.getLogger("klikdok")


def open_database(settings: Settings) -> Database:
    """Open the database and bring its schema up to date (used by the server and the CLI)."""
    db = Database(
        settings.storage.database_path,
        busy_timeout_ms=settings.storage.busy_timeout_ms,
        synchronous=settings.storage.synchronous,
    )
    db.open()
    applied = db.write_sync(migrations.apply, transaction=False)
    if applied:
        log.info("migrations applied", extra={"migrations": applied})
    return db


def revocation_cache(settings: Settings) -> CachingFetcher | None:
    """The caching network fetcher validation uses, or None when ``[trust] fetch`` is off (offline box)."""
    trust = settings.trust
    if not trust.network:
        return None
    return CachingFetcher(
        cache_directory(settings.storage.path),
        max_age=dt.timedelta(hours=trust.crl_cache_hours),
        max_crl_bytes=trust.crl_max_mb * 1024 * 1024,
        timeout=trust.fetch_timeout_seconds,
    )


def workflow_services(
    settings: Settings, db: Database, http: httpx.AsyncClient, portal: PortalService, sessions: SessionSigner
) -> AppServices:
    """The workflow's services wired to one another: who shares the listeners, the spool and the file cache.

    The outbox worker is woken by every committed transition; everything else is built from the settings.
    """
    wf = settings.workflow
    spool = Spool(settings.storage.path / "spool")
    cache = FileCache(settings.storage.path / "cache", settings.storage.cache_max_mb * 1024 * 1024)
    foreground = Foreground()
    worker = OutboxWorker(
        db,
        portal.client,
        batch_size=wf.outbox_batch_size,
        poll_seconds=wf.outbox_poll_seconds,
        max_attempts=wf.outbox_max_attempts,
        paused=wf.outbox_paused,
        spool=spool,
        foreground=foreground,
    )
    listeners = TransitionListeners(TRANSITIONS)
    listeners.on_commit(worker.wake)
    fetcher = revocation_cache(settings)
    signatures = SignatureDeps(
        db=db, settings=settings, validation=TrustContext(settings, db, fetcher), listeners=listeners
    )
    directory = PortalDirectory(settings, portal)
    signatures.own_inns = directory.own_company_inns  # issue 18: the МЧД's principal for our own employees
    documents = DocumentQueries(db, CardAccess(settings.crm, portal, directory))
    downloads = Downloads(db, directory=directory, documents=documents, spool=spool, cache=cache)
    public_verdicts = PublicVerdicts(db, public_url=settings.server.public_url)
    reports = Reports(db, documents=documents, timezone=settings.portal.timezone, public_verdicts=public_verdicts)
    paper_copies = PaperCopies(
        db, documents=documents, downloads=downloads, reports=reports, public_verdicts=public_verdicts
    )
    # A completed document's stamped copies and protocol go to Disk beside the original (outbox kind disk.paper).
    worker.paper = paper_copies.all_for
    listeners.on("counterparty_signed", effects.store_paper_on_disk)
    # Согласование (issue 17): a withdrawal closes open approvals; observers hear of completion and rejection.
    approval.register(listeners)
    intake = Intake(
        settings,
        db,
        directory=directory,
        documents=documents,
        spool=spool,
        cache=cache,
        listeners=listeners,
        wake_outbox=worker.wake,
    )
    # The CRM status field and the automation triggers (issue 17): made at install, kept in step by the outbox.
    crm = CrmStatus(db, portal.client, settings.crm.smart_processes)
    crm.attach(worker, listeners)
    portal.install_steps.append(crm.install)
    services = AppServices(
        settings=settings,
        db=db,
        http=http,
        started_at=time.monotonic(),
        sessions=sessions,
        portal=portal,
        listeners=listeners,
        foreground=foreground,
        revocation_cache=fetcher,
        outbox=worker,
        signatures=signatures,
        directory=directory,
        documents=documents,
        intake=intake,
        transitions=Transitions(settings, db, documents=documents, listeners=listeners, signatures=signatures),
        downloads=downloads,
        reports=reports,
        packaging=Packaging(db, documents=documents, downloads=downloads, reports=reports, paper=paper_copies),
        certificates=CertificateRegistration(db, policy=settings.policy, portal=directory, wake_outbox=worker.wake),
        expiry=Expiry(db, listeners=listeners),
        public_verdicts=public_verdicts,
        paper_copies=paper_copies,
        versions=Versions(
            settings, db, documents=documents, intake=intake, listeners=listeners, wake_outbox=worker.wake
        ),
        reminders=Reminders(settings, db, wake_outbox=worker.wake),
    )
    # Issue 17: the automation robots' work and answers go through the outbox (server.workflow.robots).
    services.robots = Robots(
        settings,
        db,
        intake=services.intake,
        listeners=listeners,
        wake_outbox=worker.wake,
        portal_client=portal.client,
    )
    worker.register(robots.RUN, services.robots.run)
    worker.register(robots.ANSWER, services.robots.deliver_answers)
    return services


async def _watchdog(services: AppServices, interval: float, stop: asyncio.Event) -> None:
    """Ping systemd's watchdog only while the database still answers.

    ``asyncio.timeout`` rather than ``wait_for``: on Python 3.11 ``wait_for`` can swallow a cancellation
    that races with its result, which would keep this loop alive through shutdown.
    """
    while not stop.is_set():
        try:
            async with asyncio.timeout(interval):
                await services.db.read(checks.ping)
        except Exception:  # a stuck or broken database must stop the pings
            log.error("database check failed; withholding the watchdog ping")
        else:
            notify("WATCHDOG=1")
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(interval):
                await stop.wait()


def page_globals(settings: Settings) -> Callable[[JinjaTemplateEngine], None]:
    """What every page template may use: ``timezone``, the portal's zone (base.html hands it to kd_core.js)."""

    def configure(engine: JinjaTemplateEngine) -> None:
        engine.engine.globals["timezone"] = settings.portal.timezone

    return configure


def create_app(settings: Settings, *, portal_transport: httpx.AsyncBaseTransport | None = None) -> Litestar:
    """Build the application; ``portal_transport`` lets tests route portal calls in-process."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        db = await asyncio.to_thread(open_database, settings)
        recovered = await db.write(outbox.recover)
        if recovered:
            log.info("outbox messages returned to the queue after a restart", extra={"count": recovered})
        # Requests that were running when the server stopped never answer: their Idempotency-Keys are free again.
        await db.write(idempotency.recover)
        # Half-received uploads of a server that was killed mid-request: nothing refers to them.
        await asyncio.to_thread(uploads.sweep, settings.storage.path)
        http = httpx.AsyncClient(timeout=httpx.Timeout(30.0), follow_redirects=False, verify=default_context())
        key = await asyncio.to_thread(load_or_create_key, settings.storage.path / "session.key")
        portal = PortalService(
            settings.portal,
            db,
            settings.server.public_url,
            data_dir=settings.storage.path,
            transport=portal_transport,
            smart_processes=settings.crm.smart_processes,
        )
        services = workflow_services(
            settings, db, http, portal, SessionSigner(key, settings.server.session_ttl_minutes * 60)
        )
        app.state.services = services
        cryptoarm_handlers.register(JobHandler())
        cryptoarm_handlers.register(CertificateHandler())
        await db.write(
            lambda d: audit.append(d, actor="system", action="server.start", details={"version": __version__})
        )
        tasks: list[asyncio.Task[None]] = []
        stop = asyncio.Event()
        interval = watchdog_interval() if settings.server.watchdog else None
        tasks.append(asyncio.create_task(services.outbox.run(stop), name="outbox"))
        tasks.append(asyncio.create_task(services.expiry.run(stop), name="expiry"))
        if services.reminders is not None:
            tasks.append(asyncio.create_task(services.reminders.run(stop), name="internal-reminders"))
        # Document generator templates and bulk sends (issue 17): the worker resumes every open bulk job.
        services.templates = DocumentTemplates(
            settings, db, directory=services.directory, intake=services.intake, data_dir=settings.storage.path
        )
        tasks.append(asyncio.create_task(services.templates.run(stop), name="bulk-send"))
        # The auditor's archive checks (issue 19): a check that was running when the server stopped goes on.
        services.archive_checks = ArchiveChecks(
            settings, db, validation=services.signatures.validation, data_dir=settings.storage.path
        )
        tasks.append(asyncio.create_task(services.archive_checks.run(stop), name="archive-checks"))
        tasks += counterparty_runtime.start(services, stop)
        agents = services.agents = AgentHub(
            settings, db, listeners=services.listeners, signatures=services.signatures, foreground=services.foreground
        )
        await agents.start()
        if interval:
            tasks.append(asyncio.create_task(_watchdog(services, interval, stop), name="watchdog"))
        cache = services.revocation_cache
        if cache is not None:
            refresher = RevocationRefresher(db, cache, poll_seconds=settings.trust.refresh_poll_seconds)
            tasks.append(asyncio.create_task(refresher.run(stop), name="crl-refresh"))
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
            if cache is not None:
                cache.close()
            await asyncio.to_thread(db.close)

    return Litestar(
        route_handlers=[
            *ROUTES,
            create_static_files_router(path="/static", directories=[HERE / "static"], include_in_schema=False),
        ],
        dependencies=DEPENDENCIES,
        exception_handlers={**errors.EXCEPTION_HANDLERS, IdempotencyRefused: refusal_answer},
        middleware=[IdempotencyMiddleware()],
        after_exception=errors.AFTER_EXCEPTION,
        template_config=TemplateConfig(
            directory=HERE / "templates", engine=JinjaTemplateEngine, engine_callback=page_globals(settings)
        ),
        lifespan=[lifespan],
        openapi_config=docs.openapi_config(settings),
        request_class=JsonSafeRequest,
        debug=False,
        logging_config=None,
    )
