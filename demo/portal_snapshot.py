"""The portal emulator's state on disk, so an emulator process killed with SIGKILL comes back with what it had.

The emulator keeps its portal in memory (:class:`demo.portal_state.PortalState`). The chaos run
(``benchmarks/chaos.py``) kills the emulator's process at random and still has to count, at the end, every
notification, timeline comment and Disk file the KlikDok server left on the portal; and the server, still holding
the install's tokens, must find its portal again after the restart. A real portal commits its database before it
answers: here every HTTP request's effect is written to ``<state file>`` (a pickle, replaced atomically) before the
answer's first byte leaves, so a kill either loses a request together with its answer (the caller retries) or
keeps its effect. A request's changes are appended to a journal (see :class:`StateFile`); Disk file contents are
written once each, beside it (``<state file>.blobs/<id>``).

Only what the portal would keep is saved: the recordings for tests (``calls``) and held answers (``stalls``) are
not.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from .portal_state import PortalState

# Not saved: the lock, the recordings for tests, held answers, Disk bytes (kept as blobs), and the one-off download
# links ``disk.file.get`` hands out (dozens per document; after a restart a caller asks for a new link).
_TRANSIENT = frozenset({"lock", "calls", "stalls", "file_bytes", "download_tokens"})

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Asgi = Callable[[Scope, Receive, Send], Awaitable[None]]


_MISSING = object()
# A dict or list attribute with at least this many entries is saved by its changes (entries added, replaced or
# removed, told apart by identity); a smaller one, and every other value, whole whenever its pickle changes.
# The big ones (Disk files and folders, tokens, notifications, timeline comments) only ever get entries added
# or removed, never changed in place, so identity is enough there; the small ones (deals, the CRM fields'
# lists) are changed in place and are compared by value.
BIG = 256
# The journal is folded into the base snapshot when it outgrows it (and at every load).
COMPACT_RATIO = 2


class StateFile:
    """One emulator's state on disk: a base snapshot (``<path>``, replaced atomically) and a journal
    (``<path>.journal``) of the changes each request made since, one pickled record per request, appended before
    the answer. A kill in the middle of an append leaves a torn last record: it belonged to a request that was
    never answered, and :meth:`load` stops before it. Saving costs what the request changed plus a pass over the
    big collections' keys, not a pickle of the whole portal."""

    def __init__(self, state: PortalState, path: Path) -> None:
        self.state = state
        self.path = path
        self.journal = path.with_name(path.name + ".journal")
        self.blobs = path.with_name(path.name + ".blobs")
        self._seen: dict[str, tuple[str, Any]] = {}  # attribute -> ("bytes", pickle) | ("dict"|"list", copy)
        self._blobs_written: set[int] = set()
        self._base_size = 0

    def load(self) -> bool:
        """Restore the state saved last; False when there is none yet (a fresh portal from the seed)."""
        if not self.path.exists():
            return False
        saved = read_saved(self.path)
        with self.state.lock:
            vars(self.state).update(saved)
            self.state.calls = []
            self.state.stalls = []
            self.state.file_bytes = {}
            for fid in self.state.files:
                blob = self.blobs / str(fid)
                if blob.exists():
                    self.state.file_bytes[fid] = blob.read_bytes()
                    self._blobs_written.add(fid)
        self.compact()
        return True

    def compact(self) -> None:
        """Write the whole state as the new base and start an empty journal."""
        with self.state.lock:
            values = self._values()
            data = pickle.dumps(values)
            self._seen = {name: self._mark(value) for name, value in values.items()}
        _replace(self.path, data)
        self.journal.write_bytes(b"")
        self._base_size = len(data)

    def save(self) -> None:
        """Append what changed since the last save (nothing when nothing did), and new Disk files' bytes."""
        with self.state.lock:
            ops = self._changes()
            new_blobs = {fid: b for fid, b in self.state.file_bytes.items() if fid not in self._blobs_written}
        if new_blobs:
            self.blobs.mkdir(parents=True, exist_ok=True)
        for fid, content in new_blobs.items():
            _replace(self.blobs / str(fid), content)
            self._blobs_written.add(fid)
        if not ops:
            return
        if not self.path.exists():
            self.compact()
            return
        with open(self.journal, "ab") as journal:
            journal.write(pickle.dumps(ops))
        if self.journal.stat().st_size > COMPACT_RATIO * max(self._base_size, 1 << 20):
            self.compact()

    def _values(self) -> dict[str, Any]:
        return {k: v for k, v in vars(self.state).items() if k not in _TRANSIENT}

    @staticmethod
    def _mark(value: Any) -> tuple[str, Any]:
        if type(value) is dict and len(value) >= BIG:
            return "dict", dict(value)
        if type(value) is list and len(value) >= BIG:
            return "list", list(value)
        return "bytes", pickle.dumps(value)

    def _changes(self) -> list[tuple[Any, ...]]:
        ops: list[tuple[Any, ...]] = []
        for name, value in self._values().items():
            kind, old = self._seen.get(name, ("", None))
            if kind == "dict" and type(value) is dict:
                changed = {k: v for k, v in value.items() if old.get(k, _MISSING) is not v}
                added = sum(1 for k in changed if k not in old)
                removed = [k for k in old if k not in value] if len(old) + added != len(value) else []
                if changed or removed:
                    ops.append(("dict", name, changed, removed))
                    old.update(changed)
                    for k in removed:
                        del old[k]
                continue
            if kind == "list" and type(value) is list:
                # These lists only lose entries (filtered) and gain them at the end: while the last saved entry
                # is still where it was, nothing before it went away.
                if old and len(value) >= len(old) and value[len(old) - 1] is old[-1]:
                    same = len(old)
                else:
                    same = 0
                    for a, b in zip(old, value, strict=False):
                        if a is not b:
                            break
                        same += 1
                if same != len(old) or same != len(value):
                    ops.append(("list", name, same, value[same:]))
                    del old[same:]
                    old.extend(value[same:])
                continue
            mark = self._mark(value)
            if mark[0] != "bytes" or mark != (kind, old):
                ops.append(("put", name, value))
                self._seen[name] = mark
        return ops


