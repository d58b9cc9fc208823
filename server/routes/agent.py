"""The signing agent's routes (``Authorization: Bearer <device key>``): trade a pairing code for a key, download
a job's file, and the ``/agent/ws`` websocket. The signer's side (pairing codes, their agents) is in
:mod:`server.routes.api.agents`.
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Request, Response, WebSocket, get, post, websocket
from litestar.exceptions import HTTPException, NotAuthorizedException, NotFoundException

from server import jsonbody
from server.agents import port, store
from server.agents.hub import AgentHub
from server.agents.store import AgentRow
from server.counterparty.limiter import client_ip
from server.db import Database
from server.workflow.signatures import SignatureRefused
from server.workflow.states import TransitionRefused

from .api.agents import pairing_limiter, retry_after
from .dependencies import Services
from .errors import status_of

MAX_NAME = 120


def bearer(value: str | None) -> str:
    if not value:
        return ""
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


async def device(connection: Request[Any, Any, Any] | WebSocket[Any, Any, Any], db: Database) -> AgentRow | None:
    key = bearer(connection.headers.get("authorization"))
    if not key:
        return None
    return await db.read(lambda d: store.agent_by_key(d, key))


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


@post(
    "/api/v1/agents/pair",
    operation_id="agents.pair",
    status_code=201,
    summary="Trade a pairing code for a device key (shown once, stored hashed)",
)
async def pair(request: Request[Any, Any, Any], services: Services) -> Response[Any]:
    # Per client: behind the proxy that is the address it appended, so one office cannot lock out the rest.
    client = client_ip(
        request.client.host if request.client else "?",
        request.headers.get("x-forwarded-for"),
        services.settings.limits.trusted_proxies,
    )
    per_client = pairing_limiter(services, "agents.pair", services.settings.limits.public_requests_per_minute, 60)
    wait = per_client.hit(client)
    if wait is not None:
        return Response(
            {"error": "rate_limited", "message": "Слишком много попыток. Подождите минуту."},
            status_code=429,
            headers={"Retry-After": retry_after(wait)},
        )
    try:
        body = jsonbody.decode(await request.body(), type=PairRequest)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return Response({"error": "bad_request", "message": "Ожидается JSON {code, name, platform}."}, status_code=400)
    if len(body.code) > 40:
        return Response({"error": "bad_code", "message": "Неверный код."}, status_code=400)
    try:
        agent, key = await services.db.write(
            lambda d: store.redeem_pairing_code(
                d, code=body.code, name=body.name.strip()[:MAX_NAME], platform=body.platform.strip()
            )
        )
    except store.PairingRefused as exc:
        return Response({"error": "bad_code", "message": str(exc)}, status_code=400)
    return Response(
        PairResponse(
            agent_id=agent.id,
            user_id=agent.user_id,
            device_key=key,
            server_url=services.settings.server.public_url.rstrip("/"),
        ),
        status_code=201,
    )


class Whoami(msgspec.Struct, kw_only=True):
    agent_id: int
    user_id: int
    name: str


@get("/api/v1/agents/me", operation_id="agents.me", summary="Which agent this device key belongs to")
async def whoami(request: Request[Any, Any, Any], db: Database) -> Whoami:
    agent = await device(request, db)
    if agent is None:
        raise NotAuthorizedException("Ключ устройства неверен или отозван. Выполните klikdok-agent pair заново.")
    return Whoami(agent_id=agent.id, user_id=agent.user_id, name=agent.name)


@get(
    "/api/v1/agents/jobs/{job_id:int}/files/{file_id:int}",
    operation_id="agents.job_file",
    summary="One file of a signing job, for the agent that signs it",
)
async def job_file(request: Request[Any, Any, Any], services: Services, job_id: int, file_id: int) -> Response[bytes]:
    agent = await device(request, services.db)
    if agent is None:
        raise NotAuthorizedException("Ключ устройства неверен или отозван.")
    job = await services.db.read(lambda d: store.job_view(d, job_id))
    # Someone else's job and a missing one get the same 404, so job ids cannot be probed.
    if job is None or job.user_id != agent.user_id or file_id not in {f[0] for f in job.files}:
        raise NotFoundException("Задание не найдено.")
    if job.status not in store.OPEN_JOB_STATES:
        raise HTTPException(status_code=410, detail="Задание уже закрыто.")
    services.foreground.touch()
    try:
        _name, ctype, data = await port.job_file(services.downloads, job.document_id, file_id)
    except (TransitionRefused, SignatureRefused) as exc:
        raise HTTPException(status_code=status_of(exc), detail=exc.message) from None
    except Exception:
        raise HTTPException(status_code=503, detail="Файл недоступен.") from None
    return Response(
        data,
        media_type=ctype or "application/octet-stream",
        headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    )


@websocket("/agent/ws")
async def agent_ws(socket: WebSocket[Any, Any, Any], db: Database, agents: AgentHub) -> None:
    agent = await device(socket, db)
    if agent is None:
        await socket.close(code=4401, reason="unauthorized")  # before accept: the client sees HTTP 403
        return
    await socket.accept()
    await agents.serve(socket, agent)


ROUTES = [pair, whoami, job_file, agent_ws]
