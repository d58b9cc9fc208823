"""The signer's side of the signing agents (with the page session): a pairing code, their agents, revoking one,
and binding a certificate through the online agent (its certificates; the key proven by signing a challenge)."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import delete, get, post
from litestar.exceptions import NotFoundException, TooManyRequestsException

from server.agents import store
from server.agents.binding import AgentBinding, AgentCertificate, BindingRefused
from server.agents.hub import AgentHub
from server.counterparty.limiter import SlidingWindow
from server.portal.sessions import Session
from server.workflow.permissions import Viewer
from server.workflow.registration import CertificateRegistration

from ..dependencies import Services
from ..errors import ApiProblem


def pairing_limiter(services: Services, name: str, limit: int, window: float) -> SlidingWindow:
    """One of the pairing limiters, made on first use and kept for the life of the server."""
    limiter = services.limiters.get(name)
    if limiter is None:
        limiter = services.limiters[name] = SlidingWindow(limit, window)
    return limiter


def retry_after(seconds: float) -> str:
    return str(max(1, int(seconds + 0.999)))


class PairingCode(msgspec.Struct, kw_only=True):
    code: str
    expires_at: str
    command: str


@post(
    "/api/v1/agents/pairing-codes",
    operation_id="agents.pairing_code",
    status_code=201,
    summary="A one-time code for `klikdok-agent pair URL CODE` (valid minutes)",
)
async def create_pairing_code(session: Session, services: Services) -> PairingCode:
    per_user = pairing_limiter(services, "agents.pairing_codes", services.settings.agents.pairing_codes_per_hour, 3600)
    wait = per_user.hit(f"{session.member_id}:{session.user_id}")
    if wait is not None:
        raise TooManyRequestsException(
            "Слишком много кодов сопряжения за час. Используйте последний полученный код или повторите позже.",
            headers={"Retry-After": retry_after(wait)},
        )
    minutes = services.settings.agents.pairing_code_minutes
    code, expires = await services.db.write(
        lambda d: store.create_pairing_code(d, user_id=session.user_id, member_id=session.member_id, minutes=minutes)
    )
    url = services.settings.server.public_url.rstrip("/")
    return PairingCode(code=code, expires_at=expires, command=f"klikdok-agent pair {url} {code}")


class AgentInfo(msgspec.Struct, kw_only=True):
    id: int
    name: str
    platform: str
    backend: str
    online: bool
    created_at: str
    last_seen_at: str | None


class AgentsStatus(msgspec.Struct, kw_only=True):
    online: bool
    agents: list[AgentInfo]


@get("/api/v1/agents", operation_id="agents.list", summary="The signer's paired agents and whether one is online")
async def list_agents(session: Session, services: Services, agents: AgentHub) -> AgentsStatus:
    rows = await services.db.read(lambda d: store.agents_of(d, session.user_id))
    live = agents.online_agents(session.user_id)
    found = [
        AgentInfo(
            id=a.id,
            name=a.name,
            platform=a.platform,
            backend=a.backend,
            online=a.id in live,
            created_at=a.created_at,
            last_seen_at=a.last_seen_at,
        )
        for a in rows
    ]
    return AgentsStatus(online=any(a.online for a in found), agents=found)


@delete(
    "/api/v1/agents/{agent_id:int}",
    operation_id="agents.revoke",
    status_code=204,
    summary="Revoke one of the signer's agents (its key stops working at once)",
)
async def revoke_agent(session: Session, services: Services, agents: AgentHub, agent_id: int) -> None:
    done = await services.db.write(
        lambda d: store.revoke_agent(d, agent_id=agent_id, user_id=session.user_id, actor=f"user:{session.user_id}")
    )
    if not done:
        raise NotFoundException("Агент не найден.")
    await agents.disconnect_agent(agent_id)


@get(
    "/api/v1/me/agent/certificates",
    operation_id="agents.certificates",
    summary="The certificates the signer's online agent can sign with (409 when no agent is online)",
)
async def agent_certificates(
    session: Session, agents: AgentHub, registration: CertificateRegistration
) -> list[AgentCertificate]:
    try:
        return await AgentBinding(agents, registration).certificates(session.user_id)
    except BindingRefused as exc:
        raise ApiProblem(exc.status, exc.code, exc.message) from None


class BindRequest(msgspec.Struct, kw_only=True):
    thumbprint: Annotated[str, msgspec.Meta(max_length=100)]


class BindAnswer(msgspec.Struct, kw_only=True):
    serial: str
    subject: str
    issuer: str
    status: str
    message: str


@post(
    "/api/v1/me/agent/bind",
    operation_id="agents.bind_certificate",
    status_code=201,
    summary="Bind the chosen certificate of the online agent: the agent signs a one-time challenge with its key",
    opt={"audit_action": "register_certificate"},  # a refused proof (403) is audited like any registration
)
async def bind_through_agent(
    data: BindRequest, viewer: Viewer, agents: AgentHub, registration: CertificateRegistration
) -> BindAnswer:
    try:
        info: dict[str, Any] = await AgentBinding(agents, registration).bind(viewer, data.thumbprint)
    except BindingRefused as exc:
        raise ApiProblem(exc.status, exc.code, exc.message) from None
    return BindAnswer(**{k: str(info.get(k, "")) for k in ("serial", "subject", "issuer", "status", "message")})


ROUTES = [create_pairing_code, list_agents, revoke_agent, agent_certificates, bind_through_agent]
