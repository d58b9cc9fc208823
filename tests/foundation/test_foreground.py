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


class Worker:
    """A delivery loop under ``fg`` whose rounds note when they ran; ``busy_rounds`` of them find work."""

    def __init__(self, fg: Foreground, busy_rounds: int = 0) -> None:
        self.rounds: list[float] = []
        self.wake, self.stop = asyncio.Event(), asyncio.Event()
        self.busy_rounds = busy_rounds
        self.loop = asyncio.create_task(
            run_rounds(
                self._round, wake=self.wake, stop=self.stop, poll_seconds=POLL_SECONDS, log=LOG, what="t", foreground=fg
            )
        )

    async def _round(self) -> int:
        self.rounds.append(time.monotonic())
        return 1 if len(self.rounds) < self.busy_rounds else 0

    async def wait_rounds(self, n: int, seconds: float) -> None:
        for _ in range(int(seconds / 0.05)):
            if len(self.rounds) >= n:
                return
            await asyncio.sleep(0.05)

    async def close(self) -> None:
        self.stop.set()
        self.wake.set()
        await asyncio.wait_for(self.loop, timeout=10)


async def test_a_round_waits_while_the_foreground_is_busy_and_runs_once_it_is_quiet(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(foreground, "QUIET_SECONDS", 0.2)
    monkeypatch.setattr(foreground, "STEP_ASIDE_MAX_SECONDS", 30.0)
    fg = Foreground()
    fg.touch()
    busy = asyncio.create_task(_keep_touching(fg, 1.0))
    started = time.monotonic()
    worker = Worker(fg)
    await busy
    assert worker.rounds == []  # a second of signatures streaming in: the delivery waited
    await worker.wait_rounds(1, 5.0)
    assert worker.rounds and worker.rounds[0] - started >= 1.0  # then went on by itself, without a wake-up
    await worker.close()


async def test_a_busy_foreground_delays_a_round_for_a_bounded_time(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(foreground, "QUIET_SECONDS", 0.2)
    monkeypatch.setattr(foreground, "STEP_ASIDE_MAX_SECONDS", 0.5)
    fg = Foreground()
    busy = asyncio.create_task(_keep_touching(fg, 30.0))
    started = time.monotonic()
    worker = Worker(fg, busy_rounds=3)
    try:
        await worker.wait_rounds(3, 10.0)
        # A batch that never pauses still lets a round through every STEP_ASIDE_MAX_SECONDS.
        assert len(worker.rounds) == 3, worker.rounds
        gaps = [b - a for a, b in zip([started, *worker.rounds], worker.rounds, strict=False)]
        assert all(gap >= 0.5 for gap in gaps), gaps
    finally:
        busy.cancel()
        await worker.close()


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
