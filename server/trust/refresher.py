"""The background refresher: cached CRLs are refetched before their nextUpdate, so a revocation published after
the server started is seen by the next verification without waiting for the cached CRL to run out.

Each round (every ``[trust] refresh_poll_seconds``) refetches the CRLs that are due (:meth:`CachingFetcher.refresh_at`:
at 80% of their validity, within ``crl_cache_hours``). ``klikdok trust refresh`` moves a counter in the database;
the next round sees it and refetches every cached CRL at once, whatever their dates say.
"""

from __future__ import annotations

import asyncio
import logging

from server.db import Database
from server.worker_loop import run_rounds

from . import store
from .revocation_cache import CachingFetcher

log = logging.getLogger(__name__)

__all__ = ["RevocationRefresher"]


class RevocationRefresher:
    def __init__(self, db: Database, cache: CachingFetcher, *, poll_seconds: float) -> None:
        self.db = db
        self.cache = cache
        self.poll_seconds = poll_seconds
        self.wake = asyncio.Event()
        self._seen_request: int | None = None

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds(
            self.round, wake=self.wake, stop=stop, poll_seconds=self.poll_seconds, log=log, what="CRL refresh"
        )

    async def round(self) -> int:
        """One pass. Returns 0 even when it fetched: what it fetched is not due again until much later, and the
        loop must not spin on a CA that keeps publishing the same CRL."""
        requested = await self.db.read(store.refresh_requested)
        force = self._seen_request is not None and requested != self._seen_request
        self._seen_request = requested
        fetched = await asyncio.to_thread(self.cache.refresh, force=force)
        if fetched or force:
            log.info("CRLs refreshed", extra={"fetched": fetched, "forced": force})
        return 0
