"""``Idempotency-Key``: a request that creates or changes something runs once per key; a repeat gets the first answer.

A double click, a retried request after a lost answer or a form sent twice must not make two documents, two
notifications or two invitations. The pages send a key per action instance (a dialog opening, a rendered button:
``KlikDok.util.newKey``), the counterparty's forms carry one per rendered page. This middleware, on the changing
methods (POST, PUT, PATCH, DELETE) of ``/api/v1`` and of the counterparty's ``/c/<token>/…``:

- validates the key (:data:`KEY_PATTERN`; anything else is 400) and finds its sender: the page session's user
  (``X-KlikDok-Session``; without a valid session the request goes on as without a key and the route answers
  401) or the counterparty link (the SHA-256 of its token). The key is kept per sender, method and path, so
  another user's request with the same key never sees someone else's answer;
- claims the key in SQLite (:mod:`server.db.idempotency`) and runs the request, hashing its body as the route
  reads it (a streamed upload stays streamed and bounded by the route's own limits: nothing is read ahead);
- keeps a successful answer (2xx, 3xx: status, a few headers, body) for a day. A refusal (4xx) or a failure
  (5xx) is not kept and frees the key: a refused request changed nothing, and the dialog that sent it (same key)
  must be able to send the corrected request; a kept 400 would turn every correction into a 422;
- answers a repeat with the kept answer (``Idempotent-Replayed: true``) without running it again, after reading
  its body (at most as much as the first one had) to check it is the same request: another body, query or type
  with the same key is refused (422), never replayed;
- marks the key, in the same transaction, whenever the request commits a change (``store.ACTING_FOR``): a server
  killed after that and before the answer was kept does not free the key at start-up, and the repeat is answered
  409 ``request_interrupted`` (the change is saved; refresh the page) instead of doing the change a second time;
- makes a repeat that arrives while the first request is still running wait for its answer (up to
  :data:`WAIT_SECONDS`, then 409 «Запрос уже выполняется»). Waiting rather than refusing at once: a browser that
  sends a form twice shows the second answer, which must be the first one's success, not an error.

Multipart bodies are compared without their boundary (a browser picks a new one for every submission of the
same form), so the same form sent twice is the same request.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, cast
from urllib.parse import parse_qsl, urlencode

from litestar import Request, Response
from litestar.connection import ASGIConnection
from litestar.enums import ScopeType
from litestar.exceptions import NotAuthorizedException
from litestar.middleware import ASGIMiddleware
from litestar.response import Template
from litestar.types import ASGIApp, HTTPScope, Message, Receive, ReceiveMessage, Scope, Send

from server import crashpoints
from server.db import Database
from server.db import idempotency as store
from server.state import AppServices

from .errors import problem
from .public_pages import security_headers
from .sessions import verify_session

log = logging.getLogger(__name__)

HEADER = "idempotency-key"
# The counterparty's plain HTML forms cannot set a header: their key is in the form's action (``?key=…``).
FORM_PARAMETER = "key"
REPLAYED_HEADER = "idempotent-replayed"
# 8 to 128 characters of a URL-safe alphabet: UUIDs, hex and base64url keys fit; nothing that needs escaping does.
KEY_PATTERN = re.compile(r"[A-Za-z0-9._:-]{8,128}")
CHANGING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
API_PREFIX = "/api/v1/"
PUBLIC_PREFIX = "/c/"

WAIT_SECONDS = 60.0
POLL_SECONDS = 0.5  # a waiter looks again at least this often (in case the first request runs elsewhere)
# A route that answered without reading its whole body: this much more is read to fingerprint it, then no more.
DRAIN_BYTES = 1024 * 1024
DRAIN_SECONDS = 10.0
# A repeat is read up to the first request's size plus this (multipart boundaries differ in length).
REPEAT_SLACK = 64 * 1024
MAX_KEPT_BODY = 1024 * 1024
# The headers a replay repeats: what the answer means (type, redirect, download name) and how it may be shown.
KEPT_HEADERS = frozenset(
    {
        "content-type",
        "location",
        "cache-control",
        "content-disposition",
        "content-security-policy",
        "referrer-policy",
        "x-content-type-options",
        "x-robots-tag",
    }
)
MAX_BOUNDARY = 200

BAD_KEY = (
    "Неверный ключ повторного запроса (заголовок Idempotency-Key): нужно от 8 до 128 символов — латинские буквы, "
    "цифры и знаки «.», «_», «:», «-»."
)
OTHER_REQUEST = (
    "Этот ключ повторного запроса (Idempotency-Key) уже использован для другого запроса. Действие не выполнено: "
    "закройте форму и откройте её заново."
)
STILL_RUNNING = "Запрос уже выполняется. Дождитесь его ответа и обновите страницу."
INTERRUPTED = (
    "Запрос с этим ключом был прерван перезапуском сервера, когда его изменения уже были сохранены. Повторять его "
    "не нужно: обновите страницу, чтобы увидеть результат."
)
TOO_LARGE_TO_REPEAT = "Запрос с этим ключом уже выполнен, но его ответ нельзя повторить. Обновите страницу."


class IdempotencyRefused(Exception):
    """A request refused for its key, before anything ran; ``public`` when it came from a counterparty's page."""

    def __init__(self, status: int, code: str, message: str, *, public: bool) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.public = public


