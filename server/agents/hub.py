"""The agents' websocket hub: who is online, which job went to which connection, results in, events out.

One ``AgentHub`` per server (``services.agents``). Memory per connection is a small object and
two dict entries; there is no task per connection besides the websocket's own receive loop. Two background
tasks do everything periodic for all connections at once:

- the dispatcher finds new ``pending`` jobs (high-water mark on ``jobs.id``, woken by :meth:`wake` or every
  ``dispatch_seconds``) and offers them to a live connection of the job's user; it also notices jobs that
  closed elsewhere (signed through CryptoARM or an upload, withdrawn) and tells the agent to drop them;
- the sweeper drops connections silent for three heartbeats.

A job offered to a connection is "in flight" there until the agent answers it or the connection ends; on
(re)connect the agent is offered every open job of its user that is not in flight on another live
connection. The job's ``delivered`` status follows that: set when the agent acknowledges the offer, back to
``pending`` on a nack, when the connection ends, and at start-up (the workflow lets only a job no agent holds
move to CryptoARM). Results are applied through :mod:`server.agents.port` (the workflow's ``accept_signature``), and
recorded by the agent's ``result_id`` so a repeated upload gets the recorded answer, never a second apply.

The signer's page can also ask their online agent a question and wait for its answer (:meth:`AgentHub.ask`: the
certificates it can sign with, a key proof; :mod:`.binding`): a request id per question, a timeout, and the
question fails at once when the connection it went to ends.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import functools
import logging
import time
import uuid
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import msgspec
import sqlite_utils
from litestar import WebSocket

from common import agent_protocol as protocol
from server.config import Settings
from server.cryptoarm import transactions
from server.db import Database
from server.foreground import Foreground
from server.worker_loop import run_rounds
from server.workflow import signature_store
from server.workflow.listeners import TransitionListeners
from server.workflow.signatures import SignatureDeps

from . import port, store
from .store import AgentRow, JobView

log = logging.getLogger(__name__)

CLOSE_GOING_AWAY = 1001
CLOSE_SERVICE_RESTART = 1012
CLOSE_POLICY = 1008
CLOSE_TOO_BIG = 1009
CLOSE_REVOKED = 4403
NACK_RETRY_SECONDS = 5.0

MAX_QUESTIONS_PER_CONNECTION = 8  # page questions waiting on one agent at once


class AgentOffline(Exception):
    """The user has no agent online (or it went away before answering)."""


class AgentSilent(Exception):
    """The agent did not answer in time (an old agent that does not know the question, or a PIN never typed)."""


class AgentBusy(Exception):
    """Too many questions are already waiting on this agent."""


Answer = protocol.Certificates | protocol.KeyProof

ResultOutcome = Literal["accepted", "refused", "recorded"]  # protocol.ResultAck.outcome


def _recorded_outcome(word: str) -> ResultOutcome:
    """A stored ``agent_results.outcome`` as the ack's word; the hub only ever stores these three."""
    if word == "accepted":
        return "accepted"
    if word == "recorded":
        return "recorded"
    return "refused"


def _let_go(db: sqlite_utils.Database, *, agent_id: int, held: list[tuple[int, int]]) -> None:
    """A connection ended: note when the agent was last seen and give its jobs in hand back."""
    store.touch_agent(db, agent_id)
    store.release(db, held)


@dataclass(eq=False)
class Connection:
    agent: AgentRow
    socket: WebSocket[Any, Any, Any]
    connected_at: float
    last_seen: float
    in_flight: dict[int, int] = field(default_factory=dict)  # job id -> delivery id
    declined: set[int] = field(default_factory=set)  # jobs this connection declined: not offered again
    acked: set[int] = field(default_factory=set)  # jobs in flight that the agent has queued (acknowledged)
    # How many jobs the agent holds at once, learned from its first "queue_full" (None: not known yet). Offers
    # beyond it would only come back declined, each costing a round trip and two database writes.
    window: int | None = None
    send_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    closed: bool = False
    questions: dict[str, asyncio.Future[Answer]] = field(default_factory=dict)  # request id -> the answer


