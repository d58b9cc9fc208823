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


class FileCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = root
        self.max_bytes = max_bytes
        root.mkdir(parents=True, exist_ok=True)
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
        tmp = path.with_suffix(".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)
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
        self._total += size
        if self._total > self.max_bytes:
            self._trim()

    def get(self, digest: str) -> bytes | None:
        path = self._path(digest)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return None
        if digests(data)[0] != digest:  # a damaged cache entry is dropped, never served
            path.unlink(missing_ok=True)
            return None
        os.utime(path)
        return data

    def _trim(self) -> None:
        entries = [(p.stat().st_mtime, p.stat().st_size, p) for p in self.root.iterdir() if p.is_file()]
        total = sum(size for _, size, _ in entries)
        for _, size, path in sorted(entries):
            if total <= self.max_bytes:
                break
            path.unlink(missing_ok=True)
            total -= size
        self._total = total