def refusal_answer(_request: Request[Any, Any, Any], exc: IdempotencyRefused) -> Response[Any]:
    """The API's error body, or the counterparty's error page."""
    if exc.public:
        return Template(
            template_name="public/problem.html",
            status_code=exc.status,
            headers=security_headers(),
            context={"title": "Запрос не выполнен", "message": exc.message},
        )
    return problem(exc.status, exc.code, exc.message)


class Fingerprint:
    """SHA-256 of a request: method, path, query (without the form's key), media type and body.

    Fed as the body arrives. A multipart body is hashed without its boundary string, found across chunk edges
    by keeping the last ``len(boundary) - 1`` bytes back until the next chunk shows whether they start one.
    """

    def __init__(self, scope: HTTPScope) -> None:
        self._hash = hashlib.sha256()
        ctype = _header(scope, "content-type")
        media, _, params = ctype.partition(";")
        boundary = b""
        if media.strip().lower().startswith("multipart/"):
            found = re.search(r'boundary="?([^";]+)"?', params)
            if found and len(found.group(1)) <= MAX_BOUNDARY:
                boundary = found.group(1).encode("latin-1", "replace")
        self._boundary = boundary
        self._tail = b""
        self.bytes = 0
        self.ended = False  # the body's last chunk was read
        self.cut = False  # the client left before that
        for part in (scope["method"], scope["path"], _query_without_key(scope), media.strip().lower()):
            self._hash.update(part.encode("utf-8", "replace") + b"\0")

    def feed(self, chunk: bytes) -> None:
        self.bytes += len(chunk)
        if not self._boundary:
            self._hash.update(chunk)
            return
        data = self._tail + chunk
        keep_from = max(0, len(data) - (len(self._boundary) - 1))
        pos = 0
        while (at := data.find(self._boundary, pos)) != -1 and at < keep_from:
            self._hash.update(data[pos:at])
            pos = at + len(self._boundary)
        cut = max(pos, keep_from)
        self._hash.update(data[pos:cut])
        self._tail = data[cut:]

    def digest(self) -> str:
        final = self._hash.copy()
        final.update(self._tail)
        return final.hexdigest()


