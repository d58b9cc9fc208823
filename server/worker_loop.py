"""The loop every background delivery worker runs: work while there is work, then sleep until woken.

Workers (portal notifications, e-mail) are woken right after a commit that gave them something to do and
otherwise poll, so nothing waits for long and an idle server stays quiet. One bad round is logged and the
loop goes on; ``stop`` ends it between rounds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from server.foreground import Foreground


async def run_rounds(
    round_: Callable[[], Awaitable[int]],
    *,
    wake: asyncio.Event,
    stop: asyncio.Event,
    poll_seconds: float,
    log: logging.Logger,
    what: str,
    foreground: Foreground | None = None,
) -> None:
    """Call ``round_`` (returns how many items it handled) until ``stop`` is set.

    The wake flag is cleared before a round looks for work, never after: a commit that lands while the round
    runs sets it again, and the loop goes straight into the next round instead of sleeping through the poll.
    Given ``foreground``, each round first waits while signers' agents are busy (:mod:`server.foreground`).
    """
    while not stop.is_set():
        if foreground is not None:
            await foreground.step_aside(stop)
        wake.clear()
        try:
            busy = await round_()
        except Exception:  # the worker must outlive any one bad round
            log.exception("%s round failed", what)
            busy = 0
        if busy:
            continue
        waiter = asyncio.ensure_future(wake.wait())
        stopper = asyncio.ensure_future(stop.wait())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(poll_seconds):
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
        waiter.cancel()
        stopper.cancel()
