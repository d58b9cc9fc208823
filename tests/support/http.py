"""One plain-HTTP client per test process for the module-level calls (``httpx.get``, ``httpx.post``...).

``httpx.get`` builds a new ``Client`` per call, and with it an SSL context loaded with the CA bundle: about 30 ms
of CPU for a request that goes to a loopback server over plain HTTP. The suites make thousands of such calls
(health polls at every server start, the API helpers), so :func:`share_one_client` points the module-level
functions at one client made once. Keep-alive stays off: tests kill and restart servers on the same port, and a
pooled connection to a dead server must never be what a test's next request gets. Cookies are never kept
either: a module-level call starts with none, and one test's session cookie must not ride along in another's.
"""

from __future__ import annotations

import threading
from http.cookiejar import CookieJar, DefaultCookiePolicy
from typing import Any

import httpx

_lock = threading.Lock()
_client: httpx.Client | None = None

# What only the module-level functions take (a client fixes them at creation): such calls keep httpx's own way.
_CLIENT_OPTIONS = frozenset({"verify", "cert", "trust_env", "proxy", "proxies", "transport", "app", "cookies"})


def client() -> httpx.Client:
    global _client
    with _lock:
        if _client is None:
            no_cookies = CookieJar(DefaultCookiePolicy(allowed_domains=[]))
            _client = httpx.Client(
                limits=httpx.Limits(max_keepalive_connections=0), trust_env=False, cookies=no_cookies
            )
        return _client


def request(method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
    return client().request(method, url, **kwargs)


def share_one_client() -> None:
    """Route ``httpx.request``/``get``/``post``/... of this process through :func:`client` (idempotent)."""
    if getattr(httpx.request, "_shared", False):
        return
    original = httpx.request

    def shared_request(method: str, url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
        if _CLIENT_OPTIONS & kwargs.keys():
            return original(method, url, **kwargs)
        return request(method, url, **kwargs)

    def verb(name: str) -> Any:
        def call(url: str | httpx.URL, **kwargs: Any) -> httpx.Response:
            return shared_request(name, url, **kwargs)

        return call

    shared_request._shared = True  # type: ignore[attr-defined]  # marks the patch as applied
    httpx.request = shared_request  # type: ignore[assignment]  # the module-level API, same signature
    for name in ("get", "post", "put", "patch", "delete", "head", "options"):
        setattr(httpx, name, verb(name.upper()))
