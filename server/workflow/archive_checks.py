"""«Проверка архива» on the auditor's page: every signature of an uploaded ZIP checked on the server, with progress.

The same engine as ``klikdok verify --archive`` (:mod:`cades.archive`: the signatures matched to their documents by
name, the documents streamed from the ZIP), with the server's own trust: the accredited CAs, the admin's roots and
the revocation cache the workflow uses. It runs on threads, not processes: the server must not fork (its database,
its event loop, the cache's connections), and the hashing that dominates on real documents runs in OpenSSL without
the GIL, so the threads still use the cores for it.

Nothing is lost on a restart: the check and each verdict are rows (:mod:`.archive_check_store`), written in small
batches as they come; a check that was running when the server stopped continues with the signatures that have no
row yet. One check runs at a time, the others wait their turn (``queued``); the ZIP is removed once its check ends.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cades.archive import ArchiveError, Item, Outcome, Reader, pair, verify_archive
from server import crashpoints
from server.config import Settings
from server.db import Database, audit

from . import archive_check_store as store
from .permissions import Viewer
from .signatures import ValidationProvider
from .states import TransitionRefused

log = logging.getLogger(__name__)

FOLDER = "archive-checks"
FLUSH_SECONDS = 0.5
PAGE = 500


@dataclass(frozen=True)
class Progress:
    check: store.ArchiveCheck
    counts: dict[str, int]
    checked: int
    items: list[store.CheckedItem]
    next: int

    def as_json(self) -> dict[str, Any]:
        c = self.check
        rate = self.checked / c.seconds if c.seconds > 0 else 0.0
        left = (c.total - self.checked) / rate if rate > 0 and c.state == "running" else None
        return {
            "id": c.id,
            "file_name": c.file_name,
            "size": c.size,
            "state": c.state,
            "total": c.total,
            "checked": self.checked,
            "counts": self.counts,
            "unsigned": c.unsigned,
            "error": c.error,
            "seconds": round(c.seconds, 1),
            "rate": round(rate, 1),
            "eta_seconds": None if left is None else round(left),
            "created_at": c.created_at,
            "finished_at": c.finished_at,
            "items": [
                {"signature": i.signature, "document": i.document, "verdict": i.verdict, "headline": i.headline}
                for i in self.items
            ],
            "next": self.next,
        }


class ArchiveChecks:
    def __init__(self, settings: Settings, db: Database, *, validation: ValidationProvider, data_dir: Path) -> None:
        self.settings = settings
        self.db = db
        self.validation = validation
        self.folder = data_dir / FOLDER
        self._wake = asyncio.Event()
        self.workers = os.cpu_count() or 1

    def path_of(self, check_id: int) -> Path:
        return self.folder / f"{check_id}.zip"

    async def submit(self, viewer: Viewer, upload: Path, file_name: str, size: int) -> int:
        """Take an uploaded ZIP (moved out of the request's spool) and queue its check."""
        viewer.require_auditor()
        if not await asyncio.to_thread(zipfile.is_zipfile, upload):
            raise TransitionRefused("not_a_zip", "Это не ZIP-архив. Загрузите архив .zip с документами и подписями.")
        check_id = await self.db.write(lambda d: store.create(d, viewer.user_id, file_name[:200], size))
        await asyncio.to_thread(self.folder.mkdir, parents=True, exist_ok=True, mode=0o700)
        await asyncio.to_thread(os.replace, upload, self.path_of(check_id))
        await self.db.write(
            lambda d: audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="archive_check.started",
                object_type="archive_check",
                object_id=str(check_id),
                details={"file_name": file_name[:200], "size": size},
            )
        )
        self._wake.set()
        return check_id

    async def progress(self, viewer: Viewer, check_id: int, after: int = 0) -> Progress:
        viewer.require_auditor()

        def read(d: Any) -> Progress | None:
            check = store.get(d, check_id)
            if check is None or check.user_id != viewer.user_id:
                return None
            counts = store.counts(d, check_id)
            items = store.items_after(d, check_id, max(0, after), PAGE)
            return Progress(check, counts, sum(counts.values()), items, max(0, after) + len(items))

        found = await self.db.read(read)
        if found is None:
            raise TransitionRefused("not_found", "Такой проверки архива нет.")
        return found

    async def recent(self, viewer: Viewer) -> list[store.ArchiveCheck]:
        viewer.require_auditor()
        return await self.db.read(lambda d: store.recent(d, viewer.user_id))

    # ---- the worker ----------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            check = await self.db.read(store.next_open)
            if check is None:
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, return_when=asyncio.FIRST_COMPLETED)
                waiter.cancel()
                stopper.cancel()
                continue
            try:
                await self._work(check, stop)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not leave the check «running» forever: it ends, said so
                log.exception("archive check failed", extra={"archive_check_id": check.id})
                await self._finish(check, error=f"Проверка прервалась из-за ошибки сервера ({type(exc).__name__}).")

    async def _work(self, check: store.ArchiveCheck, stop: asyncio.Event) -> None:
        path = self.path_of(check.id)
        try:
            reader = Reader(path)
            items, unsigned = pair(await asyncio.to_thread(reader.names))
        except ArchiveError as exc:
            await self._finish(check, error=str(exc).replace(str(path), check.file_name))
            return
        await self.db.write(lambda d: store.start(d, check.id, len(items), unsigned))
        done = await self.db.read(lambda d: store.done_positions(d, check.id))
        position = {item: n for n, item in enumerate(items)}
        todo = [item for n, item in enumerate(items) if n not in done]
        batch: list[store.CheckedItem] = []
        lock = threading.Lock()

        def on_outcome(outcome: Outcome) -> None:
            checked = _checked(position[outcome.item], outcome)
            with lock:
                batch.append(checked)

        async def flush(since: float) -> float:
            with lock:
                taken = batch[:]
                batch.clear()
            now = time.monotonic()
            if taken:
                await self.db.write(lambda d: store.add_items(d, check.id, taken, now - since))
                crashpoints.reached("archive_check.flushed")
            return now

        context = self.validation.current()
        worker = asyncio.ensure_future(
            asyncio.to_thread(
                verify_archive,
                path,
                context,
                items=todo,
                workers=self.workers,
                threads=True,
                on_outcome=on_outcome,
                stop=stop.is_set,
            )
        )
        since = time.monotonic()
        while not worker.done():
            await asyncio.wait({worker}, timeout=FLUSH_SECONDS)
            since = await flush(since)
        worker.result()
        await flush(since)
        if stop.is_set():
            return  # the server is stopping: the check stays «running» and goes on after the restart
        await self._finish(check)

    async def _finish(self, check: store.ArchiveCheck, *, error: str = "") -> None:
        def finish(d: Any) -> None:
            store.finish(d, check.id, error=error)
            audit.append(
                d,
                actor=f"user:{check.user_id}",
                action="archive_check.finished",
                object_type="archive_check",
                object_id=str(check.id),
                details={"counts": store.counts(d, check.id), **({"error": error} if error else {})},
            )

        await self.db.write(finish)
        await asyncio.to_thread(self.path_of(check.id).unlink, missing_ok=True)


def _checked(position: int, outcome: Outcome) -> store.CheckedItem:
    item: Item = outcome.item
    return store.CheckedItem(position, item.signature, item.document, outcome.verdict, outcome.headline())
