"""The workflow's clock: documents whose counterparty deadline has passed become ``expired``.

It changes when how often deadlines are checked, or what expiring means beyond the state change, changes. The
transition itself (and its ``expire`` listeners) is :func:`.states.expire_due`'s; this service runs it in
rounds through :func:`server.worker_loop.run_rounds` and wakes the workers once a round has committed.
"""

from __future__ import annotations

import asyncio
import logging

from server.db import Database
from server.worker_loop import run_rounds

from . import states
from .listeners import TransitionListeners

log = logging.getLogger(__name__)

ROUND_SECONDS = 60.0


class Expiry:
    def __init__(self, db: Database, *, listeners: TransitionListeners) -> None:
        self.db = db
        self.listeners = listeners
        self._wake = asyncio.Event()  # nothing wakes it: deadlines pass with time, not with commits

    async def expire_once(self) -> int:
        """Expire every document due now; how many did."""
        expired = await self.db.write(lambda d: states.expire_due(d, listeners=self.listeners))
        if expired:
            self.listeners.committed()
        return len(expired)

    async def run(self, stop: asyncio.Event, every: float = ROUND_SECONDS) -> None:
        await run_rounds(self.expire_once, wake=self._wake, stop=stop, poll_seconds=every, log=log, what="expiry")
