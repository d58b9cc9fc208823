"""Signers first (server.foreground): a background worker's round waits while agents are fetching files and
handing in results, for at most a few seconds in a row, and goes on as soon as they are quiet."""

from __future__ import annotations

import asyncio
import logging
import time

import pytest

from server import foreground
from server.foreground import Foreground
from server.worker_loop import run_rounds

LOG = logging.getLogger("test.foreground")
POLL_SECONDS = 300.0  # far longer than any wait here: a second round runs because it was woken


async def _keep_touching(fg: Foreground, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        fg.touch()
        await asyncio.sleep(0.02)


async def test_a_round_waits_while_the_foreground_is_busy_and_runs_once_it_is_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(foreground, "QUIET_SECONDS", 0.2)
    monkeypatch.setattr(foreground, "STEP_ASIDE_MAX_SECONDS", 30.0)
    fg = Foreground()
    wake, stop = asyncio.Event(), asyncio.Event()
    rounds: list[float] = []

    async def round_() -> int:
        rounds.append(time.monotonic())
        return 0

    fg.touch()
    busy = asyncio.create_task(_keep_touching(fg, 1.0))
    started = time.monotonic()
    loop = asyncio.create_task(
        run_rounds(round_, wake=wake, stop=stop, poll_seconds=POLL_SECONDS, log=LOG, what="t", foreground=fg)
    )
    await busy
    assert rounds == []  # a second of signatures streaming in: the delivery waited
    for _ in range(100):
        if rounds:
            break
        await asyncio.sleep(0.05)
    assert rounds and rounds[0] - started >= 1.0  # then went on by itself, without a wake-up
    stop.set()
    wake.set()
    await asyncio.wait_for(loop, timeout=10)


async def test_a_busy_foreground_delays_a_round_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(foreground, "QUIET_SECONDS", 0.2)
    monkeypatch.setattr(foreground, "STEP_ASIDE_MAX_SECONDS", 0.5)
    fg = Foreground()
    wake, stop = asyncio.Event(), asyncio.Event()
    rounds: list[float] = []

    async def round_() -> int:
        rounds.append(time.monotonic())
        return 1 if len(rounds) < 3 else 0  # work for three rounds

    busy = asyncio.create_task(_keep_touching(fg, 30.0))
    started = time.monotonic()
    loop = asyncio.create_task(
        run_rounds(round_, wake=wake, stop=stop, poll_seconds=POLL_SECONDS, log=LOG, what="t", foreground=fg)
    )
    try:
        for _ in range(200):
            if len(rounds) == 3:
                break
            await asyncio.sleep(0.05)
        # A batch that never pauses still lets a round through every STEP_ASIDE_MAX_SECONDS.
        assert len(rounds) == 3, rounds
        gaps = [b - a for a, b in zip([started, *rounds], rounds, strict=False)]
        assert all(gap >= 0.5 for gap in gaps), gaps
    finally:
        busy.cancel()
        stop.set()
        wake.set()
        await asyncio.wait_for(loop, timeout=10)


async def test_an_idle_foreground_holds_nothing_back_and_stop_ends_a_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(foreground, "STEP_ASIDE_MAX_SECONDS", 300.0)
    fg = Foreground()
    stop = asyncio.Event()
    assert not fg.active()
    assert await fg.step_aside(stop) < 0.05
    fg.touch()
    assert fg.active()
    waiting = asyncio.create_task(_keep_touching(fg, 300.0))
    aside = asyncio.create_task(fg.step_aside(stop))
    await asyncio.sleep(0.2)
    assert not aside.done()
    stop.set()  # the server stopping does not wait for the foreground
    assert await asyncio.wait_for(aside, timeout=5) < 5
    waiting.cancel()
