"""Where validation's network material comes from: CRLs, issuer certificates (AIA caIssuers) and OCSP answers.

``cades`` decides what to ask for; a :class:`Fetcher` decides how (and whether) to go out. The validator never
opens a socket itself, so an offline verification is a context without a fetcher, tests put a loopback server
behind the real :class:`HttpFetcher`, and the server wraps it in its on-disk cache. Everything a fetcher returns
is untrusted bytes: the caller parses and checks signatures.

A fetcher never raises for network trouble: it answers None, and the verdict becomes ``indeterminate``.

Where an answer came from is part of the report (:class:`cades.result.RevocationSource` ``origin``). A plain
fetcher always goes out, so its answers are ``network``; a caching wrapper (the server's disk cache) overrides
:meth:`Fetcher.get_with_origin` and :meth:`Fetcher.post_ocsp_with_origin` to say ``cache`` for an answer it served
from its store. Validation calls only those two through :func:`fetch_with_origin` / :func:`post_ocsp_with_origin`,
so a wrapper that implements just ``get``/``post_ocsp`` still works and reports ``network``.
"""

from __future__ import annotations

import abc
import threading
import time
import urllib.parse
from dataclasses import dataclass, field
from typing import Any, Final, Literal

from .exclusive import released
from .tls import default_context

__all__ = ["FetchLimits", "Fetcher", "HttpFetcher", "Kind", "Origin", "fetch_with_origin", "post_ocsp_with_origin"]

Kind = Literal["crl", "certificate", "ocsp"]
Origin = Literal["network", "cache"]

OCSP_REQUEST_TYPE: Final = "application/ocsp-request"


@dataclass(frozen=True)
class FetchLimits:
    """Bounds for one fetch and the back-off after failures, per host.

    A CA's site that is down must not cost every verification a full timeout: after ``backoff_after`` failures
    in a row the host is skipped for ``backoff_seconds`` (doubling up to ``backoff_max_seconds``).
    """

    timeout: float = 5.0
    max_bytes: dict[str, int] = field(
        default_factory=lambda: {"crl": 64 * 1024 * 1024, "certificate": 256 * 1024, "ocsp": 256 * 1024}
    )
    backoff_after: int = 1
    backoff_seconds: float = 30.0
    backoff_max_seconds: float = 900.0


class Fetcher(abc.ABC):
    """Network access for validation. Implementations return the body of a 200 answer, or None.

    ``stores_ocsp_answers``: True for a fetcher that may answer an OCSP POST from its store (the server's cache).
    Validation then sends requests without a nonce (the same certificate gives the same request bytes, a usable
    cache key), and a stored answer's freshness rests on its thisUpdate/nextUpdate alone.
    """

    stores_ocsp_answers: bool = False

    @abc.abstractmethod
    def get(self, url: str, *, kind: Kind) -> bytes | None:
        """GET ``url`` (a CRL or a certificate by its AIA caIssuers address)."""

    @abc.abstractmethod
    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        """POST a DER OCSPRequest to the responder at ``url`` (RFC 6960, appendix A.1)."""

    def get_with_origin(self, url: str, *, kind: Kind) -> tuple[bytes | None, Origin]:
        """Like :meth:`get`, and whether the body came from the network or from a cache of this fetcher.

        A caching wrapper overrides this (answering ``cache`` for a stored body); the default goes out.
        """
        return self.get(url, kind=kind), "network"

    def post_ocsp_with_origin(self, url: str, request: bytes) -> tuple[bytes | None, Origin]:
        """Like :meth:`post_ocsp`, with the origin of the answer (see :meth:`get_with_origin`)."""
        return self.post_ocsp(url, request), "network"


def fetch_with_origin(fetcher: Fetcher, url: str, *, kind: Kind) -> tuple[bytes | None, Origin]:
    """GET through ``fetcher``; a misbehaving implementation counts as "not available", never as an error."""
    try:
        with released():  # the network: other verifications go on meanwhile
            body, origin = fetcher.get_with_origin(url, kind=kind)
    except Exception:
        return None, "network"
    return (body if isinstance(body, bytes) else None), ("cache" if origin == "cache" else "network")


def post_ocsp_with_origin(fetcher: Fetcher, url: str, request: bytes) -> tuple[bytes | None, Origin]:
    """POST an OCSP request through ``fetcher`` (see :func:`fetch_with_origin`)."""
    try:
        with released():
            body, origin = fetcher.post_ocsp_with_origin(url, request)
    except Exception:
        return None, "network"
    return (body if isinstance(body, bytes) else None), ("cache" if origin == "cache" else "network")


class _HostState:
    __slots__ = ("failures", "until")

    def __init__(self) -> None:
        self.failures = 0
        self.until = 0.0


class HttpFetcher(Fetcher):
    """Plain HTTP(S) with httpx: a timeout, a size bound per kind, and per-host back-off. No caching here."""

    def __init__(self, limits: FetchLimits | None = None, *, client: Any = None) -> None:
        import httpx  # local: `klikdok-verify` without network options starts without loading httpx

        self.limits = limits or FetchLimits()
        self._client = client or httpx.Client(
            timeout=self.limits.timeout, follow_redirects=True, trust_env=False, verify=default_context()
        )
        self._owns_client = client is None
        self._hosts: dict[str, _HostState] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> HttpFetcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        return self._request("GET", url, kind, None, None)

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        return self._request("POST", url, "ocsp", request, OCSP_REQUEST_TYPE)

    def backing_off(self, url: str) -> bool:
        """True while ``url``'s host is skipped after failures (doctor shows it)."""
        host = _host(url)
        with self._lock:
            state = self._hosts.get(host)
            return state is not None and state.until > time.monotonic()

    def _request(self, method: str, url: str, kind: Kind, body: bytes | None, content_type: str | None) -> bytes | None:
        host = _host(url)
        if not host or not url.lower().startswith(("http://", "https://")):
            return None  # ldap:// and file:// distribution points are not followed
        if self.backing_off(url):
            return None
        limit = self.limits.max_bytes.get(kind, 1024 * 1024)
        headers = {"Content-Type": content_type} if content_type else {}
        try:
            with self._client.stream(method, url, content=body, headers=headers) as response:
                if response.status_code != 200:
                    # A 404 for one path says nothing about the host's other paths (its CRL next to a missing
                    # OCSP path): only a host that does not answer, or answers 5xx, is backed off.
                    if response.status_code >= 500:
                        self._failed(host)
                    return None
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > limit:
                        self._failed(host)
                        return None
                    chunks.append(chunk)
        except Exception:  # any transport trouble is "not available", never an exception to the validator
            self._failed(host)
            return None
        with self._lock:
            self._hosts.pop(host, None)
        return b"".join(chunks)

    def _failed(self, host: str) -> None:
        limits = self.limits
        with self._lock:
            state = self._hosts.setdefault(host, _HostState())
            state.failures += 1
            if state.failures >= limits.backoff_after:
                pause = min(
                    limits.backoff_max_seconds, limits.backoff_seconds * 2 ** (state.failures - limits.backoff_after)
                )
                state.until = time.monotonic() + pause


def _host(url: str) -> str:
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        return ""
    return f"{parsed.hostname or ''}:{parsed.port or ''}"
