"""The services a handler may name as parameters, provided by Litestar's dependency injection.

``create_app`` registers :data:`DEPENDENCIES` once at the app level; a handler that needs to move a document says
``transitions: Transitions`` and gets it, so no handler reaches into ``app.state`` and a test can see from a
signature what a route touches. Subsystems that start in the lifespan (agents, the counterparty exchange)
are asserted present: a request can only arrive once the lifespan has started them.
"""

from __future__ import annotations

from typing import cast

from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import SkipValidation

from server.agents.hub import AgentHub
from server.config import Settings
from server.counterparty.exchange import CounterpartyExchange
from server.counterparty.limiter import PublicLimiter
from server.db import Database
from server.portal.service import PortalService
from server.portal.sessions import Session, SessionSigner
from server.state import AppServices
from server.workflow.archive_checks import ArchiveChecks
from server.workflow.directory import PortalDirectory
from server.workflow.downloads import Downloads
from server.workflow.intake import Intake
from server.workflow.packaging import Packaging
from server.workflow.paper_copies import PaperCopies
from server.workflow.permissions import Viewer
from server.workflow.queries import DocumentQueries
from server.workflow.registration import CertificateRegistration
from server.workflow.reports import Reports
from server.workflow.templates import DocumentTemplates
from server.workflow.transitions import Transitions
from server.workflow.versions import Versions

from .sessions import current_session

# How a handler names the whole set of services: a dataclass whose field types are declared for type checkers
# only, so Litestar must hand it over as is rather than validate it field by field.
Services = SkipValidation[AppServices]


def provide_services(state: State) -> AppServices:
    return cast(AppServices, state.services)


def provide_settings(services: Services) -> Settings:
    return services.settings


def provide_db(services: Services) -> Database:
    return services.db


def provide_directory(services: Services) -> PortalDirectory:
    return services.directory


def provide_documents(services: Services) -> DocumentQueries:
    return services.documents


def provide_intake(services: Services) -> Intake:
    return services.intake


def provide_transitions(services: Services) -> Transitions:
    return services.transitions


def provide_versions(services: Services) -> Versions:
    assert services.versions is not None, "built with the workflow services"
    return services.versions


def provide_downloads(services: Services) -> Downloads:
    return services.downloads


def provide_packaging(services: Services) -> Packaging:
    return services.packaging


def provide_reports(services: Services) -> Reports:
    return services.reports


def provide_paper(services: Services) -> PaperCopies:
    return services.paper_copies


async def provide_viewer(session: Session, directory: PortalDirectory) -> Viewer:
    """Who the session's user is and what they may see; a handler that acts for the user names ``viewer``."""
    return await directory.viewer(session.user_id)


def provide_registration(services: Services) -> CertificateRegistration:
    return services.certificates


def provide_portal(services: Services) -> PortalService:
    return services.portal


def provide_signer(services: Services) -> SessionSigner:
    return services.sessions


def provide_agents(services: Services) -> AgentHub:
    hub = services.agents
    assert hub is not None, "the agents hub starts with the server"
    return hub


def provide_exchange(services: Services) -> CounterpartyExchange:
    exchange = services.counterparty
    assert exchange is not None, "the counterparty exchange starts with the server"
    return exchange


def provide_templates(services: Services) -> DocumentTemplates:
    templates = services.templates
    assert templates is not None, "the document templates service starts with the server"
    return templates


def provide_archive_checks(services: Services) -> ArchiveChecks:
    checks = services.archive_checks
    assert checks is not None, "the archive checks start with the server"
    return checks


def provide_public_limiter(services: Services) -> PublicLimiter:
    limiter = services.public_limiter
    assert limiter is not None, "the counterparty exchange starts with the server"
    return limiter


DEPENDENCIES: dict[str, Provide] = {
    "services": Provide(provide_services, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "db": Provide(provide_db, sync_to_thread=False),
    # The workflow's services (server.workflow), one per reason to change.
    "directory": Provide(provide_directory, sync_to_thread=False),
    "documents": Provide(provide_documents, sync_to_thread=False),
    "intake": Provide(provide_intake, sync_to_thread=False),
    "transitions": Provide(provide_transitions, sync_to_thread=False),
    "versions": Provide(provide_versions, sync_to_thread=False),
    "downloads": Provide(provide_downloads, sync_to_thread=False),
    "packaging": Provide(provide_packaging, sync_to_thread=False),
    "reports": Provide(provide_reports, sync_to_thread=False),
    "paper": Provide(provide_paper, sync_to_thread=False),
    "checks": Provide(provide_archive_checks, sync_to_thread=False),
    "registration": Provide(provide_registration, sync_to_thread=False),
    "portal": Provide(provide_portal, sync_to_thread=False),
    "signer": Provide(provide_signer, sync_to_thread=False),
    "agents": Provide(provide_agents, sync_to_thread=False),
    "exchange": Provide(provide_exchange, sync_to_thread=False),
    "public_limiter": Provide(provide_public_limiter, sync_to_thread=False),
    "templates": Provide(provide_templates, sync_to_thread=False),
    # The page session (X-KlikDok-Session), checked; 401 without a valid one.
    "session": Provide(current_session, sync_to_thread=False),
    # The session's user with their roles (looked up in the portal's directory, cached there).
    "viewer": Provide(provide_viewer),
}
