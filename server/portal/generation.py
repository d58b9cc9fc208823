"""Which install page sessions belong to, known on every API call without asking the database.

A page session is good only while the portal it was issued for is still installed in the same generation
(see ``store.save_install`` and ``store.disable``). Reading the portal row on every API call would put a
database round trip in front of each request, so the server keeps the active portal in memory and re-reads
it only when something says it changed:

- this process's own install or uninstall calls :meth:`InstallGeneration.changed`;
- any other process (``klikdok portal disable``) rewrites a marker file next to the database after its commit
  (:func:`announce`); every check compares the marker's ``stat`` with the one behind the cached row, which
  costs one system call and no I/O.
"""

from __future__ import annotations

import logging
import os
import threading
from pathlib import Path

from server.db import Database
from server.portal import store
from server.portal.store import Portal

log = logging.getLogger(__name__)

MARKER = "portal.generation"

_Stamp = tuple[int, int, int, int] | None


def marker_path(data_dir: Path) -> Path:
    return Path(data_dir) / MARKER


def announce(data_dir: Path, generation: int | None = None) -> None:
    """Tell a running server the portal row changed: replace the marker (a new inode every time)."""
    path = marker_path(data_dir)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(f"{generation if generation is not None else ''}\n")
        tmp.replace(path)
    except OSError as exc:
        # The database is the truth; without the marker a running server notices at its next restart.
        log.warning("cannot update %s: %s", path, exc.strerror)


def _stamp(path: Path) -> _Stamp:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_mtime_ns, st.st_ctime_ns, st.st_size)


class InstallGeneration:
    """The active portal row as of the marker's last change, for sync checks on the event loop."""

    def __init__(self, db: Database, data_dir: Path) -> None:
        self.db = db
        self.data_dir = Path(data_dir)
        self._marker = marker_path(self.data_dir)
        self._lock = threading.Lock()
        self._stamp: _Stamp = None
        self._portal: Portal | None = None
        self._loaded = False  # whether _portal holds a read (None is a valid one: nothing installed)

    def active(self) -> Portal | None:
        """The enabled portal sessions may belong to (None: nothing installed, every session is refused)."""
        stamp = _stamp(self._marker)
        with self._lock:
            if self._loaded and stamp == self._stamp:
                return self._portal
        # Stamp first, row second: a change that lands in between moves the marker again and is re-read.
        portal = self.db.read_sync(store.active)
        with self._lock:
            self._stamp, self._portal, self._loaded = stamp, portal, True
        return portal

    def changed(self, generation: int | None = None) -> None:
        """This process changed the portal row: drop the cached row and tell other processes."""
        announce(self.data_dir, generation)
        with self._lock:
            self._portal, self._loaded = None, False
