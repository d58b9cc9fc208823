"""SQLite access with one writer thread and read-only reader connections.

SQLite allows one writer at a time; funnelling every write through one thread that owns the only
read-write connection means no ``database is locked`` surprises under load and a single obvious place
where transactions begin and end. Reads use per-thread ``mode=ro`` connections so a bug in a read path
cannot write. Each write is a callable run inside ``BEGIN IMMEDIATE … COMMIT``: a state change, its audit
row and its outbox messages commit together or not at all.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlite_utils

from . import idempotency

log = logging.getLogger(__name__)

T = TypeVar("T")
WriteFn = Callable[[sqlite_utils.Database], T]

_SHUTDOWN = object()


class DatabaseClosedError(RuntimeError):
    """Raised for calls made after :meth:`Database.close`."""


def read_snapshot(path: Path, read: Callable[[sqlite_utils.Database], T]) -> T | None:
    """``read`` on a read-only connection of its own, for processes that are not the server (the CLI, doctor);
    None before the database exists or is migrated."""
    if not path.exists():
        return None
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return read(sqlite_utils.Database(conn))
    except sqlite3.OperationalError:
        return None  # schema not migrated yet
    finally:
        conn.close()


def inserted_id(cursor: sqlite3.Cursor) -> int:
    """The row id an INSERT just made; sqlite3 types ``lastrowid`` as optional (None before any insert)."""
    if cursor.lastrowid is None:
        raise RuntimeError("the statement inserted no row")
    return cursor.lastrowid


def _marking(fn: WriteFn[T], claim_id: int) -> WriteFn[T]:
    """``fn`` followed, in its transaction, by marking the keyed request's claim as having committed a change."""

    def write(db: sqlite_utils.Database) -> T:
        result = fn(db)
        idempotency.mark_committed(db, claim_id)
        return result

    return write


def _configure(conn: sqlite3.Connection, busy_timeout_ms: int) -> None:
    conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
    conn.execute("PRAGMA foreign_keys = ON")


class Database:
    """The server's SQLite database: a writer thread plus a pool of read-only readers."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 5000, synchronous: str = "full", readers: int = 4) -> None:
        self.path = Path(path)
        self.busy_timeout_ms = busy_timeout_ms
        self.synchronous = synchronous.upper()
        self._queue: queue.Queue[Any] = queue.Queue()
        self._writer: threading.Thread | None = None
        self._closed = False
        self._local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._reader_lock = threading.Lock()
        self._read_pool = concurrent.futures.ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="klikdok-db-read"
        )

    # -- lifecycle -------------------------------------------------------------------------------
    def open(self) -> None:
        """Create the file if needed, switch to WAL and start the writer thread."""
        if self._writer is not None:
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        started: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._writer = threading.Thread(
            target=self._run_writer, args=(started,), name=f"klikdok-db-writer {self.path.name}", daemon=True
        )
        self._writer.start()
        started.result()

    def close(self) -> None:
        """Stop the writer after the queued writes finish; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        if self._writer is not None:
            self._queue.put(_SHUTDOWN)
            self._writer.join(timeout=30)
            if self._writer.is_alive():
                log.warning("database writer did not stop within 30 s")
        self._read_pool.shutdown(wait=True)
        with self._reader_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def __enter__(self) -> Database:
        self.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writes ----------------------------------------------------------------------------------
    def _run_writer(self, started: concurrent.futures.Future[None]) -> None:
        try:
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=True)
            _configure(conn, self.busy_timeout_ms)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if mode.lower() != "wal":
                raise sqlite3.OperationalError(f"cannot switch {self.path} to WAL (got {mode})")
            conn.execute(f"PRAGMA synchronous = {self.synchronous}")
            db = sqlite_utils.Database(conn)
        except BaseException as exc:  # report start-up failures to open()
            started.set_exception(exc)
            return
        started.set_result(None)
        while True:
            item = self._queue.get()
            if item is _SHUTDOWN:
                break
            fn, transaction, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if transaction:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        result = fn(db)
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                else:
                    result = fn(db)
            except BaseException as exc:
                future.set_exception(exc)
            else:
                future.set_result(result)
        conn.close()

    def submit_write(self, fn: WriteFn[T], *, transaction: bool = True) -> concurrent.futures.Future[T]:
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        if self._writer is None:
            self.open()
        claim_id = idempotency.ACTING_FOR.get()
        if claim_id is not None and transaction:
            fn = _marking(fn, claim_id)
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        self._queue.put((fn, transaction, future))
        return future

    def write_sync(self, fn: WriteFn[T], *, transaction: bool = True) -> T:
        """Run ``fn(db)`` in the writer thread and wait (for the CLI and start-up code)."""
        return self.submit_write(fn, transaction=transaction).result()

    async def write(self, fn: WriteFn[T], *, transaction: bool = True) -> T:
        """Run ``fn(db)`` in the writer thread inside one transaction."""
        return await asyncio.wrap_future(self.submit_write(fn, transaction=transaction))

    # -- reads -----------------------------------------------------------------------------------
    def _reader(self) -> sqlite_utils.Database:
        db = getattr(self._local, "db", None)
        if db is None:
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            _configure(conn, self.busy_timeout_ms)
            conn.execute("PRAGMA query_only = 1")
            with self._reader_lock:
                self._reader_conns.append(conn)
            db = self._local.db = sqlite_utils.Database(conn)
        return db

    def read_sync(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        return fn(self._reader())

    async def read(self, fn: Callable[[sqlite_utils.Database], T]) -> T:
        """Run ``fn(db)`` on a read-only connection in the reader pool."""
        if self._closed:
            raise DatabaseClosedError("the database is closed")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._read_pool, lambda: fn(self._reader()))

    # -- maintenance -----------------------------------------------------------------------------
    def backup(self, dest: Path) -> None:
        """Online backup with SQLite's backup API: a consistent snapshot while writes go on."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(dest.name + ".partial")
        tmp.unlink(missing_ok=True)
        src = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            _configure(src, self.busy_timeout_ms)
            out = sqlite3.connect(tmp)
            try:
                src.backup(out, pages=0)
                out.execute("PRAGMA journal_mode = DELETE")
                ok = out.execute("PRAGMA integrity_check").fetchone()[0]
                if ok != "ok":
                    raise sqlite3.DatabaseError(f"backup integrity check failed: {ok}")
            finally:
                out.close()
        finally:
            src.close()
        tmp.replace(dest)
