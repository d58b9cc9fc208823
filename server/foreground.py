"""Signers first: the background deliveries step aside for a moment while signatures are streaming in.

A signer who presses «Подписать» on a hundred documents watches the agent's progress; the letters to the
counterparties, the Disk copies of the signatures, the CRM field and the portal notifications those signatures
cause can follow a few seconds later without anyone noticing. On a small server the two compete for the same
cores (and for the one Python thread that runs the event loop), so each delivery worker waits, before a round,
while the foreground has been active within the last ``QUIET_SECONDS``, but never longer than
``STEP_ASIDE_MAX_SECONDS`` in a row: a batch that runs for minutes still lets a round through every few seconds,
and nothing is dropped or reordered, only delivered a little later.

"Active" is what an agent does for a signer: fetching a job's file and handing in a result. A CryptoARM
transaction left open while a person looks for their token is not activity, so it holds nothing back.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

QUIET_SECONDS = 0.3
STEP_ASIDE_MAX_SECONDS = 5.0
_CHECK_SECONDS = 0.05


class Foreground:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._last = float("-inf")

    def touch(self) -> None:
        """The foreground did something just now (an agent fetched a file, a result came in)."""
        self._last = self._clock()

    def active(self) -> bool:
        return self._clock() - self._last < QUIET_SECONDS

    async def step_aside(self, stop: asyncio.Event) -> float:
        """Wait while the foreground is active, at most ``STEP_ASIDE_MAX_SECONDS``; the seconds waited."""
        started = self._clock()
        while self.active() and not stop.is_set() and self._clock() - started < STEP_ASIDE_MAX_SECONDS:
            await asyncio.sleep(_CHECK_SECONDS)
        return self._clock() - started