def read_saved(path: Path) -> dict[str, Any]:
    """The portal's attributes as last saved at ``path`` (the base snapshot with its journal applied), without
    starting an emulator: what the chaos run counts at the end."""
    saved: dict[str, Any] = pickle.loads(path.read_bytes())
    journal_path = path.with_name(path.name + ".journal")
    if journal_path.exists():
        with open(journal_path, "rb") as journal:
            while True:
                try:
                    ops = pickle.load(journal)
                except Exception:  # the end, or a record torn by a kill: nothing after it was answered
                    break
                _apply(saved, ops)
    return saved


def _apply(values: dict[str, Any], ops: list[tuple[Any, ...]]) -> None:
    for op in ops:
        if op[0] == "put":
            values[op[1]] = op[2]
        elif op[0] == "dict":
            target = values.setdefault(op[1], {})
            target.update(op[2])
            for k in op[3]:
                target.pop(k, None)
        elif op[0] == "list":
            target = values.setdefault(op[1], [])
            del target[op[2] :]
            target.extend(op[3])


def _replace(path: Path, data: bytes) -> None:
    """Write ``data`` whole or not at all (a kill mid-write leaves the previous file). No fsync: the state has to
    outlive the process, not the machine."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def persisting(app: Asgi, state_file: StateFile) -> Asgi:
    """``app`` behind a wrapper that saves the state just before each HTTP answer starts: after the handler has
    acted, before the caller can learn that it did."""

    async def wrapped(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return

        async def send_saved(message: Message) -> None:
            if message["type"] == "http.response.start":
                state_file.save()
            await send(message)

        await app(scope, receive, send_saved)

    return wrapped
