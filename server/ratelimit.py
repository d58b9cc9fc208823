"""At most N events per key within a sliding window of seconds, in memory: the server's one rate-limit idea.

Used for the public counterparty endpoints (:mod:`server.counterparty.limiter`), agent pairing, and, with a
limit of one, for the log filter that lets the server loop's repeated lines out once per interval
(:class:`server.logs.RepeatLimiter`). It changes only if limits must be shared between processes (then it needs
the database or another store); a restart forgetting the counters is harmless while there is one process.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable


class SlidingWindow:
    """At most ``limit`` events per ``window`` seconds for each key; memory bounded by ``max_keys``."""

    def __init__(
        self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
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
