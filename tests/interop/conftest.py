"""The interop suite: real third-party signatures and reference files from the shared project folder.

They may not be republished, so they are not in this repository (only the TC 26 examples, whose licence allows
it, are: tests/cades/samples/tc26). `make interop` runs this folder against the corpus at ``KLIKDOK_INTEROP_DIR``
(default ``../shared/interop``) and the reference files at ``KLIKDOK_SHARED`` (default ``../shared``); `make test`
leaves it out. Without them the suite fails and says where it looked; it never skips, so a run that checked
nothing cannot pass for one that did.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("KLIKDOK_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
INTEROP = Path(os.environ.get("KLIKDOK_INTEROP_DIR") or SHARED / "interop")
TSL_SAMPLE = SHARED / "reference" / "tsl" / "tsl-sample.xml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not (INTEROP / "MANIFEST.md").is_file():
        pytest.exit(
            f"the interop corpus is not at {INTEROP}: set KLIKDOK_INTEROP_DIR to the folder with MANIFEST.md", 4
        )
    if not TSL_SAMPLE.is_file():
        pytest.exit(f"the TSL reference sample is not at {TSL_SAMPLE}: set KLIKDOK_SHARED", 4)
