"""Client-side leaky bucket matching the portal's own limiter.

Bitrix counts requests in a bucket of `burst` that drains at `rate` per second and answers 503
QUERY_LIMIT_EXCEEDED when it overflows. Pacing ourselves the same way turns bursts (an outbox flush, a page
loading twenty deals) into a queue instead of a storm of 503s and retries.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable


class LeakyBucket:
    """An asyncio leaky bucket; `acquire()` waits until one more request fits.

    The portal measures at arrival, which lags our clock by the network delay; when the bucket runs full,
    a request we let through at the very edge could arrive a few milliseconds "early" from the portal's view
    and overflow it. We therefore keep `headroom` slots free (one by default), which costs nothing in
    throughput once the bucket is at steady state.
    """

    def __init__(self, rate: float, burst: int, *, headroom: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(burst - headroom))
        self._clock = clock
        self._level = 0.0
        self._updated = clock()
        self._lock = asyncio.Lock()

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now

    @property
    def level(self) -> float:
        self._drain()
        return self._level

    async def acquire(self) -> None:
        # The lock makes waiters queue in FIFO order, so one unlucky caller cannot starve behind later ones.
        async with self._lock:
            while True:
                self._drain()
                if self._level + 1.0 <= self.capacity:
                    self._level += 1.0
                    return
                await asyncio.sleep((self._level + 1.0 - self.capacity) / self.rate)

    def saturate(self) -> None:
        """The portal said 503: assume its bucket is full and pace from there."""
        self._drain()
        self._level = max(self._level, self.capacity)
