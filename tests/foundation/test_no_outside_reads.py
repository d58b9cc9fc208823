"""`make test` passes on a fresh clone anywhere: only the interop suite may read the shared project folder."""

from __future__ import annotations

import re
from pathlib import Path

from tests.support.server import REPO

# A path built to the shared folder: `... / "shared"` or a literal path into it.
OUTSIDE = re.compile(r'/\s*"shared"|"[^"]*/shared/(?:interop|reference)')


def test_only_the_interop_suite_reads_the_shared_folder() -> None:
    found = [
        f"{path.relative_to(REPO)}:{number}: {line.strip()}"
        for tree in ("tests", "benchmarks")
        for path in sorted((REPO / tree).rglob("*.py"))
        if "interop" not in path.relative_to(REPO / tree).parts[:1] and path != Path(__file__).resolve()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if OUTSIDE.search(line)
    ]
    assert not found, "tests outside tests/interop/ read the shared folder:\n" + "\n".join(found)


def test_the_check_sees_such_a_path() -> None:
    assert OUTSIDE.search('INTEROP = Path(__file__).parents[2].parent / "shared" / "interop"')
    assert OUTSIDE.search('SAMPLE = Path("/work/shared/reference/tsl/tsl-sample.xml")')
    assert not OUTSIDE.search('folder = tmp_path / "shared_state"')