@dataclass
class _Captured:
    """The answer as the route sends it, kept while it goes out."""

    status: int = 0
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytearray = field(default_factory=bytearray)
    too_large: bool = False
    client_gone: bool = False
    complete: bool = True  # the request's whole body was fingerprinted (see _drain)

    def take(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = int(message["status"])
            self.headers = [
                (k.decode("latin-1").lower(), v.decode("latin-1"))
                for k, v in message.get("headers", [])
                if k.decode("latin-1").lower() in KEPT_HEADERS
            ]
        elif message["type"] == "http.response.body" and not self.too_large:
            self.body += message.get("body", b"")
            if len(self.body) > MAX_KEPT_BODY:
                self.too_large = True
                self.body = bytearray()

    @property
    def kept(self) -> bool:
        return 200 <= self.status < 400


def _header(scope: Scope, name: str) -> str:
    wanted = name.encode("latin-1")
    for key, value in scope.get("headers", []):
        if key.lower() == wanted:
            return str(value.decode("latin-1"))
    return ""


def _headers(scope: Scope, name: str) -> list[str]:
    wanted = name.encode("latin-1")
    return [value.decode("latin-1") for key, value in scope.get("headers", []) if key.lower() == wanted]


def _query(scope: Scope) -> list[tuple[str, str]]:
    raw = scope.get("query_string", b"").decode("latin-1")
    return parse_qsl(raw, keep_blank_values=True)


def _query_without_key(scope: Scope) -> str:
    public = scope["path"].startswith(PUBLIC_PREFIX)
    return urlencode([(k, v) for k, v in _query(scope) if not (public and k == FORM_PARAMETER)])


def _key(scope: Scope, public: bool) -> str | None:
    """The request's key (None: the request has none); a malformed one is refused."""
    found = _headers(scope, HEADER)
    if public:
        found += [v for k, v in _query(scope) if k == FORM_PARAMETER]
    if not found:
        return None
    if len(set(found)) != 1 or not KEY_PATTERN.fullmatch(found[0]):
        raise IdempotencyRefused(400, "bad_idempotency_key", BAD_KEY, public=public)
    return found[0]


def _owner(scope: Scope, public: bool, services: AppServices) -> str | None:
    """Whose key it is: the link (by its token's hash) or the session's user; None when nobody is known."""
    if public:
        token = (scope.get("path_params") or {}).get("token")
        if not isinstance(token, str) or not token:
            return None
        return "link:" + hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()
    try:
        session = verify_session(ASGIConnection(scope), services.sessions, services.portal)
    except NotAuthorizedException:
        return None
    return f"user:{session.member_id}:{session.user_id}"


class IdempotencyMiddleware(ASGIMiddleware):
    """See the module. One instance per app: it knows which of its requests are running, to wake their waiters."""

    scopes = (ScopeType.HTTP,)

    def __init__(self) -> None:
        self._finished: dict[int, asyncio.Event] = {}

    async def handle(self, scope: Scope, receive: Receive, send: Send, next_app: ASGIApp) -> None:
        http = cast(HTTPScope, scope)  # ``scopes`` lets only HTTP requests in
        path = http["path"]
        public = path.startswith(PUBLIC_PREFIX)
        if http["method"] not in CHANGING or not (public or path.startswith(API_PREFIX)):
            await next_app(scope, receive, send)
            return
        key = _key(scope, public)
        services: AppServices | None = getattr(scope["litestar_app"].state, "services", None)
        owner = _owner(scope, public, services) if key is not None and services is not None else None
        if key is None or owner is None or services is None:
            await next_app(scope, receive, send)
            return
        db = services.db
        method = http["method"]
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_SECONDS
        while True:
            claim = await db.write(lambda d: store.claim(d, owner=owner, method=method, path=path, key=key))
            if claim.state == "claimed":
                await self._run(db, claim.id, http, receive, send, next_app)
                return
            if claim.state == "done":
                await self._replay(claim, http, receive, send, public)
                return
            left = deadline - loop.time()
            if left <= 0:
                raise IdempotencyRefused(409, "request_running", STILL_RUNNING, public=public)
            finished = self._finished.get(claim.id)
            if finished is None:  # not this process's request (or it just ended): look again shortly
                await asyncio.sleep(min(left, POLL_SECONDS))
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(min(left, POLL_SECONDS)):
                    await finished.wait()

    async def _run(
        self, db: Database, claim_id: int, scope: HTTPScope, receive: Receive, send: Send, next_app: ASGIApp
    ) -> None:
        finished = self._finished[claim_id] = asyncio.Event()
        fingerprint = Fingerprint(scope)
        captured = _Captured()

        async def hashing_receive() -> ReceiveMessage:
            message = await receive()
            if message["type"] == "http.request":
                fingerprint.feed(message.get("body", b""))
                if not message.get("more_body", False):
                    fingerprint.ended = True
            elif message["type"] == "http.disconnect":
                fingerprint.cut = True
            return message

        async def capturing_send(message: Message) -> None:
            captured.take(message)
            if message["type"] == "http.response.start" and captured.kept:
                # Before the answer goes out: once it has, the server hands the route no more of the body.
                captured.complete = await _drain(fingerprint, hashing_receive)
                # The route has done its work (committed), nobody has its answer, and it is not kept yet.
                crashpoints.reached("idempotency.answering")
            if captured.client_gone:
                return
            try:
                await send(message)
            except OSError:  # the client left: the answer is still kept for its retry
                captured.client_gone = True

        ran = False
        acting = store.ACTING_FOR.set(claim_id)
        try:
            await next_app(scope, hashing_receive, capturing_send)
            ran = True
        finally:
            store.ACTING_FOR.reset(acting)
            try:
                if ran and captured.kept:
                    request = store.KeptRequest(fingerprint.digest(), fingerprint.bytes, captured.complete)
                    answer = store.KeptAnswer(
                        captured.status, captured.headers, None if captured.too_large else bytes(captured.body)
                    )
                    await asyncio.shield(db.write(lambda d: store.keep(d, claim_id, request, answer)))
                else:
                    await asyncio.shield(db.write(lambda d: store.release(d, claim_id)))
            finally:
                finished.set()
                self._finished.pop(claim_id, None)

    async def _replay(self, claim: store.Claim, scope: HTTPScope, receive: Receive, send: Send, public: bool) -> None:
        assert claim.request is not None and claim.answer is not None
        kept = claim.request
        if kept.hash == store.INTERRUPTED:
            raise IdempotencyRefused(409, "request_interrupted", INTERRUPTED, public=public)
        fingerprint = Fingerprint(scope)
        while not fingerprint.ended:
            if fingerprint.bytes > kept.bytes + REPEAT_SLACK or (not kept.complete and fingerprint.bytes >= kept.bytes):
                break
            message = await receive()
            if message["type"] != "http.request":
                return  # the client left: nobody is waiting for the answer
            chunk = message.get("body", b"")
            if not kept.complete:  # the first one was fingerprinted over its first kept.bytes only
                chunk = chunk[: kept.bytes - fingerprint.bytes]
            fingerprint.feed(chunk)
            if not message.get("more_body", False):
                fingerprint.ended = True
        whole = fingerprint.ended if kept.complete else fingerprint.bytes == kept.bytes
        if not whole or fingerprint.digest() != kept.hash:
            raise IdempotencyRefused(422, "idempotency_key_reused", OTHER_REQUEST, public=public)
        answer = claim.answer
        if answer.body is None:
            raise IdempotencyRefused(409, "answer_not_kept", TOO_LARGE_TO_REPEAT, public=public)
        headers = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        headers += [(REPLAYED_HEADER.encode(), b"true"), (b"content-length", str(len(answer.body)).encode())]
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body, "more_body": False})


async def _drain(fingerprint: Fingerprint, receive: Callable[[], Awaitable[ReceiveMessage]]) -> bool:
    """Read (and fingerprint) what the route left of the body, within bounds; whether the body's end was seen."""
    if fingerprint.ended or fingerprint.cut:
        return fingerprint.ended and not fingerprint.cut
    start = fingerprint.bytes
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while not (fingerprint.ended or fingerprint.cut) and fingerprint.bytes - start < DRAIN_BYTES:
                await receive()
    return fingerprint.ended and not fingerprint.cut
