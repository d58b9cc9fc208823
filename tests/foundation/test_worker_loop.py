"""The background workers' loop: a wake-up that arrives while a round is running is never lost."""

from __future__ import annotations

import asyncio
import logging

from server.worker_loop import run_rounds

LOG = logging.getLogger("test.worker_loop")
# Far longer than any test waits: a round that runs at all before this passes was woken, not polled.
POLL_SECONDS = 300.0


async def test_a_commit_during_an_empty_round_is_picked_up_at_once() -> None:
    """The round looks, finds nothing, and before it returns a commit lands and wakes the worker. The loop must
    run again now, not after ``poll_seconds``: the commit's message would otherwise wait minutes."""
    wake, stop = asyncio.Event(), asyncio.Event()
    second_round = asyncio.Event()
    calls = 0

    async def round_() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            wake.set()  # the commit lands after this round looked
            return 0
        second_round.set()
        stop.set()
        return 0

    loop = asyncio.create_task(run_rounds(round_, wake=wake, stop=stop, poll_seconds=POLL_SECONDS, log=LOG, what="t"))
    try:
        await asyncio.wait_for(second_round.wait(), timeout=10)
    finally:
        stop.set()
        wake.set()
        await asyncio.wait_for(loop, timeout=10)
    assert calls == 2


async def test_an_idle_worker_sleeps_until_woken_and_stops_between_rounds() -> None:
    wake, stop = asyncio.Event(), asyncio.Event()
    rounds: list[int] = []

    async def round_() -> int:
        rounds.append(len(rounds))
        return 0

    loop = asyncio.create_task(run_rounds(round_, wake=wake, stop=stop, poll_seconds=POLL_SECONDS, log=LOG, what="t"))
    for _ in range(20):  # let it settle into its sleep
        await asyncio.sleep(0)
    assert rounds == [0]
    wake.set()
    for _ in range(20):
        await asyncio.sleep(0)
    assert rounds == [0, 1]
    stop.set()
    await asyncio.wait_for(loop, timeout=10)
    assert rounds == [0, 1]
