"""Async Bitrix24 REST client on httpx: auth, pacing, retries, batch and pagination.

Everything in the server that talks to the portal goes through one `Bitrix24Client` per portal, so the rate
limit, the token refresh and the error mapping are done once and done the same way everywhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, BinaryIO
from urllib.parse import urlsplit, urlunsplit

import httpx
import msgspec

from cades.tls import default_context

from . import phpquery
from .errors import (
    BadResponse,
    BatchError,
    Bitrix24Error,
    ExpiredToken,
    InvalidToken,
    OAuthError,
    RateLimited,
    ServerError,
    TransportError,
    error_from,
)
from .limiter import LeakyBucket
from .masking import install_log_redaction, redact
from .settings import PortalSettings
from .tokens import OAuthTokens, TokenStore

log = logging.getLogger("klikdok.bitrix24")

BATCH_LIMIT = 50
PAGE_SIZE = 50
USER_AGENT = "KlikDok/0.1 (+bitrix24 local app)"

# Leading words of method names that only read. Reads may be retried after a broken connection; writes may
# not, because the portal could have executed them already (a second timeline comment, a second upload).
_READ_VERBS = ("get", "list", "current", "info", "fields", "search", "count", "admin", "items")
_READ_METHODS = frozenset({"methods", "scope", "profile", "server.time", "feature.get", "app.info"})
# Errors raised before the request reached the portal: always safe to retry.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

Command = tuple[str, Mapping[str, Any]]


def is_read_method(method: str) -> bool:
    """Whether repeating `method` after a lost answer is harmless."""
    name = method.lower().removesuffix(".json")
    if name in _READ_METHODS:
        return True
    last = name.rsplit(".", 1)[-1]
    return last.startswith(_READ_VERBS)


class DownloadTooLarge(Bitrix24Error):
    """A file the portal serves is over the caller's limit (:meth:`Bitrix24Client.download_to`); nothing more is
    read."""


class BatchResult(msgspec.Struct):
    """Outcome of `batch`: per-command results and per-command typed errors (the call itself succeeded)."""

    results: dict[str, Any]
    errors: dict[str, Bitrix24Error]
    totals: dict[str, int]
    nexts: dict[str, int]

    def get(self, key: str) -> Any:
        """The result of command `key`, or raise its error."""
        if key in self.errors:
            raise self.errors[key]
        return self.results.get(key)

    @property
    def ok(self) -> bool:
        return not self.errors


def _as_dict(value: Any) -> dict[str, Any]:
    """PHP serialises an empty map as `[]` and a map with keys 0..n-1 as a list."""
    if isinstance(value, dict):
        return value
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)}
    return {}


def _portal_rest_base(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/rest/", "", ""))


class Bitrix24Client:
    """One portal's REST access.

    Build it with `Bitrix24Client(settings, token_store=...)` for an installed app (mode "oauth") or with
    `settings.mode == "webhook"` for an inbound webhook. Use as an async context manager or call `aclose()`.
    """

    def __init__(
        self,
        settings: PortalSettings,
        *,
        token_store: TokenStore | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        backoff_base: float = 0.5,
        backoff_max: float = 30.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        limiter: LeakyBucket | None = None,
    ) -> None:
        """``limiter``: the portal's budget when other clients spend it too (the portal counts every request of
        the application against one bucket, whichever client object sends it)."""
        if settings.mode == "none":
            raise ValueError('no portal configured (portal.mode = "none")')
        if settings.mode == "oauth" and token_store is None:
            raise ValueError("oauth mode needs a token_store")
        if settings.mode == "webhook" and not settings.webhook_url:
            raise ValueError("portal.webhook_url is required in webhook mode")
        install_log_redaction()
        self.settings = settings
        self.token_store = token_store
        self.limiter = limiter or LeakyBucket(settings.rate_per_second, settings.burst)
        self.backoff_base = backoff_base
        self.backoff_max = backoff_max
        self._sleep = sleep
        self._tokens: OAuthTokens | None = None
        self._refresh_lock = asyncio.Lock()
        verify = ssl.create_default_context(cafile=settings.ca_file) if settings.ca_file else default_context()
        self._http = httpx.AsyncClient(
            timeout=httpx.Timeout(settings.timeout_seconds),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            transport=transport,
            verify=verify,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self._webhook_base = ""
        if settings.mode == "webhook":
            self._webhook_base = settings.webhook_url.rstrip("/") + "/"
        # Counters for `klikdok doctor` and tests; never contain secrets.
        self.stats: dict[str, int] = {"requests": 0, "retries": 0, "refreshes": 0, "rate_limited": 0}

    def __repr__(self) -> str:
        return f"Bitrix24Client(mode={self.settings.mode!r}, endpoint={redact(self.rest_base or '?')!r})"

    async def __aenter__(self) -> Bitrix24Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- tokens -----------------------------------------------------------------------------------------

    @property
    def rest_base(self) -> str:
        """The portal's `/rest/` base (webhook URL or the token's client_endpoint)."""
        if self._webhook_base:
            return self._webhook_base
        return self._tokens.client_endpoint if self._tokens else ""

    @property
    def notify_client_id(self) -> str | None:
        """`CLIENT_ID` for tagged notifications: required through a webhook (the local app's client_id, or
        "klikdok" when none is configured); None with OAuth, where the token names the application."""
        if self.settings.mode != "webhook":
            return None
        return self.settings.client_id or "klikdok"

    @property
    def portal_base(self) -> str:
        """`https://portal/rest/` without webhook credentials (for upload/download URLs and user tokens)."""
        return _portal_rest_base(self.rest_base) if self.rest_base else ""

    async def tokens(self) -> OAuthTokens:
        """The current token pair (loaded from the store on first use)."""
        if self._tokens is None:
            assert self.token_store is not None
            loaded = await self.token_store.load()
            if loaded is None or not loaded.access_token:
                raise InvalidToken("", "NO_AUTH_FOUND", "no tokens stored for this portal: install the app")
            self._tokens = loaded
        return self._tokens

    async def reload_tokens(self) -> None:
        """Forget cached tokens; the next call reads the store (after a reinstall saved a new pair)."""
        self._tokens = None

    async def redeem_refresh_token(self, refresh_token: str, previous: OAuthTokens | None = None) -> OAuthTokens:
        """Trade `refresh_token` for a new pair at the configured OAuth server with the configured credentials.

        The OAuth server is the configured one only (`settings.oauth_token_url`), never a `server_endpoint`
        that came with tokens: whoever could name it would receive our client_secret and hand us tokens of
        their choice. A refresh token minted for another application fails here (`invalid_grant`), which is
        what makes this a proof that install tokens belong to this application. Nothing is stored.
        """
        params = {
            "grant_type": "refresh_token",
            "client_id": self.settings.client_id,
            "client_secret": self.settings.client_secret,
            "refresh_token": refresh_token,
        }
        try:
            # GET with query parameters is the documented form; the URL is redacted in httpx's log lines.
            response = await self._http.get(self.settings.oauth_token_url, params=params)
        except httpx.HTTPError as exc:
            raise TransportError("oauth.token", "NETWORK", type(exc).__name__) from None
        payload = self._decode("oauth.token", response)
        if response.status_code >= 400 or "error" in payload or not payload.get("access_token"):
            err = error_from("oauth.token", payload, response.status_code)
            if not isinstance(err, OAuthError):
                err = OAuthError("oauth.token", err.code, err.description, response.status_code)
            log.warning("bitrix24 token refresh refused: %s", err.code or response.status_code)
            raise err
        return OAuthTokens.from_oauth_response(payload, previous=previous)

    async def refresh_tokens(self, stale_access_token: str | None = None) -> OAuthTokens:
        """Trade the refresh token for a new pair, save it, and use it.

        Concurrent callers that all saw `expired_token` for the same access token refresh once: the others
        find a different token in place when they get the lock and simply retry with it.
        """
        if self.settings.mode != "oauth":
            raise InvalidToken("oauth.token", "WRONG_AUTH_TYPE", "webhooks have no tokens to refresh")
        async with self._refresh_lock:
            current = await self.tokens()
            if stale_access_token is not None and current.access_token != stale_access_token:
                return current
            fresh = await self.redeem_refresh_token(current.refresh_token, previous=current)
            assert self.token_store is not None
            await self.token_store.save(fresh)
            self._tokens = fresh
            self.stats["refreshes"] += 1
            log.info("bitrix24 tokens refreshed for member %s", fresh.member_id or "?")
            return fresh

    # ---- single calls -----------------------------------------------------------------------------------

    @staticmethod
    def _decode(method: str, response: httpx.Response) -> dict[str, Any]:
        try:
            payload = msgspec.json.decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            if response.status_code >= 500:
                return {}
            raise BadResponse(method, "BAD_RESPONSE", "answer is not JSON", response.status_code) from None
        if not isinstance(payload, dict):
            raise BadResponse(method, "BAD_RESPONSE", "answer is not a JSON object", response.status_code)
        return payload

    def _backoff(self, attempt: int) -> float:
        delay = min(self.backoff_max, self.backoff_base * (2**attempt))
        return delay * (0.5 + random.random() / 2)  # jitter, so clients that failed together retry apart

    async def call_raw(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        auth: str | None = None,
        endpoint: str | None = None,
        idempotent: bool | None = None,
    ) -> dict[str, Any]:
        """Call `method` and return the whole envelope (`result`, `next`, `total`, `time`).

        auth/endpoint: call with someone else's access token (e.g. the AUTH_ID of a placement POST, to
            check it with `user.current`). Such calls are never refreshed: an expired token is the caller's
            answer.
        idempotent: override the read/write guess that decides whether a lost answer is retried.
        """
        if idempotent is None:
            idempotent = is_read_method(method)
        body: dict[str, Any] = dict(params or {})
        attempt = 0
        refreshed = False
        while True:
            used_token: str | None = None
            if auth is not None:
                if endpoint is None and self.settings.mode == "oauth":
                    endpoint = (await self.tokens()).client_endpoint
                url = (endpoint or self.portal_base) + method
                body["auth"] = auth
            elif self.settings.mode == "webhook":
                url = self._webhook_base + method
            else:
                tokens = await self.tokens()
                used_token = tokens.access_token
                url = tokens.client_endpoint + method
                body["auth"] = used_token
            started = time.monotonic()
            try:
                async with self.limiter.slot():
                    self.stats["requests"] += 1
                    response = await self._http.post(
                        url, content=msgspec.json.encode(body), headers={"Content-Type": "application/json"}
                    )
            except (httpx.UnsupportedProtocol, httpx.InvalidURL):
                raise TransportError(method, "BAD_URL", "the portal URL is not a valid http(s) URL") from None
            except httpx.HTTPError as exc:
                safe = isinstance(exc, _NOT_SENT) or idempotent
                log.warning("bitrix24 %s: %s (attempt %d)", method, type(exc).__name__, attempt + 1)
                if safe and attempt < self.settings.max_retries:
                    await self._retry_pause(attempt)
                    attempt += 1
                    continue
                raise TransportError(method, "NETWORK", type(exc).__name__) from None
            payload = self._decode(method, response)
            elapsed = time.monotonic() - started
            if response.status_code < 400 and "error" not in payload:
                log.debug("bitrix24 %s: HTTP %d in %.3fs", method, response.status_code, elapsed)
                return payload
            err = error_from(method, payload, response.status_code)
            log.debug("bitrix24 %s: HTTP %d %s in %.3fs", method, response.status_code, err.code, elapsed)
            if isinstance(err, ExpiredToken) and used_token is not None and not refreshed:
                await self.refresh_tokens(used_token)
                refreshed = True
                continue
            if isinstance(err, RateLimited):
                self.stats["rate_limited"] += 1
                self.limiter.saturate()
                if attempt < self.settings.max_retries:
                    await self._retry_pause(attempt)
                    attempt += 1
                    continue
            elif isinstance(err, ServerError) and err.retryable and idempotent:
                if attempt < self.settings.max_retries:
                    await self._retry_pause(attempt)
                    attempt += 1
                    continue
            raise err

    async def _retry_pause(self, attempt: int) -> None:
        self.stats["retries"] += 1
        await self._sleep(self._backoff(attempt))

    async def call(self, method: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> Any:
        """Call `method` and return its `result`."""
        return (await self.call_raw(method, params, **kwargs)).get("result")

    # ---- batch ------------------------------------------------------------------------------------------

    async def batch(
        self,
        commands: Mapping[str, Command] | Sequence[Command],
        *,
        halt: bool = False,
    ) -> BatchResult:
        """Run many calls in as few requests as possible (50 commands per `batch`).

        Commands given as a sequence are keyed "0", "1", ... in order. With more than 50 commands the list is
        split and the parts run one after another, so `$result[...]` references only work within a part.
        A failing command does not fail the batch: its typed error is in `errors[key]`.
        """
        if isinstance(commands, Mapping):
            items = [(str(k), v) for k, v in commands.items()]
        else:
            items = [(str(i), v) for i, v in enumerate(commands)]
        total = BatchResult(results={}, errors={}, totals={}, nexts={})
        for offset in range(0, len(items), BATCH_LIMIT):
            chunk = items[offset : offset + BATCH_LIMIT]
            # Keys go on the wire as given, so `$result[key]` references work. Numeric keys may come back as
            # a JSON list (PHP arrays with keys 0..n-1); `_as_dict` maps list positions back to those keys.
            wire = {key: f"{method}?{phpquery.encode(params)}" for key, (method, params) in chunk}
            methods = {key: method for key, (method, _) in chunk}
            idempotent = all(is_read_method(m) for m in methods.values())
            result = await self.call("batch", {"halt": 1 if halt else 0, "cmd": wire}, idempotent=idempotent)
            if not isinstance(result, dict):
                raise BatchError("batch", "BAD_RESPONSE", "batch answer has no result map")
            results = _as_dict(result.get("result"))
            errors = _as_dict(result.get("result_error"))
            totals = _as_dict(result.get("result_total"))
            nexts = _as_dict(result.get("result_next"))
            for key, method in methods.items():
                if key in errors:
                    payload = errors[key]
                    total.errors[key] = error_from(method, payload if isinstance(payload, dict) else {}, None)
                elif key in results:
                    total.results[key] = results[key]
                if key in totals:
                    total.totals[key] = int(totals[key])
                if key in nexts:
                    total.nexts[key] = int(nexts[key])
            if halt and total.errors:
                break
        return total

    # ---- lists ------------------------------------------------------------------------------------------

    @staticmethod
    def _items(result: Any, items_key: str | None) -> list[Any]:
        if items_key is not None and isinstance(result, dict):
            result = result.get(items_key)
        if isinstance(result, dict):
            return list(result.values())
        return list(result or [])

    async def iter_pages(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        items_key: str | None = None,
        start_key: str = "start",
    ) -> AsyncIterator[list[Any]]:
        """Yield pages of a list method following `next` (the portal's offset pagination)."""
        query = dict(params or {})
        start = 0
        while True:
            query[start_key] = start
            envelope = await self.call_raw(method, query)
            yield self._items(envelope.get("result"), items_key)
            next_start = envelope.get("next")
            if next_start in (None, "") or int(next_start) <= start:
                return
            start = int(next_start)

    async def list_all(self, method: str, params: Mapping[str, Any] | None = None, **kwargs: Any) -> list[Any]:
        """Every item of a list method, via `start`/`next`. Fine up to a few thousand items."""
        items: list[Any] = []
        async for page in self.iter_pages(method, params, **kwargs):
            items.extend(page)
        return items

    async def iter_by_id(
        self,
        method: str,
        params: Mapping[str, Any] | None = None,
        *,
        filter_key: str = "filter",
        order_key: str = "order",
        id_field: str = "ID",
        items_key: str | None = None,
    ) -> AsyncIterator[Any]:
        """Yield every item ordered by ID using `>ID` windows and `start=-1` (no COUNT on the portal).

        This is Bitrix's recommended way for large lists: each page costs the same however deep it is.
        """
        base = dict(params or {})
        user_filter = dict(base.get(filter_key) or {})
        last_id = 0
        while True:
            query = dict(base)
            query[filter_key] = {**user_filter, f">{id_field}": last_id}
            query[order_key] = {id_field: "ASC"}
            query["start"] = -1
            page = self._items((await self.call_raw(method, query)).get("result"), items_key)
            for item in page:
                yield item
            if len(page) < PAGE_SIZE:
                return
            next_id = int(page[-1][id_field])
            if next_id <= last_id:
                raise Bitrix24Error(method, "PAGINATION", "IDs did not increase; the portal ignored the filter")
            last_id = next_id

    # ---- file transfer ----------------------------------------------------------------------------------

    async def upload_to(
        self,
        upload_url: str,
        field: str,
        filename: str,
        source: bytes | Path,
        content_type: str = "application/octet-stream",
    ) -> dict[str, Any]:
        """POST a file to a Disk `uploadUrl` as multipart; a Path is streamed in 64 KiB chunks, not read whole."""
        handle: BinaryIO | None = None
        files: dict[str, tuple[str, BinaryIO | bytes, str]]
        try:
            if isinstance(source, Path):
                handle = source.open("rb")
                files = {field: (filename, handle, content_type)}
            else:
                files = {field: (filename, source, content_type)}
            async with self.limiter.slot():
                response = await self._http.post(
                    upload_url, files=files, timeout=httpx.Timeout(self.settings.transfer_timeout_seconds)
                )
        except httpx.HTTPError as exc:
            raise TransportError("disk.upload", "NETWORK", type(exc).__name__) from None
        finally:
            if handle is not None:
                handle.close()
        payload = self._decode("disk.upload", response)
        if response.status_code >= 400 or "error" in payload:
            raise error_from("disk.upload", payload, response.status_code)
        return payload

    @contextlib.asynccontextmanager
    async def _file_response(self, url: str, what: str, *, follow_redirects: bool) -> AsyncIterator[httpx.Response]:
        """A GET of a file the portal serves, inside the rate limiter, its body not read yet; an error answer and a
        broken connection come typed as for REST calls (``what`` names the operation)."""
        headers = {"Accept": "*/*", "Referer": self.portal_base.removesuffix("rest/")}
        try:
            async with (
                self.limiter.slot(),
                self._http.stream(
                    "GET",
                    url,
                    headers=headers,
                    follow_redirects=follow_redirects,
                    timeout=httpx.Timeout(self.settings.transfer_timeout_seconds),
                ) as response,
            ):
                self.stats["requests"] += 1
                # Without following redirects a 3xx is no file either.
                if response.status_code >= (400 if follow_redirects else 300):
                    body = await response.aread()
                    try:
                        payload = msgspec.json.decode(body[:65536]) if body else {}
                    except msgspec.DecodeError:
                        payload = {}
                    raise error_from(what, payload if isinstance(payload, dict) else {}, response.status_code)
                yield response
        except httpx.HTTPError as exc:
            raise TransportError(what, "NETWORK", type(exc).__name__) from None

    async def download_from(self, url: str, sink: Path | None = None) -> bytes | int:
        """GET a `DOWNLOAD_URL`. With `sink` the body is streamed to that file and its size returned."""
        async with self._file_response(url, "disk.download", follow_redirects=True) as response:
            if sink is None:
                return await response.aread()
            size = 0
            with sink.open("wb") as out:
                async for chunk in response.aiter_bytes(256 * 1024):
                    out.write(chunk)
                    size += len(chunk)
            return size

    async def download_to(self, url: str, sink: Path, *, max_bytes: int) -> int:
        """GET a file the portal serves (a document generator PDF) into ``sink``, refusing it past ``max_bytes``:
        nothing more is read and the partial file is removed. Its size. Errors come typed as for REST calls."""
        async with self._file_response(url, "document.pdf", follow_redirects=False) as response:
            size = 0
            try:
                with sink.open("wb") as out:
                    async for chunk in response.aiter_bytes(256 * 1024):
                        size += len(chunk)
                        if size > max_bytes:
                            raise DownloadTooLarge("document.pdf", "TOO_LARGE", f"over {max_bytes} bytes")
                        out.write(chunk)
            except BaseException:
                sink.unlink(missing_ok=True)
                raise
            return size
