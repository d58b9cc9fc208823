"""The spool and the file cache take the same bytes from two requests at once (two documents of one file).

Each write goes through a temporary file; it was named after the digest alone, so the second request's write
removed or replaced the first's before its rename (FileNotFoundError, an answer 500). The interleaving is made
exact here: the second write runs inside the first one's, between its link and its rename.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from server.workflow.files import FileCache, Spool, digests


def test_two_uploads_of_the_same_bytes_at_once_both_reach_the_spool(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool")
    source = tmp_path / "upload"
    source.write_bytes(b"%PDF-1.7 the same file")
    digest = digests(source.read_bytes())[0]
    real_link = os.link
    nested: list[str] = []
    running = []

    def link_then_let_the_other_request_run(src: Any, dst: Any, *args: Any, **kwargs: Any) -> None:
        real_link(src, dst, *args, **kwargs)
        if not running:
            running.append(True)
            nested.append(spool.put_file(digest, "2" * 16, source))

    monkeypatch.setattr(os, "link", link_then_let_the_other_request_run)
    first = spool.put_file(digest, "1" * 16, source)
    assert sorted([first, *nested]) == [f"{digest}.{'1' * 16}", f"{digest}.{'2' * 16}"]
    assert spool.get(first) == spool.get(nested[0]) == source.read_bytes()
    assert not list(spool.root.glob("*.tmp"))


def test_two_puts_of_the_same_bytes_at_once_both_reach_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = FileCache(tmp_path / "cache", max_bytes=1 << 20)
    data = b"%PDF-1.7 cached twice"
    digest = digests(data)[0]
    real_replace = Path.replace
    nested: list[bool] = []

    def replace_after_the_other_request(self: Path, target: Any) -> Path:
        if not nested:
            nested.append(True)
            cache.put(digest, data)
        return real_replace(self, target)

    monkeypatch.setattr(Path, "replace", replace_after_the_other_request)
    cache.put(digest, data)
    assert cache.get(digest) == data
    assert not list(cache.root.glob("*.tmp"))
