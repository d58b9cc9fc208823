"""The XML library is loaded by the first МЧД read, never by a process start (#19: `klikdok hash`/`verify`/`--help`
import only what they use), although cades.cli and the server import cades.poa."""

from __future__ import annotations

import pytest

from tests.foundation.test_startup_imports import loaded_at_start


@pytest.mark.parametrize("entry", ["cades.cli", "server.cli", "server.app", "cades.poa"])
def test_a_process_start_does_not_import_lxml(entry: str) -> None:
    assert loaded_at_start(entry, ("lxml",), also="cades.poa") == []


def test_reading_an_mchd_does_load_it() -> None:
    """The probe above can see lxml when it is there (a test that cannot fail proves nothing)."""
    assert loaded_at_start("cades.poa", ("lxml",), also="cades.poa.xml; cades.poa.xml._compiled_schema()") == ["lxml"]
