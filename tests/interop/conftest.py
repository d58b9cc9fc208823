"""The interop suite: real third-party signatures and reference files from the shared project folder.

They may not be republished, so they are not in this repository: `make interop` runs this folder against
``../shared`` (or ``KLIKDOK_SHARED``), and `make test` leaves it out. Without the folder the suite fails and says
where it looked; it never skips, so a run that checked nothing cannot pass for one that did.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

SHARED = Path(os.environ.get("KLIKDOK_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
INTEROP = SHARED / "interop"
TSL_SAMPLE = SHARED / "reference" / "tsl" / "tsl-sample.xml"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if not INTEROP.is_dir() or not TSL_SAMPLE.is_file():
        raise pytest.UsageError(f"the interop suite needs the shared folder ({SHARED}); set KLIKDOK_SHARED")
