"""``klikdok-agent run``: one websocket to the server, a bounded queue of jobs, workers that sign them in turn.

- Connection: ``websockets`` ``connect(...)`` used as an async iterator, so a dropped connection is simply
  the next iteration; failed attempts wait with exponential backoff and jitter (:func:`reconnect_delays`).
  401/403 (a wrong or revoked device key) stops the agent with a clear message instead of hammering.
- Heartbeats: an application ``ping`` every ``heartbeat_seconds`` the server announced (it drops silent
  agents), plus websocket-level pings to notice a dead server.
- Jobs: offers beyond ``queue.max_jobs`` are declined (``nack``) and stay on the server. A job already known
  (queued, in progress, or answered but not yet confirmed) is acknowledged again, never done twice.
- Results: kept until the server confirms them (``result_ack``) and sent again after every reconnect under
  the same ``result_id``, which the server applies at most once.
- Binding requests from the signer's page (``certificates_request``, ``prove_key``) are answered by
  :mod:`agent.binding` in tasks of their own, so a PIN prompt never holds up the receive loop or the jobs.
- SIGTERM/SIGINT: stop taking jobs, give the job being signed a few seconds to finish and be confirmed, close
  the websocket normally, exit 0. A job still downloading or waiting for the key is given up before the
  signing (no PIN prompt after "stop"); it, and whatever else is unfinished, stays open on the server and
  comes back later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import signal
import ssl
import uuid
from collections.abc import Generator

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.client import process_exception as default_process_exception
from websockets.exceptions import ConnectionClosed, InvalidStatus

from agent import binding
from agent.backends import Backend, BackendError
from agent.config import AgentSettings
from agent.jobs import JobGone, LocalTrust, RetryLater, process
from cades.tls import default_context
from common import agent_protocol as protocol

log = logging.getLogger("klikdok.agent")

EXIT_OK, EXIT_KEY_REJECTED = 0, 3
STOP_GRACE_SECONDS = 10.0
BATCH_WINDOW_SECONDS = 3.0  # the longest a CryptoARM batch waits for more offers
BATCH_QUIET_SECONDS = 1.2  # ... or until no offer came for this long
MAX_BATCH = 200
# Jobs a local backend has in hand at once: one is signed while the next ones download and hash their files (the
# signing itself stays one at a time, under ``sign_lock``), so the backend does not wait for the network. Two
# were not enough ahead when the server answers a download late (it is accepting the previous signature): the
# batch bench went from 2.21x to 1.92x of bare openssl with four. Each holds one file on disk, none in memory.
LOCAL_WORKERS = 4
MAX_BINDING_TASKS = 4  # binding requests answered at once; more are refused (a server cannot pile up threads)


class DeviceKeyRejected(Exception):
    pass


def reconnect_delays(initial: float = 0.5, factor: float = 2.0, maximum: float = 60.0) -> Generator[float]:
    """Exponential backoff with "equal jitter": half the step is fixed, half random, so a fleet of agents
    that lost the server together does not come back in one burst."""
    step = initial
    while True:
        yield step / 2 + random.uniform(0, step / 2)
        step = min(maximum, step * factor)


def ws_url(server_url: str) -> str:
    base = server_url.rstrip("/")
    if base.startswith("https://"):
        return "wss://" + base[len("https://") :] + "/agent/ws"
    if base.startswith("http://"):
        return "ws://" + base[len("http://") :] + "/agent/ws"
    raise ValueError(f"server.url must start with https:// (got {server_url!r})")


class AgentClient:
    def __init__(
        self, settings: AgentSettings, key: str, backend: Backend, *, http: httpx.AsyncClient | None = None
    ) -> None:
        self.settings = settings
        self.key = key
        self.backend = backend
        self.queue: asyncio.Queue[protocol.JobOffer] = asyncio.Queue(maxsize=settings.queue.max_jobs)
        self.known: dict[int, protocol.JobOffer] = {}  # queued, in progress, or answered-but-unconfirmed
        self.cancelled: set[int] = set()
        self.pending: dict[str, protocol.Result | protocol.Failure] = {}  # result_id -> answer awaiting result_ack
        self.heartbeat = 20.0
        self.trust: LocalTrust | None = None  # the server's anchors (trust_anchors), for the local check
        self.ws: ClientConnection | None = None
        self.connected = asyncio.Event()
        self.stopping = asyncio.Event()
        self.busy = asyncio.Event()  # set while a worker has a job in hand
        self._in_hand = 0  # jobs the workers hold now
        self._sign_lock = asyncio.Lock()  # one signature at a time, whatever the number of workers
        self.user_id: int | None = None  # whom the server says this device is paired to (hello)
        self._binding: set[asyncio.Task[None]] = set()
        self._proving = asyncio.Lock()  # one key proof at a time: one PIN prompt, not a stack of them
        self._links: dict[str, asyncio.Future[protocol.CryptoarmLink]] = {}
        self._events: dict[int, asyncio.Future[protocol.JobEvent]] = {}
        self._ssl: ssl.SSLContext | None = None
        if settings.server.ca_file:
            self._ssl = ssl.create_default_context(cafile=settings.server.ca_file)
        self.http = http or httpx.AsyncClient(timeout=httpx.Timeout(60.0), verify=self._ssl or default_context())
        self.stats = {"connections": 0, "signed": 0, "failed": 0}

    # -- lifecycle ------------------------------------------------------------------------------------------

    def stop(self) -> None:
        self.stopping.set()

    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(sig, self.stop)
        count = 1 if self.backend.delegated else LOCAL_WORKERS  # a CryptoARM batch is collected by one worker
        workers = [asyncio.create_task(self._worker(), name=f"agent-worker-{n}") for n in range(count)]
        connection = asyncio.create_task(self._connection_loop(), name="agent-connection")
        stopper = asyncio.create_task(self.stopping.wait())
        try:
            await asyncio.wait({connection, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if connection.done() and not self.stopping.is_set():
                exc = connection.exception()
                if isinstance(exc, DeviceKeyRejected):
                    log.error("%s", exc)
                    return EXIT_KEY_REJECTED
                if exc is not None:
                    raise exc
            await self._graceful_stop(workers)
            return EXIT_OK
        finally:
            tasks = [*workers, connection, stopper, *self._binding]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self.ws is not None:
                with contextlib.suppress(Exception):
                    await self.ws.close(1000, "agent stopping")
            await self.http.aclose()
            self.backend.close()

    async def _graceful_stop(self, workers: list[asyncio.Task[None]]) -> None:
        log.info("stopping: finishing the jobs in hand", extra={"queued": self.queue.qsize()})
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(STOP_GRACE_SECONDS):
                while self.busy.is_set() or (self.pending and self.connected.is_set()):
                    await asyncio.sleep(0.05)
        for worker in workers:
            worker.cancel()

    def _process_exception(self, exc: Exception) -> Exception | None:
        if isinstance(exc, InvalidStatus) and exc.response.status_code in (401, 403):
            return DeviceKeyRejected(
                "Сервер не принял ключ устройства (неверен или отозван). "
                "Получите новый код на странице KlikDok и выполните klikdok-agent pair."
            )
        return default_process_exception(exc)

    async def _connection_loop(self) -> None:
        url = ws_url(self.settings.server.url)
        maximum = self.settings.server.reconnect_max_seconds
        async for ws in connect(
            url,
            additional_headers={"Authorization": f"Bearer {self.key}"},
            ssl=self._ssl,
            ping_interval=20,
            ping_timeout=20,
            open_timeout=15,
            close_timeout=5,
            max_size=8 * 1024 * 1024,
            process_exception=self._process_exception,
            reconnect_delays=lambda: reconnect_delays(maximum=maximum),
            user_agent_header="klikdok-agent",
        ):
            if self.stopping.is_set():
                await ws.close(1000, "agent stopping")
                return
            self.ws = ws
            self.stats["connections"] += 1
            try:
                await self._session(ws)
            except ConnectionClosed:
                pass
            finally:
                self.ws = None
                self.connected.clear()
            log.info("connection lost; reconnecting")

    async def _session(self, ws: ClientConnection) -> None:
        beat = asyncio.create_task(self._heartbeat(ws))
        try:
            async for raw in ws:
                try:
                    msg = protocol.decode_server(raw)
                except Exception:  # a message from a newer server we cannot read
                    log.warning("unreadable message from the server")
                    continue
                await self._handle(msg)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat

    async def _heartbeat(self, ws: ClientConnection) -> None:
        while True:
            await asyncio.sleep(self.heartbeat)
            await self._send(protocol.Ping(backend=self.backend.name))

    async def _send(self, msg: protocol.AgentMessage) -> bool:
        ws = self.ws
        if ws is None:
            return False
        try:
            await ws.send(protocol.encode(msg).decode())
            return True
        except ConnectionClosed:
            return False

    # -- messages ------------------------------------------------------------------------------------------

    async def _handle(self, msg: protocol.ServerMessage) -> None:
        match msg:
            case protocol.Hello():
                self.heartbeat = max(1.0, msg.heartbeat_seconds)
                self.user_id = msg.user_id
                self.connected.set()
                log.info("connected", extra={"agent_id": msg.agent_id})
                for answer in list(self.pending.values()):  # unconfirmed answers: same result_id again
                    await self._send(answer)
            case protocol.TrustAnchors():
                self.trust = LocalTrust.from_message(msg)
                log.info("trust anchors received", extra={"anchors": len(msg.anchors)})
            case protocol.JobOffer():
                await self._offer(msg)
            case protocol.ResultAck():
                confirmed = self.pending.pop(msg.result_id, None)
                if confirmed is not None:
                    self.known.pop(confirmed.job_id, None)
                if msg.outcome == "refused":
                    log.warning(
                        "the server refused the signature: %s %s", msg.code, msg.message, extra={"job_id": msg.job_id}
                    )
                else:
                    log.info("result confirmed", extra={"job_id": msg.job_id, "outcome": msg.outcome})
            case protocol.CancelJob():
                log.info("job %s cancelled by the server (%s)", msg.job_id, msg.reason)
                self.cancelled.add(msg.job_id)
                self._resolve_event(protocol.JobEvent(job_id=msg.job_id, event="closed", message=msg.reason))
                if not any(a.job_id == msg.job_id for a in self.pending.values()):
                    self.known.pop(msg.job_id, None)
            case protocol.JobEvent():
                self._resolve_event(msg)
            case protocol.CryptoarmLink():
                fut = self._links.pop(msg.request_id, None)
                if fut is not None and not fut.done():
                    fut.set_result(msg)
            case protocol.CertificatesRequest() | protocol.ProveKey():
                self._start_binding(msg)
            case protocol.ErrorMsg():
                log.warning("server error message: %s %s", msg.code, msg.message)
            case _:
                pass

    def _start_binding(self, msg: protocol.CertificatesRequest | protocol.ProveKey) -> None:
        if len(self._binding) >= MAX_BINDING_TASKS:
            busy = "Агент ещё занят предыдущим запросом; повторите через минуту."
            answer: protocol.AgentMessage = (
                protocol.Certificates(request_id=msg.request_id, error=busy)
                if isinstance(msg, protocol.CertificatesRequest)
                else protocol.KeyProof(request_id=msg.request_id, code="busy", message=busy)
            )
            task = asyncio.create_task(self._answer_now(answer))
        else:
            task = asyncio.create_task(self._answer_binding(msg), name=f"agent-binding-{msg.request_id[:16]}")
        self._binding.add(task)
        task.add_done_callback(self._binding.discard)

    async def _answer_now(self, answer: protocol.AgentMessage) -> None:
        await self._send(answer)

    async def _answer_binding(self, msg: protocol.CertificatesRequest | protocol.ProveKey) -> None:
        answer: protocol.AgentMessage
        try:
            if isinstance(msg, protocol.CertificatesRequest):
                answer = await binding.answer_certificates(self.backend, msg)
            else:
                async with self._proving:
                    answer = await binding.answer_prove_key(self.backend, msg, self.user_id)
        except Exception:  # a broken backend answers with an error, never takes the agent down
            log.exception("binding request failed")
            failed = "Агент не смог выполнить запрос: подробности в его журнале."
            answer = (
                protocol.Certificates(request_id=msg.request_id, error=failed)
                if isinstance(msg, protocol.CertificatesRequest)
                else protocol.KeyProof(request_id=msg.request_id, code="internal", message=failed)
            )
        await self._send(answer)

    def _resolve_event(self, event: protocol.JobEvent) -> None:
        fut = self._events.get(event.job_id)
        if fut is not None and not fut.done():
            fut.set_result(event)

    async def _offer(self, offer: protocol.JobOffer) -> None:
        if offer.job_id in self.known:
            self.known[offer.job_id] = offer  # keep the newest delivery id for a later nack
            await self._send(protocol.Ack(job_id=offer.job_id, delivery_id=offer.delivery_id))
            return
        if self.stopping.is_set() or self.queue.full():
            await self._send(protocol.Nack(job_id=offer.job_id, delivery_id=offer.delivery_id, reason="queue_full"))
            return
        self.cancelled.discard(offer.job_id)
        self.known[offer.job_id] = offer
        self.queue.put_nowait(offer)
        await self._send(protocol.Ack(job_id=offer.job_id, delivery_id=offer.delivery_id))

    # -- the worker ------------------------------------------------------------------------------------------

    async def _worker(self) -> None:
        while True:
            offer = await self.queue.get()
            if offer.job_id in self.cancelled or self.stopping.is_set():
                self.known.pop(offer.job_id, None)
                continue
            self._in_hand += 1
            self.busy.set()
            try:
                if self.backend.delegated:
                    await self._delegate(await self._collect_batch(offer))
                else:
                    await self._local(offer)
            except asyncio.CancelledError:
                raise
            except Exception:  # one broken job must not stop the agent
                log.exception("job failed unexpectedly", extra={"job_id": offer.job_id})
                self.known.pop(offer.job_id, None)
            finally:
                self._in_hand -= 1
                if not self._in_hand:
                    self.busy.clear()

    async def _collect_batch(self, first: protocol.JobOffer) -> list[protocol.JobOffer]:
        """The signer who pressed "sign all" gets one CryptoARM window: offers arriving within a short window
        (they come one message each, maybe over two dispatcher rounds) join the first one."""
        batch = [first]
        deadline = asyncio.get_running_loop().time() + BATCH_WINDOW_SECONDS
        while len(batch) < MAX_BATCH:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                break
            try:
                async with asyncio.timeout(min(left, BATCH_QUIET_SECONDS)):
                    more = await self.queue.get()
            except TimeoutError:
                break
            if more.job_id not in self.cancelled:
                batch.append(more)
        return batch

    async def _local(self, offer: protocol.JobOffer) -> None:
        try:
            answer = await process(
                self.http,
                self.key,
                self.backend,
                offer,
                self.trust,
                sign_lock=self._sign_lock,
                dropped=lambda: offer.job_id in self.cancelled or self.stopping.is_set(),
            )
        except JobGone:
            self.known.pop(offer.job_id, None)
            return
        except RetryLater as exc:
            log.warning("job postponed: %s", exc, extra={"job_id": offer.job_id})
            latest = self.known.pop(offer.job_id, offer)
            await self._send(protocol.Nack(job_id=offer.job_id, delivery_id=latest.delivery_id, reason="retry"))
            return
        if offer.job_id in self.cancelled:
            self.known.pop(offer.job_id, None)
            return
        self.stats["signed" if isinstance(answer, protocol.Result) else "failed"] += 1
        self.pending[answer.result_id] = answer
        await self._send(answer)

    async def _delegate(self, batch: list[protocol.JobOffer]) -> None:
        """CryptoARM: one transaction, one prompt for the whole batch; wait for the server's word per job."""
        open_link = self.backend.open_link
        request_id = uuid.uuid4().hex
        link_future: asyncio.Future[protocol.CryptoarmLink] = asyncio.get_running_loop().create_future()
        self._links[request_id] = link_future
        events: dict[int, asyncio.Future[protocol.JobEvent]] = {
            o.job_id: asyncio.get_running_loop().create_future() for o in batch
        }
        self._events.update(events)
        outcome: dict[int, str] = {}
        try:
            if not await self._send(protocol.CryptoarmOpen(request_id=request_id, job_ids=[o.job_id for o in batch])):
                raise RetryLater("not connected")
            async with asyncio.timeout(30):
                link = await link_future
            if link.error:
                log.warning("the server did not open a CryptoARM transaction: %s", link.error)
                outcome = {o.job_id: "declined" for o in batch}
                return
            await asyncio.to_thread(open_link, link.url)
            log.info("CryptoARM GOST opened; waiting for the signer", extra={"jobs": len(batch)})
            timeout = getattr(self.backend, "timeout_seconds", 600)
            done, _ = await asyncio.wait(list(events.values()), timeout=timeout)
            for job_id, fut in events.items():
                event: protocol.JobEvent | None = fut.result() if fut in done else None
                if event is None:
                    outcome[job_id] = "declined"
                    log.warning(
                        "no answer from CryptoARM in time; the document stays waiting", extra={"job_id": job_id}
                    )
                elif event.event == "signed":
                    outcome[job_id] = "signed"
                    self.stats["signed"] += 1
                elif event.event == "closed":
                    outcome[job_id] = "closed"
                else:
                    outcome[job_id] = "declined"
                    log.warning(
                        "CryptoARM run ended without a signature: %s %s",
                        event.event,
                        event.message,
                        extra={"job_id": job_id},
                    )
        except (RetryLater, TimeoutError, BackendError) as exc:
            log.warning("CryptoARM run not started: %s", exc)
            outcome = {o.job_id: "retry" for o in batch}
        finally:
            self._links.pop(request_id, None)
            for job_id in events:
                self._events.pop(job_id, None)
            for offer in batch:
                latest = self.known.pop(offer.job_id, offer)
                result = outcome.get(offer.job_id, "retry")
                if result in ("declined", "retry"):
                    await self._send(protocol.Nack(job_id=offer.job_id, delivery_id=latest.delivery_id, reason=result))


def run_agent(settings: AgentSettings, key: str, backend: Backend) -> int:
    async def main() -> int:
        return await AgentClient(settings, key, backend).run()

    return asyncio.run(main())


__all__ = ["AgentClient", "reconnect_delays", "run_agent", "ws_url"]
