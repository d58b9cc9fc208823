"""Rate limits for the public (counterparty) endpoints, in memory.

Three windows, all sliding over the last N seconds:
- per client IP, every public request (``[limits] public_requests_per_minute``);
- per link, every request carrying that token from anywhere (``public_requests_per_link_per_minute``), so a
  leaked link cannot be hammered from many addresses;
- per client IP, requests whose token is unknown or malformed (``public_bad_links_per_hour``): guessing
  a 256-bit token is hopeless anyway, this makes trying expensive and visible.
In memory is enough: there is one server process, and a restart forgetting the counters is harmless.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key; memory bounded by ``max_keys``."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 100_000) -> None:
        self.limit = limit
        self.window = window
        self.clock = clock
        self.max_keys = max_keys
        self._events: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def _prune(self, key: str, now: float) -> deque[float]:
        q = self._events.get(key)
        if q is None:
            if len(self._events) >= self.max_keys:
                self._drop_stale(now)
            q = self._events[key] = deque()
        while q and q[0] <= now - self.window:
            q.popleft()
        return q

    def _drop_stale(self, now: float) -> None:
        for k in [k for k, q in self._events.items() if not q or q[-1] <= now - self.window]:
            del self._events[k]
        if len(self._events) >= self.max_keys:  # still full: forget the oldest half rather than grow
            for k in list(self._events)[: self.max_keys // 2]:
                del self._events[k]

    def hit(self, key: str) -> float | None:
        """Count one event; None if allowed, else the seconds until the next one would be."""
        with self._lock:
            now = self.clock()
            q = self._prune(key, now)
            if len(q) >= self.limit:
                return max(0.0, q[0] + self.window - now)
            q.append(now)
            return None

    def blocked(self, key: str) -> float | None:
        """Whether ``key`` is at its limit now, without counting an event."""
        with self._lock:
            now = self.clock()
            q = self._prune(key, now)
            return max(0.0, q[0] + self.window - now) if len(q) >= self.limit else None


class PublicLimiter:
    def __init__(self, *, per_ip_per_minute: int, per_link_per_minute: int, bad_links_per_hour: int,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_ip = SlidingWindow(per_ip_per_minute, 60.0, clock=clock)
        self.per_link = SlidingWindow(per_link_per_minute, 60.0, clock=clock)
        self.bad_links = SlidingWindow(bad_links_per_hour, 3600.0, clock=clock)

    def admit(self, ip: str, token_key: str) -> float | None:
        """Before a request is served: the seconds to wait, or None."""
        wait = self.bad_links.blocked(ip)
        if wait is not None:
            return wait
        wait = self.per_ip.hit(ip)
        if wait is not None:
            return wait
        return self.per_link.hit(token_key)

    def bad_link(self, ip: str) -> None:
        """A request's token matched no link (or was malformed)."""
        self.bad_links.hit(ip)


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """The client's address: the peer, or, behind a trusted proxy, the last address that proxy appended.

    Only the last entry is believed: anything before it came from the client and may be forged.
    """
    if forwarded_for and peer in set(trusted_proxies):
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer
