"""Client-side leaky bucket matching the portal's own limiter.

Bitrix counts requests in a bucket of `burst` that drains at `rate` per second and answers 503
QUERY_LIMIT_EXCEEDED when it overflows. Pacing ourselves the same way turns bursts (an outbox flush, a page
loading twenty deals) into a queue instead of a storm of 503s and retries.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable


class LeakyBucket:
    """An asyncio leaky bucket sized like the portal's.

    The portal adds a request to its bucket when the request *arrives*, which we never observe: a burst of
    fifty requests may reach it over a few hundred milliseconds while our clock says they are long gone and
    already draining. To never overflow the portal we count conservatively: a request in flight holds a full
    slot, and only once its answer is back is it put into the draining level (as if it had arrived at that
    moment, which is the latest it can have). `headroom` slots are kept free on top of that.

    Use `async with bucket.slot(): ...` around each request.
    """

    def __init__(self, rate: float, burst: int, *, headroom: int = 1,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(burst - headroom))
        self._clock = clock
        self._level = 0.0
        self._in_flight = 0
        self._updated = clock()
        self._changed = asyncio.Condition()

    def _drain(self) -> None:
        now = self._clock()
        self._level = max(0.0, self._level - (now - self._updated) * self.rate)
        self._updated = now

    @property
    def level(self) -> float:
        """Slots in use: draining requests plus requests in flight."""
        self._drain()
        return self._level + self._in_flight

    async def acquire(self) -> None:
        async with self._changed:
            while True:
                self._drain()
                excess = self._level + self._in_flight + 1.0 - self.capacity
                if excess <= 0:
                    self._in_flight += 1
                    return
                # Drain frees a slot in excess/rate seconds at the latest (if nothing is in flight); an answer
                # coming back may free one sooner, and wakes us through the condition.
                wait = max(excess / self.rate, 0.001) if self._level >= excess else None
                try:
                    await asyncio.wait_for(self._changed.wait(), timeout=wait)
                except TimeoutError:
                    pass

    async def release(self) -> None:
        async with self._changed:
            self._drain()
            self._in_flight = max(0, self._in_flight - 1)
            self._level += 1.0
            self._changed.notify_all()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        await self.acquire()
        try:
            yield
        finally:
            await self.release()

    def saturate(self) -> None:
        """The portal said 503: assume its bucket is full and pace from there."""
        self._drain()
        self._level = max(self._level, self.capacity)
