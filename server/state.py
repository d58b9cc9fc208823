"""What the running application holds: built by the lifespan and kept in ``app.state.services``.

One typed field per long-lived service. Handlers never read it themselves: :mod:`server.routes.dependencies`
hands each one the services it names as parameters. The imports are for types only: the services import this
module themselves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import httpx

from server.config import Settings
from server.db import Database

if TYPE_CHECKING:
    from server.agents.hub import AgentHub
    from server.counterparty.exchange import CounterpartyExchange, LinkContext
    from server.counterparty.limiter import PublicLimiter, SlidingWindow
    from server.counterparty.scheduler import CounterpartyScheduler
    from server.foreground import Foreground
    from server.mail.worker import MailWorker
    from server.portal.service import PortalService
    from server.portal.sessions import SessionSigner
    from server.trust.revocation_cache import CachingFetcher
    from server.workflow.archive_checks import ArchiveChecks
    from server.workflow.directory import PortalDirectory
    from server.workflow.downloads import Downloads
    from server.workflow.expiry import Expiry
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


@dataclass
class AppServices:
    settings: Settings
    db: Database
    http: httpx.AsyncClient
    sessions: SessionSigner
    portal: PortalService
    # The workflow's services (server.workflow), one reason to change each.
    listeners: TransitionListeners
    foreground: Foreground
    outbox: OutboxWorker
    signatures: SignatureDeps
    directory: PortalDirectory
    documents: DocumentQueries
    intake: Intake
    transitions: Transitions
    downloads: Downloads
    reports: Reports
    packaging: Packaging
    certificates: CertificateRegistration
    expiry: Expiry
    public_verdicts: PublicVerdicts
    paper_copies: PaperCopies
    started_at: float = 0.0
    # The network fetcher's cache of CRLs, AIA certificates and OCSP answers (None with [trust] fetch = false).
    revocation_cache: CachingFetcher | None = None
    # Set once their subsystems start (server.app lifespan); None only before that.
    agents: AgentHub | None = None
    counterparty: CounterpartyExchange | None = None
    public_limiter: PublicLimiter | None = None
    mail: MailWorker | None = None
    templates: DocumentTemplates | None = None
    counterparty_scheduler: CounterpartyScheduler | None = None
    link_key: bytes = b""
    # The automation robots (issue 17), set by server.app.workflow_services.
    robots: Robots | None = None
    # Opens a CryptoARM transaction for a counterparty link (server.counterparty.cryptoarm_handler).
    cryptoarm_counterparty: Callable[[AppServices, LinkContext], Awaitable[str]] | None = None
    # Per-purpose rate limiters created on first use (e.g. agent pairing).
    limiters: dict[str, SlidingWindow] = field(default_factory=dict)
    # Issue 17: new versions of a document and the internal signers' automatic deadline reminders.
    versions: Versions | None = None
    reminders: Reminders | None = None
    # Issue 19: the auditor's checks of uploaded archives, set once the server starts.
    archive_checks: ArchiveChecks | None = None