class AgentHub:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        listeners: TransitionListeners,
        signatures: SignatureDeps,
        foreground: Foreground | None = None,
    ) -> None:
        self.settings = settings.agents
        self.foreground = foreground or Foreground()
        self.public_url = settings.server.public_url
        self.cryptoarm_minutes = settings.cryptoarm.transaction_minutes
        self.db = db
        self.listeners = listeners
        self.signatures = signatures
        self.by_agent: dict[int, Connection] = {}
        self.by_user: dict[int, dict[int, Connection]] = defaultdict(dict)
        self._wake = asyncio.Event()
        self._high_water = 0
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._user_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._retry_at: dict[int, float] = {}  # user id -> monotonic time to offer again after a nack
        self.stats = {"offers": 0, "acks": 0, "results": 0, "connections": 0}
        self._anchors_for: object | None = None
        self._anchors_msg: protocol.TrustAnchors | None = None

    # -- lifecycle --------------------------------------------------------------------------------------------

    async def start(self) -> None:
        # New jobs are pushed the moment they commit, and jobs closed by a transition (signed elsewhere,
        # withdrawn, rejected) are cancelled at the agent at once, instead of at the next dispatch poll.
        listeners = self.listeners
        listeners.on_jobs_opened(self.wake)
        listeners.on_commit(self.wake)
        # Whoever held a job before a restart is gone; their jobs wait again (and are offered on reconnect).
        await self.db.write(store.release_all)
        self._tasks = [
            asyncio.create_task(self._dispatch_loop(), name="agents-dispatch"),
            asyncio.create_task(self._sweep_loop(), name="agents-sweep"),
        ]

    async def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        for conn in list(self.by_agent.values()):
            await self._close(conn, CLOSE_SERVICE_RESTART, "server stopping")
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def wake(self) -> None:
        """New jobs may be waiting (called by whoever creates them; the dispatcher also polls)."""
        self._wake.set()

    # -- presence --------------------------------------------------------------------------------------------

    def online(self, user_id: int) -> bool:
        return bool(self.by_user.get(user_id))

    def online_agents(self, user_id: int) -> set[int]:
        return set(self.by_user.get(user_id, {}))

    async def disconnect_agent(self, agent_id: int, reason: str = "revoked") -> None:
        conn = self.by_agent.get(agent_id)
        if conn is not None:
            await self._close(conn, CLOSE_REVOKED, reason)

    async def ask(self, user_id: int, question: Callable[[str], protocol.ServerMessage], *, timeout: float) -> Answer:
        """Send ``question(request_id)`` to the user's newest live agent and wait for the answer under that id.

        Raises :class:`AgentOffline` when no agent is online or the connection ends first, :class:`AgentSilent`
        after ``timeout`` seconds, :class:`AgentBusy` when too many questions already wait on that agent."""
        conns = [c for c in self.by_user.get(user_id, {}).values() if not c.closed]
        if not conns:
            raise AgentOffline
        conn = max(conns, key=lambda c: c.connected_at)
        if len(conn.questions) >= MAX_QUESTIONS_PER_CONNECTION:
            raise AgentBusy
        request_id = uuid.uuid4().hex
        answer: asyncio.Future[Answer] = asyncio.get_running_loop().create_future()
        conn.questions[request_id] = answer
        try:
            if not await self._send(conn, question(request_id)):
                raise AgentOffline
            async with asyncio.timeout(timeout):
                return await answer
        except TimeoutError:
            raise AgentSilent from None
        finally:
            conn.questions.pop(request_id, None)

    def _on_answer(self, conn: Connection, msg: Answer) -> None:
        """An answer resolves the question it names on this very connection; any other is dropped."""
        waiting = conn.questions.get(msg.request_id)
        if waiting is not None and not waiting.done():
            waiting.set_result(msg)

    # -- one connection -----------------------------------------------------------------------------------------

    async def serve(self, socket: WebSocket[Any, Any, Any], agent: AgentRow) -> None:
        """Run one accepted connection until it ends (the websocket route calls this)."""
        old = self.by_agent.get(agent.id)
        if old is not None:  # the same device reconnected before its old socket timed out
            await self._close(old, CLOSE_GOING_AWAY, "replaced by a new connection")
        moment = time.monotonic()
        conn = Connection(agent=agent, socket=socket, connected_at=moment, last_seen=moment)
        self.by_agent[agent.id] = conn
        self.by_user[agent.user_id][agent.id] = conn
        self.stats["connections"] += 1
        await self.db.write(lambda d: store.touch_agent(d, agent.id))
        log.info("agent connected", extra={"agent_id": agent.id, "user_id": agent.user_id})
        try:
            await self._send(
                conn,
                protocol.Hello(
                    agent_id=agent.id,
                    user_id=agent.user_id,
                    heartbeat_seconds=self.settings.heartbeat_seconds,
                    server_time=store.iso(store.now()),
                ),
            )
            await self._send(conn, self._trust_anchors())
            await self.deliver_users({agent.user_id})
            await self._receive_loop(conn)
        finally:
            await self._forget(conn)

    def _trust_anchors(self) -> protocol.TrustAnchors:
        """What the server trusts, for the agent's local check: the same anchors acceptance validates with (the
        trust store's and ``[trust] roots``) and the configured intermediates. Encoded once per trust set."""
        validation = self.signatures.validation.current()  # rebuilt when the trust store changes
        if self._anchors_for is not validation or self._anchors_msg is None:
            msg = protocol.TrustAnchors(
                anchors=[base64.b64encode(c.dump()).decode() for c in validation.trust_roots],
                intermediates=[base64.b64encode(c.dump()).decode() for c in validation.intermediates],
            )
            if (
                len(protocol.encode(msg)) > protocol.MAX_TRUST_ANCHORS_BYTES
                or len(msg.anchors) > protocol.MAX_TRUST_ANCHORS
            ):
                # Too many to send: the agents check only the math and the digest; the server still judges trust.
                log.warning("trust anchors too large for the agents; their local chain check is off")
                msg = protocol.TrustAnchors(anchors=[])
            self._anchors_msg = msg
            self._anchors_for = validation
        return self._anchors_msg

    async def _receive_loop(self, conn: Connection) -> None:
        limit = self.settings.max_message_kb * 1024
        while not conn.closed:
            try:
                event = await conn.socket.receive()
            except Exception:  # a broken transport ends the connection like a close
                return
            if event["type"] == "websocket.disconnect":
                return
            raw = event.get("text") if event.get("text") is not None else event.get("bytes")
            if not isinstance(raw, str | bytes):  # ASGI gives text or bytes; None when the frame has neither
                continue
            conn.last_seen = time.monotonic()
            if len(raw) > limit:
                await self._close(conn, CLOSE_TOO_BIG, "message too large")
                return
            try:
                msg = protocol.decode_agent(raw)
            except (msgspec.DecodeError, msgspec.ValidationError):
                await self._send(conn, protocol.ErrorMsg(code="bad_message", message="Не удалось разобрать сообщение."))
                continue
            try:
                await self._handle(conn, msg)
            except Exception:  # one bad message must not kill the hub or the connection
                log.exception("agent message failed", extra={"agent_id": conn.agent.id, "type": type(msg).__name__})
                await self._send(conn, protocol.ErrorMsg(code="internal", message="Ошибка сервера."))

    async def _handle(self, conn: Connection, msg: protocol.AgentMessage) -> None:
        match msg:
            case protocol.Ping():
                await self._send(conn, protocol.Pong(at=store.iso(store.now())))
                if msg.backend and msg.backend != conn.agent.backend:
                    conn.agent.backend = msg.backend
                    await self.db.write(lambda d: store.touch_agent(d, conn.agent.id, backend=msg.backend))
            case protocol.Ack():
                if conn.in_flight.get(msg.job_id) == msg.delivery_id:
                    conn.acked.add(msg.job_id)
                    await self.db.write(
                        lambda d: store.acknowledge(
                            d, delivery_id=msg.delivery_id, job_id=msg.job_id, agent_id=conn.agent.id
                        )
                    )
                    self.stats["acks"] += 1
            case protocol.Nack():
                if conn.in_flight.get(msg.job_id) == msg.delivery_id:
                    del conn.in_flight[msg.job_id]
                    conn.acked.discard(msg.job_id)
                    if msg.reason == "queue_full" and conn.window is None:
                        # The agent's queue is full with the jobs it acknowledged (plus the one in its hands).
                        conn.window = max(1, len(conn.acked))
                    await self.db.write(lambda d: store.release(d, [(msg.job_id, msg.delivery_id)]))
                    if msg.reason == "declined":
                        conn.declined.add(msg.job_id)
                    else:
                        self._retry_at[conn.agent.user_id] = time.monotonic() + NACK_RETRY_SECONDS
            case protocol.Result():
                await self._on_result(conn, msg)
            case protocol.Failure():
                await self._on_failure(conn, msg)
            case protocol.CryptoarmOpen():
                await self._on_cryptoarm_open(conn, msg)
            case protocol.Certificates() | protocol.KeyProof():
                self._on_answer(conn, msg)

    async def _on_result(self, conn: Connection, msg: protocol.Result) -> None:
        self.foreground.touch()
        agent = conn.agent
        if not (0 < len(msg.result_id) <= 64):
            await self._send(conn, protocol.ErrorMsg(code="bad_message", message="result_id: 1..64 символа."))
            return
        prior = await self.db.read(lambda d: store.recorded_result(d, msg.result_id))
        if prior is not None:
            job_id, agent_id, recorded, code, message = prior
            if agent_id == agent.id and job_id == msg.job_id:
                await self._send(
                    conn,
                    protocol.ResultAck(
                        result_id=msg.result_id,
                        job_id=job_id,
                        outcome=_recorded_outcome(recorded),
                        code=code,
                        message=message,
                    ),
                )
                self._finish_in_flight(conn, msg.job_id)
            else:
                await self._send(
                    conn,
                    protocol.ResultAck(
                        result_id=msg.result_id,
                        job_id=msg.job_id,
                        outcome="refused",
                        code="bad_result_id",
                        message="Этот result_id уже занят.",
                    ),
                )
            return
        job = await self.db.read(lambda d: store.job_view(d, msg.job_id))
        if job is None or job.user_id != agent.user_id:
            # Another user's job (or none): the same answer either way, so ids cannot be probed.
            await self._send(
                conn,
                protocol.ResultAck(
                    result_id=msg.result_id,
                    job_id=msg.job_id,
                    outcome="refused",
                    code="not_found",
                    message="Задание не найдено.",
                ),
            )
            return
        outcome, code, message = await self._apply(job, msg, agent)
        self.stats["results"] += 1
        await self.db.write(
            lambda d: store.record_result(
                d,
                result_id=msg.result_id,
                job_id=job.id,
                agent_id=agent.id,
                outcome=outcome,
                code=code,
                message=message,
            )
        )
        await self._send(
            conn,
            protocol.ResultAck(result_id=msg.result_id, job_id=job.id, outcome=outcome, code=code, message=message),
        )
        self._finish_in_flight(conn, job.id)
        if outcome == "refused":
            conn.declined.add(job.id)  # the same device would only make the same signature again
        await self.deliver_users({agent.user_id})

    async def _apply(self, job: JobView, msg: protocol.Result, agent: AgentRow) -> tuple[ResultOutcome, str, str]:
        """Each file's CMS through the workflow's acceptance; (outcome, code, message) for the whole job."""
        files = {f[0] for f in job.files}
        given = [s.file_id for s in msg.signatures]
        if sorted(given) != sorted(files):
            return "refused", "bad_result", "В результате должна быть ровно одна подпись на каждый файл документа."
        offered: port.SignatureRefused | None = None
        for sig in msg.signatures:
            try:
                cms = base64.b64decode(sig.cms, validate=True)
            except (binascii.Error, ValueError):
                return "refused", "malformed", "Подпись не в base64."
            try:
                await port.accept_job_signature(
                    self.signatures,
                    job_id=job.id,
                    document_id=job.document_id,
                    user_id=job.user_id,
                    file_id=sig.file_id,
                    cms=cms,
                    source="agent",
                )
            except port.SignatureRefused as refusal:
                if refusal.code in ("already_signed", "job_not_open") and await self._step_signed(job, sig.file_id):
                    continue  # applied before (a result that raced a crash): the job is signed, once
                log.info("agent signature refused", extra={"job_id": job.id, "code": refusal.code})
                if refusal.details.get("bind_offer"):
                    # An unbound certificate: the other files' signatures are kept with offers too, so that the
                    # signer's one acceptance on the page signs the whole job (the device is told only the refusal).
                    offered = offered or refusal
                    continue
                return "refused", refusal.code, refusal.message
        if offered is not None:
            return "refused", offered.code, offered.message
        return "accepted", "", ""

    async def _step_signed(self, job: JobView, file_id: int) -> bool:
        return await self.db.read(
            lambda d: signature_store.signed_on_step(d, file_id=file_id, step_id=job.step_id, user_id=job.user_id)
        )

    async def _on_failure(self, conn: Connection, msg: protocol.Failure) -> None:
        agent = conn.agent
        prior = await self.db.read(lambda d: store.recorded_result(d, msg.result_id))
        if prior is None:
            job = await self.db.read(lambda d: store.job_view(d, msg.job_id))
            if job is None or job.user_id != agent.user_id:
                await self._send(
                    conn,
                    protocol.ResultAck(
                        result_id=msg.result_id,
                        job_id=msg.job_id,
                        outcome="refused",
                        code="not_found",
                        message="Задание не найдено.",
                    ),
                )
                return
            await self.db.write(
                lambda d: store.fail_job(
                    d,
                    job_id=job.id,
                    user_id=agent.user_id,
                    agent_id=agent.id,
                    result_id=msg.result_id,
                    code=msg.code[:60],
                    message=msg.message[:500],
                )
            )
            log.info("agent refused a job", extra={"job_id": msg.job_id, "code": msg.code[:60]})
        await self._send(
            conn, protocol.ResultAck(result_id=msg.result_id, job_id=msg.job_id, outcome="recorded", code=msg.code[:60])
        )
        self._finish_in_flight(conn, msg.job_id)

    async def _on_cryptoarm_open(self, conn: Connection, msg: protocol.CryptoarmOpen) -> None:
        try:
            url = await transactions.open_for_jobs(
                self.db,
                public_url=self.public_url,
                minutes=self.cryptoarm_minutes,
                user_id=conn.agent.user_id,
                job_ids=msg.job_ids,
                agent_id=conn.agent.id,
            )
        except transactions.TransactionRefused as exc:
            await self._send(
                conn, protocol.CryptoarmLink(request_id=msg.request_id, job_ids=msg.job_ids, error=str(exc))
            )
            return
        await self._send(conn, protocol.CryptoarmLink(request_id=msg.request_id, url=url, job_ids=msg.job_ids))

    def _finish_in_flight(self, conn: Connection, job_id: int) -> None:
        conn.in_flight.pop(job_id, None)
        conn.acked.discard(job_id)

    async def _forget(self, conn: Connection) -> None:
        conn.closed = True
        for waiting in conn.questions.values():  # the page hears "agent went away" now, not at its timeout
            if not waiting.done():
                waiting.set_exception(AgentOffline())
        agent = conn.agent
        if self.by_agent.get(agent.id) is conn:
            del self.by_agent[agent.id]
            users = self.by_user.get(agent.user_id)
            if users is not None:
                users.pop(agent.id, None)
                if not users:
                    self.by_user.pop(agent.user_id, None)
        log.info("agent disconnected", extra={"agent_id": agent.id, "jobs_in_flight": len(conn.in_flight)})
        if not self._stop.is_set():
            held = list(conn.in_flight.items())
            with contextlib.suppress(Exception):
                await self.db.write(functools.partial(_let_go, agent_id=agent.id, held=held))
            if conn.in_flight and self.online(agent.user_id):
                await self.deliver_users({agent.user_id})

    # -- sending ---------------------------------------------------------------------------------------------

    async def _send(self, conn: Connection, msg: protocol.ServerMessage) -> bool:
        if conn.closed:
            return False
        try:
            async with conn.send_lock:
                await conn.socket.send_data(protocol.encode(msg).decode(), mode="text")
            return True
        except Exception:  # a dead socket is noticed by its receive loop
            conn.closed = True
            return False

    async def _close(self, conn: Connection, code: int, reason: str) -> None:
        if conn.closed:
            return
        conn.closed = True
        with contextlib.suppress(Exception):
            await conn.socket.close(code=code, reason=reason)

    async def notify_user(self, user_id: int, msg: protocol.ServerMessage) -> int:
        """Send an event to every live connection of the user (CryptoARM outcomes); returns how many got it."""
        sent = 0
        for conn in list(self.by_user.get(user_id, {}).values()):
            sent += await self._send(conn, msg)
        return sent

    # -- delivery ---------------------------------------------------------------------------------------------

    async def deliver_users(self, user_ids: set[int]) -> int:
        """Offer each online user's open jobs that are not in flight anywhere; returns how many were offered."""
        users = sorted(u for u in user_ids if self.online(u))
        if not users:
            return 0
        locks = [self._user_locks[u] for u in users]
        for lock in locks:
            await lock.acquire()
        try:
            jobs_by_user = await self.db.read(lambda d: {u: store.open_jobs_for_user(d, u) for u in users})
            plan: list[tuple[Connection, JobView]] = []
            for user_id, jobs in jobs_by_user.items():
                conns = [c for c in self.by_user.get(user_id, {}).values() if not c.closed]
                if not conns:
                    continue
                busy = {job_id for c in conns for job_id in c.in_flight}
                target = max(conns, key=lambda c: c.connected_at)
                fresh = [job for job in jobs if job.id not in busy and job.id not in target.declined]
                if target.window is not None:  # no more than the agent said it can hold (oldest jobs first)
                    fresh = fresh[: max(0, target.window - len(target.in_flight))]
                plan += [(target, job) for job in fresh]
            if not plan:
                return 0
            ids = await self.db.write(lambda d: store.record_deliveries(d, [(j.id, c.agent.id) for c, j in plan]))
            for (conn, job), delivery_id in zip(plan, ids, strict=True):
                conn.in_flight[job.id] = delivery_id
        finally:
            for lock in locks:
                lock.release()
        base = self.public_url.rstrip("/")
        offers = [
            self._send(
                conn,
                protocol.JobOffer(
                    job_id=job.id,
                    delivery_id=conn.in_flight.get(job.id, 0),
                    document_id=job.document_id,
                    title=job.title,
                    files=[
                        protocol.JobFile(
                            id=f[0],
                            name=f[1],
                            size=f[2],
                            streebog256=f[3],
                            url=f"{base}/api/v1/agents/jobs/{job.id}/files/{f[0]}",
                        )
                        for f in job.files
                    ],
                ),
            )
            for conn, job in plan
        ]
        await asyncio.gather(*offers)
        self.stats["offers"] += len(plan)
        return len(plan)

    async def _dispatch_round(self) -> int:
        """One look for new pending jobs and due retries; returns how many new jobs it found."""
        fresh = await self.db.read(lambda d: store.new_pending_jobs(d, self._high_water))
        if fresh:
            self._high_water = max(job_id for job_id, _ in fresh)
        users = {user_id for _, user_id in fresh}
        moment = time.monotonic()
        for user_id, at in list(self._retry_at.items()):
            if at <= moment:
                del self._retry_at[user_id]
                users.add(user_id)
        if users:
            await self.deliver_users(users)
        await self._drop_closed_jobs()
        return len(fresh)

    async def _drop_closed_jobs(self) -> None:
        """Jobs in flight that closed elsewhere: tell the agent (signed -> event, otherwise -> cancel)."""
        where = {job_id: conn for conn in self.by_agent.values() for job_id in conn.in_flight}
        if not where:
            return
        closed = await self.db.read(lambda d: store.closed_among(d, list(where)))
        for job_id, status in closed:
            conn = where[job_id]
            conn.in_flight.pop(job_id, None)
            conn.acked.discard(job_id)
            if status == "done":
                await self._send(conn, protocol.JobEvent(job_id=job_id, event="signed"))
            else:
                await self._send(conn, protocol.CancelJob(job_id=job_id, reason=status))

    async def _dispatch_loop(self) -> None:
        await run_rounds(
            self._dispatch_round,
            wake=self._wake,
            stop=self._stop,
            poll_seconds=self.settings.dispatch_seconds,
            log=log,
            what="job dispatch",
        )

    async def _sweep_loop(self) -> None:
        period = self.settings.heartbeat_seconds
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(period):
                    await self._stop.wait()
            cutoff = time.monotonic() - 3 * period
            for conn in [c for c in self.by_agent.values() if c.last_seen < cutoff]:
                log.info("agent silent for three heartbeats; dropping", extra={"agent_id": conn.agent.id})
                await self._close(conn, CLOSE_GOING_AWAY, "heartbeat timeout")
