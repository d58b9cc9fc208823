"""Document bytes: GOST digests at upload, file-name hygiene, and the bounded local cache.

Files live in Bitrix24.Disk; the server keeps a cache keyed by the Streebog-256 digest so that signers and the
package download do not hit the portal each time. Whatever comes back from the portal is checked against the
digest recorded at upload before anyone gets it.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from pathlib import Path

from cades import hashing

_BAD = re.compile(r'[\x00-\x1f\x7f/\\:*?"<>|]+')


def safe_name(name: str, fallback: str = "document") -> str:
    """A file name without directories, control characters or path tricks (kept readable, Cyrillic included)."""
    name = unicodedata.normalize("NFC", name or "").replace("\\", "/").rsplit("/", 1)[-1]
    name = _BAD.sub("_", name).strip(" .")
    if not name or set(name) <= {"_", "."}:
        name = fallback
    return name[:180]


def digests(data: bytes) -> tuple[str, str]:
    """(Streebog-256, Streebog-512) hex digests of the bytes."""
    return hashing.new("streebog256", data).hexdigest(), hashing.new("streebog512", data).hexdigest()


def _identity(st: os.stat_result) -> tuple[int, int, int]:
    """What changes when a file's bytes do, short of someone setting its mtime back on purpose (who could as well
    edit the database). Not the ctime: an entry hard-linked from an upload or the spool gets a new ctime each time
    one of its other names goes away."""
    return st.st_ino, st.st_size, st.st_mtime_ns


class FileCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
        # Entries whose bytes are known to match their name: written here from bytes of that digest, or hashed
        # once on a read. A read of such an entry, unchanged since, skips the hash (1 MB of Streebog is ~10 ms,
        # the largest share of the server's work per agent signature). A new process starts with none.
        self._checked: dict[str, tuple[int, int, int]] = {}
        # Kept in memory so that a put does not stat the whole cache; rescanned only when over the limit.
        self._total = sum(p.stat().st_size for p in root.iterdir() if p.is_file())

    def _path(self, digest: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            raise ValueError("not a Streebog-256 hex digest")
        return self.root / digest

    def put(self, digest: str, data: bytes) -> None:
        path = self._path(digest)
        if path.exists():
            return
        tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")  # two requests may cache the same bytes at once
        tmp.write_bytes(data)
        tmp.replace(path)
        self._checked[digest] = _identity(path.stat())
        self._total += len(data)
        if self._total > self.max_bytes:
            self._trim()

    def put_file(self, digest: str, source: Path) -> None:
        """Cache a file that is already on disk (a received upload) without reading it into memory: a hard
        link where the spool and the cache share a file system, else a streamed copy."""
        path = self._path(digest)
        if path.exists():
            return
        tmp = path.with_name(f"{digest}.{uuid.uuid4().hex}.tmp")
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        size = tmp.stat().st_size
        tmp.replace(path)
        self._checked[digest] = _identity(path.stat())
        self._total += size
        if self._total > self.max_bytes:
            self._trim()

    def get(self, digest: str) -> bytes | None:
        path = self._path(digest)
        try:
            with path.open("rb") as fh:
                seen = _identity(os.fstat(fh.fileno()))
                data = fh.read()
                if self._checked.get(digest) != seen or len(data) != seen[1]:
                    if hashing.new("streebog256", data).hexdigest() != digest:  # a damaged entry is never served
                        self._checked.pop(digest, None)
                        path.unlink(missing_ok=True)
                        return None
                os.utime(fh.fileno())  # the trim keeps the recently read
                self._checked[digest] = _identity(os.fstat(fh.fileno()))
        except FileNotFoundError:
            return None
        return data

    def _trim(self) -> None:
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.iterdir() if p.is_file()]
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            self._checked.pop(path.name, None)
            total -= size
        self._total = total


class Spool:
    """Bytes of document files between the commit that records them and their copy on Bitrix24.Disk.

    Unlike the cache, nothing here is evicted: an entry is the only copy of a file until the outbox worker has put
    it on Disk, and it is removed then. Each entry is named ``<streebog256>.<token>`` (the token comes with the
    outbox message), written and fsynced before the commit; one the database never learned about (a crash before
    the commit) is swept at the next start.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        if not re.fullmatch(r"[0-9a-f]{64}\.[0-9a-f]{16,64}", name):
            raise ValueError("not a spool entry name")
        return self.root / name

    def put(self, digest: str, token: str, data: bytes) -> str:
        """Store durably; returns the entry name the outbox message carries."""
        path = self._path(f"{digest}.{token}")
        tmp = path.with_name(path.name + ".tmp")  # the entry's own: two uploads of the same bytes run at once
        with tmp.open("wb") as out:
            out.write(data)
        return self._commit(tmp, path)

    def put_file(self, digest: str, token: str, source: Path) -> str:
        """Store a received upload durably without reading it into memory (a hard link where possible)."""
        path = self._path(f"{digest}.{token}")
        tmp = path.with_name(path.name + ".tmp")  # the entry's own: two uploads of the same bytes run at once
        tmp.unlink(missing_ok=True)
        try:
            os.link(source, tmp)
        except OSError:
            shutil.copyfile(source, tmp)
        return self._commit(tmp, path)

    def _commit(self, tmp: Path, path: Path) -> str:
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        tmp.replace(path)
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return path.name

    def get(self, name: str) -> bytes | None:
        """The entry's bytes, if present and still matching their digest."""
        path = self._path(name)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        # The entry is named by its Streebog-256 alone: computing the 512 as well would double the cost.
        return data if hashing.new("streebog256", data).hexdigest() == name.split(".", 1)[0] else None

    def find(self, digest: str) -> bytes | None:
        """Any entry with these bytes (a file read before its Disk copy exists)."""
        if not re.fullmatch(r"[0-9a-f]{64}", digest):
            return None
        for path in self.root.glob(f"{digest}.*"):
            if path.suffix != ".tmp" and (data := self.get(path.name)) is not None:
                return data
        return None

    def remove(self, name: str) -> None:
        self._path(name).unlink(missing_ok=True)

    def sweep(self, keep: set[str], older_than_seconds: float = 600.0) -> int:
        """Remove entries no pending message names (left by a crash before their commit); young ones may belong
        to a creation still in progress and stay."""
        import time

        removed = 0
        cutoff = time.time() - older_than_seconds
        for path in self.root.iterdir():
            if path.name in keep or not path.is_file():
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed += 1
            except FileNotFoundError:
                continue
        return removed
