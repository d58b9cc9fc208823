"""The server's fetcher for validation: CRLs and AIA issuer certificates cached on disk, OCSP answers in memory.

:class:`CachingFetcher` sits between ``cades`` and :class:`cades.fetch.HttpFetcher`. A CRL is reused without a
network call until its own nextUpdate (but no longer than ``[trust] crl_cache_hours``), so a warm verification
costs no round trip; the background refresher (:mod:`server.trust.refresher`) refetches it before then. An OCSP
answer is kept in memory until its nextUpdate (a few minutes when it names none), and only when it carries no
nonce: an answer bound to one request's nonce is worth nothing to the next one.

Cached bytes are trusted no more than fresh ones: ``cades`` checks every CRL's and OCSP answer's signature
whatever its origin, and a fetch that fails falls back to the cached copy, whose nextUpdate then tells
``cades`` it is stale. A fetched CRL older than the cached one (a replayed or lagging mirror) never replaces it.

Each cached URL has a JSON sidecar (when it was fetched, thisUpdate/nextUpdate, the last error) written next to
its bytes; ``klikdok doctor``, another process, reads them with :func:`read_status`. Files are replaced
atomically (write, fsync, rename), so a reader or a crash never sees half a CRL.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Final

import msgspec
from asn1crypto import ocsp

from cades.asn1 import MalformedInput, load_certificates, load_crl
from cades.fetch import Fetcher, FetchLimits, HttpFetcher, Kind, Origin

log = logging.getLogger(__name__)

__all__ = [
    "CacheEntry",
    "CachingFetcher",
    "Responder",
    "read_status",
]

# An AIA issuer certificate does not change under its URL; it is re-fetched now and then all the same.
CERTIFICATE_REUSE: Final = dt.timedelta(days=7)
# An OCSP answer that names no nextUpdate (fresh for every request, RFC 6960 4.2.2.1) is reused this long.
OCSP_REUSE: Final = dt.timedelta(minutes=5)
OCSP_MAX_ENTRIES: Final = 4096
# A CRL is refetched when this share of its validity (thisUpdate..nextUpdate) has passed.
REFRESH_AT: Final = 0.8
# After a refetch that failed or brought nothing newer, the refresher waits this long before trying again.
RETRY_AFTER: Final = dt.timedelta(minutes=10)
MAX_ENTRIES: Final = 4096
RESPONDERS_FILE: Final = "ocsp-responders.json"


class CacheEntry(msgspec.Struct, kw_only=True):
    """What is known about one cached URL (the sidecar JSON)."""

    url: str
    kind: str  # "crl" | "certificate"
    issuer: str = ""  # the CRL's issuer, as people read it
    fetched_at: dt.datetime | None = None  # the last successful fetch
    attempted_at: dt.datetime | None = None  # the last fetch, successful or not
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    size: int = 0
    last_error: str = ""
    used_at: dt.datetime | None = None

    @property
    def has_bytes(self) -> bool:
        return self.fetched_at is not None and self.size > 0


class Responder(msgspec.Struct, kw_only=True):
    """An OCSP responder validation has asked (doctor probes these)."""

    url: str
    last_ok_at: dt.datetime | None = None
    attempted_at: dt.datetime | None = None
    last_error: str = ""


class _OcspAnswer(msgspec.Struct):
    body: bytes
    expires: dt.datetime


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()[:40]


def _write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _crl_times(body: bytes) -> tuple[str, dt.datetime | None, dt.datetime | None]:
    """(issuer, thisUpdate, nextUpdate) of a CRL; MalformedInput if it is not one."""
    crl = load_crl(body)
    try:
        tbs = crl["tbs_cert_list"]
        name = tbs["issuer"]
        common = name.native.get("common_name") if isinstance(name.native, dict) else None
        issuer = str(common[-1] if isinstance(common, list) else common or name.human_friendly)[:300]
        return issuer, tbs["this_update"].native, tbs["next_update"].native
    except Exception as exc:  # asn1crypto parses lazily: a broken field shows up only here
        raise MalformedInput(f"CRL не читается: {type(exc).__name__}") from None


class CachingFetcher(Fetcher):
    """A :class:`Fetcher` with the server's cache in front of another one (an :class:`HttpFetcher` by default).

    It tells ``cades`` which answers it served from its store (origin ``cache``, shown in reports), and that it
    keeps OCSP answers (``stores_ocsp_answers``), so validation sends nonce-less requests that a stored answer can
    serve.
    """

    stores_ocsp_answers = True

    def __init__(
        self,
        directory: Path,
        *,
        inner: Fetcher | None = None,
        max_age: dt.timedelta = dt.timedelta(hours=24),
        max_crl_bytes: int = 64 * 1024 * 1024,
        timeout: float = 5.0,
        now: Callable[[], dt.datetime] = _now,
    ) -> None:
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.max_age = max_age
        self.max_total_bytes = 16 * max_crl_bytes
        self.now = now
        if inner is None:
            limits = FetchLimits(timeout=timeout)
            limits.max_bytes["crl"] = max_crl_bytes
            inner = HttpFetcher(limits)
        self.inner = inner
        self._lock = threading.Lock()
        self._entries: dict[str, CacheEntry] = {e.url: e for e in _read_entries(self.directory)}
        self._ocsp: dict[tuple[str, bytes], _OcspAnswer] = {}
        self._responders: dict[str, Responder] = {r.url: r for r in _read_responders(self.directory)}

    def close(self) -> None:
        close = getattr(self.inner, "close", None)
        if callable(close):
            close()

    # -- the Fetcher contract ----------------------------------------------------------------------------

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        return self.get_with_origin(url, kind=kind)[0]

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        return self.post_ocsp_with_origin(url, request)[0]

    def get_with_origin(self, url: str, *, kind: Kind) -> tuple[bytes | None, Origin]:
        if kind not in ("crl", "certificate"):
            return self.inner.get(url, kind=kind), "network"
        if not url.lower().startswith(("http://", "https://")):
            return None, "network"  # ldap:// and file:// points are not followed: nothing to cache or to report
        with self._lock:
            entry = self._entries.get(url)
        if entry is not None and entry.has_bytes and self._fresh(entry):
            body = self._read_bytes(entry)
            if body is not None:
                self._touch(entry)
                return body, "cache"
        return self._fetch(url, kind)

    def post_ocsp_with_origin(self, url: str, request: bytes) -> tuple[bytes | None, Origin]:
        key = _ocsp_request_key(request)
        now = self.now()
        if key is not None:
            with self._lock:
                hit = self._ocsp.get((url, key))
            if hit is not None and hit.expires > now:
                return hit.body, "cache"
        body = self.inner.post_ocsp(url, request)
        self._responder_seen(url, body is not None, now)
        if body is None or key is None:
            return body, "network"
        expires = _ocsp_expiry(body, now, self.max_age)
        if expires is not None:
            with self._lock:
                if len(self._ocsp) >= OCSP_MAX_ENTRIES:
                    self._ocsp = {k: v for k, v in self._ocsp.items() if v.expires > now}
                    if len(self._ocsp) >= OCSP_MAX_ENTRIES:
                        self._ocsp.clear()
                self._ocsp[(url, key)] = _OcspAnswer(body, expires)
        return body, "network"

    # -- fetching and storing --------------------------------------------------------------------------

    def fetch(self, url: str, kind: Kind) -> bytes | None:
        """Go to the network for ``url``; store what came if it is usable; else fall back to the cached copy."""
        return self._fetch(url, kind)[0]

    def _fetch(self, url: str, kind: Kind) -> tuple[bytes | None, Origin]:
        now = self.now()
        body = self.inner.get(url, kind=kind)
        with self._lock:
            known = self._entries.get(url)
        entry = msgspec.structs.replace(known) if known is not None else CacheEntry(url=url, kind=kind)
        previous_attempt, previous_error = entry.attempted_at, entry.last_error
        entry.attempted_at = now
        if body is None:
            entry.last_error = "адрес недоступен или ответ не получен"
            # While a site is down every verification lands here: the sidecar is rewritten once a minute at most.
            quiet = (
                previous_error == entry.last_error
                and previous_attempt is not None
                and now - previous_attempt < dt.timedelta(minutes=1)
            )
            self._save(entry, None, persist=not quiet)
            return (self._read_bytes(entry) if entry.has_bytes else None), "cache"
        issuer, this_update, next_update = "", None, None
        try:
            if kind == "crl":
                issuer, this_update, next_update = _crl_times(body)
            elif not load_certificates(body):
                raise MalformedInput("в ответе нет сертификата")
        except MalformedInput as exc:
            entry.last_error = f"получен не {'CRL' if kind == 'crl' else 'сертификат'}: {str(exc)[:200]}"
            self._save(entry, None)
            return (self._read_bytes(entry) if entry.has_bytes else None), "cache"
        if (
            kind == "crl"
            and entry.has_bytes
            and entry.this_update is not None
            and this_update is not None
            and this_update < entry.this_update
        ):
            entry.last_error = (
                f"получен более старый CRL (thisUpdate {this_update:%Y-%m-%d %H:%M} UTC); оставлен прежний"
            )
            self._save(entry, None)
            return self._read_bytes(entry), "cache"
        entry.issuer, entry.this_update, entry.next_update = issuer, this_update, next_update
        entry.fetched_at, entry.used_at, entry.size, entry.last_error = now, now, len(body), ""
        self._save(entry, body)
        return body, "network"

    def _fresh(self, entry: CacheEntry) -> bool:
        now = self.now()
        assert entry.fetched_at is not None
        if entry.kind == "certificate":
            return now < entry.fetched_at + CERTIFICATE_REUSE
        if now >= entry.fetched_at + self.max_age:
            return False
        return entry.next_update is None or now < entry.next_update

    def _path(self, url: str, suffix: str) -> Path:
        return self.directory / f"{_key(url)}.{suffix}"

    def _read_bytes(self, entry: CacheEntry) -> bytes | None:
        try:
            return self._path(entry.url, "der").read_bytes()
        except OSError:
            return None

    def _touch(self, entry: CacheEntry) -> None:
        # Recency for eviction, kept in memory only: a warm verification writes nothing.
        entry.used_at = self.now()

    def _save(self, entry: CacheEntry, body: bytes | None, *, persist: bool = True) -> None:
        try:
            if body is not None:
                _write_atomic(self._path(entry.url, "der"), body)
            if persist or body is not None:
                _write_atomic(self._path(entry.url, "json"), msgspec.json.encode(entry))
        except OSError as exc:
            log.warning("revocation cache not written", extra={"error": exc.strerror})
        with self._lock:
            self._entries[entry.url] = entry
            self._evict()

    def _evict(self) -> None:
        """Keep the cache within its bounds: the least recently used entries go first (under the lock)."""
        oldest = dt.datetime.min.replace(tzinfo=dt.UTC)
        entries = sorted(self._entries.values(), key=lambda e: e.used_at or e.attempted_at or oldest)
        total = sum(e.size for e in entries)
        count = len(entries)
        for entry in entries:
            if total <= self.max_total_bytes and count <= MAX_ENTRIES:
                break
            total -= entry.size
            count -= 1
            del self._entries[entry.url]
            for suffix in ("der", "json"):
                self._path(entry.url, suffix).unlink(missing_ok=True)

    # -- the refresher's and doctor's view -------------------------------------------------------------

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return [msgspec.structs.replace(e) for e in self._entries.values()]

    def refresh_at(self, entry: CacheEntry) -> dt.datetime:
        """When the refresher should refetch this CRL: at 80% of its validity, within crl_cache_hours of the last
        fetch, and not sooner than RETRY_AFTER after an attempt that left nothing newer."""
        if not entry.has_bytes or entry.fetched_at is None:
            base = entry.attempted_at or self.now()
            return base + RETRY_AFTER
        due = entry.fetched_at + self.max_age
        if entry.this_update is not None and entry.next_update is not None and entry.next_update > entry.this_update:
            due = min(due, entry.this_update + (entry.next_update - entry.this_update) * REFRESH_AT)
        if entry.attempted_at is not None and entry.attempted_at > entry.fetched_at:
            due = max(due, entry.attempted_at + RETRY_AFTER)  # the last try did not bring a newer CRL
        elif entry.fetched_at >= due:
            due = entry.fetched_at + RETRY_AFTER  # fetched already past its 80% mark: the CA publishes late
        return due

    def refresh(self, *, force: bool = False) -> int:
        """Refetch every cached CRL that is due (all of them when ``force``); how many were fetched anew."""
        now = self.now()
        fetched = 0
        for entry in self.entries():
            if entry.kind != "crl" or (not force and self.refresh_at(entry) > now):
                continue
            self.fetch(entry.url, "crl")
            with self._lock:
                after = self._entries.get(entry.url)
            if after is not None and after.this_update != entry.this_update:
                fetched += 1
        return fetched

    def _responder_seen(self, url: str, ok: bool, now: dt.datetime) -> None:
        with self._lock:
            known = self._responders.get(url)
            changed = known is None or (known.last_error == "") != ok
            responder = known or Responder(url=url)
            responder.attempted_at = now
            if ok:
                # The file is rewritten when the state changes, and at most every few minutes otherwise.
                changed = changed or responder.last_ok_at is None or now - responder.last_ok_at > OCSP_REUSE
                responder.last_ok_at, responder.last_error = now, ""
            else:
                responder.last_error = "ответ не получен"
            self._responders[url] = responder
            snapshot = list(self._responders.values())[:256]
        if changed:
            try:
                _write_atomic(self.directory / RESPONDERS_FILE, msgspec.json.encode(snapshot))
            except OSError as exc:
                log.warning("OCSP responder list not written", extra={"error": exc.strerror})


def _ocsp_request_key(request: bytes) -> bytes | None:
    """What the request asks about (its CertIDs); None when it does not parse: not cached. A request with a nonce
    gets a nonce-bound answer, which :func:`_ocsp_expiry` never keeps."""
    try:
        return bytes(ocsp.OCSPRequest.load(request)["tbs_request"]["request_list"].dump())
    except Exception:
        return None


def _ocsp_expiry(body: bytes, now: dt.datetime, max_age: dt.timedelta) -> dt.datetime | None:
    """Until when an answer may be served again; None when it must not be (unsuccessful, nonce-bound, broken)."""
    try:
        answer = ocsp.OCSPResponse.load(body)
        if answer["response_status"].native != "successful":
            return None
        tbs = answer["response_bytes"]["response"].parsed["tbs_response_data"]
        for ext in tbs["response_extensions"] or []:
            if ext["extn_id"].native == "nonce":
                return None
        updates = [single["next_update"].native for single in tbs["responses"]]
    except Exception:
        return None
    if not updates:
        return None
    if any(u is None for u in updates):
        return now + OCSP_REUSE
    return min(min(updates), now + max_age)


def _read_entries(directory: Path) -> list[CacheEntry]:
    out = []
    for path in sorted(directory.glob("*.json")):
        if path.name == RESPONDERS_FILE:
            continue
        try:
            out.append(msgspec.json.decode(path.read_bytes(), type=CacheEntry))
        except (OSError, msgspec.DecodeError):
            continue
        if len(out) >= MAX_ENTRIES:
            break
    return out


def _read_responders(directory: Path) -> list[Responder]:
    try:
        return msgspec.json.decode((directory / RESPONDERS_FILE).read_bytes(), type=list[Responder])
    except (OSError, msgspec.DecodeError):
        return []


def read_status(directory: Path) -> tuple[list[CacheEntry], list[Responder]]:
    """What the server's cache holds, read from disk by another process (``klikdok doctor``); never writes."""
    directory = Path(directory)
    if not directory.is_dir():
        return [], []
    return _read_entries(directory), _read_responders(directory)


def cache_directory(data_dir: Path) -> Path:
    return Path(data_dir) / "revocation-cache"
