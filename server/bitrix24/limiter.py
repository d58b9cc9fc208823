"""Client-side leaky bucket matching the portal's own limiter.

Bitrix counts requests in a bucket of `burst` that drains at `rate` per second and answers 503
QUERY_LIMIT_EXCEEDED when it overflows. Pacing ourselves the same way turns bursts (an outbox flush, a page
loading twenty deals) into a queue instead of a storm of 503s and retries.

Two lanes share the one budget. Bulk work (Disk copies of documents and signatures) runs inside `bulk_lane()`:
it may fill the bucket only up to `capacity - reserve` and never takes a slot while an ordinary request
(notifications, pages, signing) is waiting, so a thousand uploads queued ahead never delay a notification by
more than the request already in flight. Together the lanes still never exceed the portal's own bucket.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import time
from collections.abc import AsyncIterator, Callable, Iterator

_BULK: contextvars.ContextVar[bool] = contextvars.ContextVar("klikdok_bitrix24_bulk", default=False)


@contextlib.contextmanager
def bulk_lane() -> Iterator[None]:
    """Requests made inside this block (in this task) give way to every other request of the same bucket."""
    token = _BULK.set(True)
    try:
        yield
    finally:
        _BULK.reset(token)


def in_bulk_lane() -> bool:
    return _BULK.get()


class LeakyBucket:
    """An asyncio leaky bucket sized like the portal's.

    The portal adds a request to its bucket when the request *arrives*, which we never observe: a burst of
    fifty requests may reach it over a few hundred milliseconds while our clock says they are long gone and
    already draining. To never overflow the portal we count conservatively: a request in flight holds a full
    slot, and only once its answer is back is it put into the draining level (as if it had arrived at that
    moment, which is the latest it can have). `headroom` slots are kept free on top of that.

    Use `async with bucket.slot(): ...` around each request.
    """

    def __init__(
        self,
        rate: float,
        burst: int,
        *,
        headroom: int = 1,
        reserve: int | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be positive")
        self.rate = float(rate)
        self.capacity = max(1.0, float(burst - headroom))
        # Slots bulk work leaves free for ordinary requests: a fifth of the bucket, at least one (when there is
        # more than one slot at all).
        if reserve is None:
            reserve = max(1, int(self.capacity) // 5)
        self.bulk_capacity = max(1.0, self.capacity - reserve)
        self._clock = clock
        self._level = 0.0
        self._in_flight = 0
        self._urgent_waiting = 0
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

    async def acquire(self, *, bulk: bool | None = None) -> None:
        """Take a slot; `bulk` (default: whether the caller is inside `bulk_lane()`) takes the low-priority lane."""
        if bulk is None:
            bulk = _BULK.get()
        async with self._changed:
            if not bulk:
                self._urgent_waiting += 1
            try:
                while True:
                    self._drain()
                    limit = self.bulk_capacity if bulk else self.capacity
                    excess = self._level + self._in_flight + 1.0 - limit
                    if excess <= 0 and not (bulk and self._urgent_waiting):
                        self._in_flight += 1
                        return
                    # Drain frees a slot in excess/rate seconds at the latest (if nothing is in flight); an
                    # answer coming back, or an ordinary request getting its slot, wakes us sooner.
                    wait = max(excess / self.rate, 0.001) if excess > 0 and self._level >= excess else None
                    if bulk and excess <= 0:
                        wait = None  # only waiting behind an ordinary request: its acquire wakes us
                    try:
                        await asyncio.wait_for(self._changed.wait(), timeout=wait)
                    except TimeoutError:
                        pass
            finally:
                if not bulk:
                    self._urgent_waiting -= 1
                    self._changed.notify_all()

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
