"""The local cache of document bytes: a damaged entry is never served, and an entry the server wrote itself is
not hashed again on every read (a signer's batch reads each file once, and that hash was the server's largest
cost per signature)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from cades import hashing
from server.workflow import files
from server.workflow.files import FileCache, digests


class CountingHash:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = hashing.new

        def counting(name: str, data: bytes = b"") -> object:
            self.count += 1
            return real(name, data)

        monkeypatch.setattr(files.hashing, "new", counting)


def cached(tmp_path: Path, data: bytes) -> tuple[FileCache, str]:
    """A cache holding ``data``, written by the server (so known to match), and its digest."""
    cache = FileCache(tmp_path / "cache", max_bytes=1 << 20)
    digest = digests(data)[0]
    cache.put(digest, data)
    return cache, digest


def test_an_entry_written_by_the_server_is_read_without_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = b"%PDF-1.7 written once, read thrice"
    cache, digest = cached(tmp_path, data)
    hashes = CountingHash(monkeypatch)
    assert [cache.get(digest) for _ in range(3)] == [data] * 3
    assert hashes.count == 0


def test_an_upload_linked_into_the_cache_is_read_without_hashing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1 << 20)
    upload = tmp_path / "upload.pdf"
    upload.write_bytes(b"%PDF-1.7 a received upload")
    digest = digests(upload.read_bytes())[0]
    cache.put_file(digest, upload)
    upload.unlink()  # the request's temporary file goes; the cache's name for it stays (a new ctime, same bytes)
    hashes = CountingHash(monkeypatch)
    assert cache.get(digest) == b"%PDF-1.7 a received upload"
    assert hashes.count == 0


@pytest.mark.parametrize("damage", ["same_size", "shorter"])
def test_an_entry_changed_behind_the_servers_back_is_hashed_and_dropped(tmp_path: Path, damage: str) -> None:
    data = b"%PDF-1.7 the bytes that were signed"
    cache, digest = cached(tmp_path, data)
    assert cache.get(digest) == data
    path = cache.root / digest
    before = path.stat()
    time.sleep(0.02)  # file times tick with the kernel's coarse clock (a few ms): a later write gets a later mtime
    if damage == "shorter":
        path.write_bytes(data[:-1])
    else:
        path.write_bytes(data.replace(b"signed", b"forged"))  # in place: the same inode and size, a new mtime
        assert path.stat().st_ino == before.st_ino and path.stat().st_size == before.st_size
    assert cache.get(digest) is None
    assert not path.exists()


def test_a_new_process_checks_each_entry_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = b"%PDF-1.7 cached by an earlier run of the server"
    digest = digests(data)[0]
    FileCache(tmp_path / "cache", max_bytes=1 << 20).put(digest, data)
    (tmp_path / "cache" / digest).write_bytes(data[:10] + b"X" + data[11:])  # damaged while the server was down
    restarted = FileCache(tmp_path / "cache", max_bytes=1 << 20)
    assert restarted.get(digest) is None
    restarted.put(digest, data)
    hashes = CountingHash(monkeypatch)
    assert restarted.get(digest) == data and restarted.get(digest) == data
    assert hashes.count == 0
