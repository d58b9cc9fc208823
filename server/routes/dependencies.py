"""The services a handler may name as parameters, provided by Litestar's dependency injection.

``create_app`` registers :data:`DEPENDENCIES` once at the app level; a handler that needs the workflow says
``workflow: Workflow`` and gets it, so no handler reaches into ``app.state`` and a test can see from a
signature what a route touches. Subsystems that start in the lifespan (agents, the counterparty exchange)
are asserted present: a request can only arrive once the lifespan has started them.
"""

from __future__ import annotations

from typing import Annotated, cast

from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Dependency

from server.agents.hub import AgentHub
from server.config import Settings
from server.counterparty.exchange import CounterpartyExchange
from server.counterparty.limiter import PublicLimiter
from server.db import Database
from server.portal.service import PortalService
from server.portal.sessions import SessionSigner
from server.state import AppServices
from server.workflow.service import Workflow

from .sessions import current_session

# How a handler names the whole set of services: a dataclass whose field types are declared for type checkers
# only, so Litestar must hand it over as is rather than validate it field by field.
Services = Annotated[AppServices, Dependency(skip_validation=True)]


def provide_services(state: State) -> AppServices:
    return cast(AppServices, state.services)


def provide_settings(services: Services) -> Settings:
    return services.settings


def provide_db(services: Services) -> Database:
    return services.db


def provide_workflow(services: Services) -> Workflow:
    return services.workflow


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


def provide_public_limiter(services: Services) -> PublicLimiter:
    limiter = services.public_limiter
    assert limiter is not None, "the counterparty exchange starts with the server"
    return limiter


DEPENDENCIES: dict[str, Provide] = {
    "services": Provide(provide_services, sync_to_thread=False),
    "settings": Provide(provide_settings, sync_to_thread=False),
    "db": Provide(provide_db, sync_to_thread=False),
    "workflow": Provide(provide_workflow, sync_to_thread=False),
    "portal": Provide(provide_portal, sync_to_thread=False),
    "signer": Provide(provide_signer, sync_to_thread=False),
    "agents": Provide(provide_agents, sync_to_thread=False),
    "exchange": Provide(provide_exchange, sync_to_thread=False),
    "public_limiter": Provide(provide_public_limiter, sync_to_thread=False),
    # The page session (X-KlikDok-Session), checked; 401 without a valid one.
    "session": Provide(current_session, sync_to_thread=False),
}
