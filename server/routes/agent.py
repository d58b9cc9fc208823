"""HTTP and websocket routes of the signing agents.

Page side (the signer, with the page session header): create a pairing code, list their agents and whether
one is online, revoke one. Device side (``Authorization: Bearer <device key>``): trade a code for a key,
download a job's file, and the ``/agent/ws`` websocket.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, WebSocket, delete, get, post, websocket
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException, TooManyRequestsException

from server import jsonbody
from server.counterparty.limiter import SlidingWindow, client_ip
from server.state import AppServices
from server.web.b24 import current_session

from . import port, store
from .hub import AgentHub
from .store import AgentRow

MAX_NAME = 120


def services_of(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> AppServices:
    return request.app.state.services  # type: ignore[no-any-return]


def hub_of(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> AgentHub:
    hub = services_of(request).agents
    assert hub is not None, "the agents hub starts with the server"
    return hub


def bearer(value: str | None) -> str:
    if not value:
        return ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def device(request: Request[Any, Any, Any] | WebSocket[Any, Any, Any]) -> AgentRow | None:
    key = bearer(request.headers.get("authorization"))
    if not key:
        return None
    return await services_of(request).db.read(lambda d: store.agent_by_key(d, key))


def pairing_limiter(request: Request[Any, Any, Any], name: str, limit: int, window: float) -> SlidingWindow:
    """One of the pairing limiters, made on first use and kept for the life of the server."""
    limiters = services_of(request).limiters
    limiter = limiters.get(name)
    if limiter is None:
        limiter = limiters[name] = SlidingWindow(limit, window)
    return limiter  # type: ignore[no-any-return]


def retry_after(seconds: float) -> str:
    return str(max(1, int(seconds + 0.999)))


# -- page side ------------------------------------------------------------------------------------------------


class PairingCode(msgspec.Struct, kw_only=True):
    code: str
    expires_at: str
    command: str


@post("/api/v1/agents/pairing-codes", operation_id="agents.pairing_code", status_code=201,
      summary="A one-time code for `klikdok-agent pair URL CODE` (valid minutes)")
async def create_pairing_code(request: Request[Any, Any, Any]) -> PairingCode:
    session = current_session(request)
    services = services_of(request)
    per_user = pairing_limiter(request, "agents.pairing_codes", services.settings.agents.pairing_codes_per_hour, 3600)
    wait = per_user.hit(f"{session.member_id}:{session.user_id}")
    if wait is not None:
        raise TooManyRequestsException("Слишком много кодов сопряжения за час. Используйте последний полученный "
                                       "код или повторите позже.", headers={"Retry-After": retry_after(wait)})
    minutes = services.settings.agents.pairing_code_minutes
    code, expires = await services.db.write(lambda d: store.create_pairing_code(
        d, user_id=session.user_id, member_id=session.member_id, minutes=minutes))
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
async def list_agents(request: Request[Any, Any, Any]) -> AgentsStatus:
    session = current_session(request)
    rows = await services_of(request).db.read(lambda d: store.agents_of(d, session.user_id))
    live = hub_of(request).online_agents(session.user_id)
    agents = [AgentInfo(id=a.id, name=a.name, platform=a.platform, backend=a.backend, online=a.id in live,
                        created_at=a.created_at, last_seen_at=a.last_seen_at) for a in rows]
    return AgentsStatus(online=any(a.online for a in agents), agents=agents)


@delete("/api/v1/agents/{agent_id:int}", operation_id="agents.revoke", status_code=204,
        summary="Revoke one of the signer's agents (its key stops working at once)")
async def revoke_agent(request: Request[Any, Any, Any], agent_id: int) -> None:
    session = current_session(request)
    done = await services_of(request).db.write(lambda d: store.revoke_agent(
        d, agent_id=agent_id, user_id=session.user_id, actor=f"user:{session.user_id}"))
    if not done:
        raise NotFoundException("Агент не найден.")
    await hub_of(request).disconnect_agent(agent_id)


# -- device side ------------------------------------------------------------------------------------------------


class PairRequest(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    code: str
    name: str = ""
    platform: str = ""


class PairResponse(msgspec.Struct, kw_only=True):
    agent_id: int
    user_id: int
    device_key: str
    server_url: str


@post("/api/v1/agents/pair", operation_id="agents.pair", status_code=201,
      summary="Trade a pairing code for a device key (shown once, stored hashed)")
async def pair(request: Request[Any, Any, Any]) -> Response[Any]:
    services = services_of(request)
    # Per client: behind the proxy that is the address it appended, so one office cannot lock out the rest.
    client = client_ip(request.client.host if request.client else "?", request.headers.get("x-forwarded-for"),
                       services.settings.limits.trusted_proxies)
    per_client = pairing_limiter(request, "agents.pair", services.settings.limits.public_requests_per_minute, 60)
    wait = per_client.hit(client)
    if wait is not None:
        return Response({"error": "rate_limited", "message": "Слишком много попыток. Подождите минуту."},
                        status_code=429, headers={"Retry-After": retry_after(wait)})
    try:
        body = jsonbody.decode(await request.body(), type=PairRequest)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Response({"error": "bad_request", "message": "Ожидается JSON {code, name, platform}."}, status_code=400)
    if len(body.code) > 40:
        return Response({"error": "bad_code", "message": "Неверный код."}, status_code=400)
    try:
        agent, key = await services.db.write(lambda d: store.redeem_pairing_code(
            d, code=body.code, name=body.name.strip()[:MAX_NAME], platform=body.platform.strip()))
    except store.PairingRefused as exc:
        return Response({"error": "bad_code", "message": str(exc)}, status_code=400)
    return Response(PairResponse(agent_id=agent.id, user_id=agent.user_id, device_key=key,
                                 server_url=services.settings.server.public_url.rstrip("/")), status_code=201)


class Whoami(msgspec.Struct, kw_only=True):
    agent_id: int
    user_id: int
    name: str


@get("/api/v1/agents/me", operation_id="agents.me", summary="Which agent this device key belongs to")
async def whoami(request: Request[Any, Any, Any]) -> Whoami:
    agent = await device(request)
    if agent is None:
        raise NotAuthorizedException("Ключ устройства неверен или отозван. Выполните klikdok-agent pair заново.")
    return Whoami(agent_id=agent.id, user_id=agent.user_id, name=agent.name)


@get("/api/v1/agents/jobs/{job_id:int}/files/{file_id:int}", operation_id="agents.job_file",
     summary="One file of a signing job, for the agent that signs it")
async def job_file(request: Request[Any, Any, Any], job_id: int, file_id: int) -> Response[bytes]:
    agent = await device(request)
    if agent is None:
        raise NotAuthorizedException("Ключ устройства неверен или отозван.")
    services = services_of(request)
    job = await services.db.read(lambda d: store.job_view(d, job_id))
    # Someone else's job and a missing one get the same 404, so job ids cannot be probed.
    if job is None or job.user_id != agent.user_id or file_id not in {f[0] for f in job.files}:
        raise NotFoundException("Задание не найдено.")
    if job.status not in store.OPEN_JOB_STATES:
        raise HTTPException(status_code=410, detail="Задание уже закрыто.")
    try:
        _name, ctype, data = await port.job_file(services.workflow, job.document_id, file_id)
    except Exception as exc:  # noqa: BLE001 - the workflow's own errors carry a status and a message
        status = getattr(exc, "status", 503)
        raise HTTPException(status_code=status if isinstance(status, int) else 503,
                            detail=getattr(exc, "message", "Файл недоступен.")) from None
    return Response(data, media_type=ctype or "application/octet-stream",
                    headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})


@websocket("/agent/ws")
async def agent_ws(socket: WebSocket[Any, Any, Any]) -> None:
    agent = await device(socket)
    if agent is None:
        await socket.close(code=4401, reason="unauthorized")  # before accept: the client sees HTTP 403
        return
    await socket.accept()
    await hub_of(socket).serve(socket, agent)


ROUTES = [create_pairing_code, list_agents, revoke_agent, pair, whoami, job_file, agent_ws]
