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


def test_building_the_verify_parser_loads_only_the_options_module() -> None:
    """`klikdok hash` builds the whole parser, `--poa` options included: that costs cades.poa.cli, nothing more."""
    heavy = ("cades.poa.check", "cades.poa.model", "cades.poa.registry", "cades.poa.xml", "msgspec", "lxml")
    also = "argparse; cades.cli.register(argparse.ArgumentParser().add_subparsers())"
    assert loaded_at_start("cades.cli", heavy, also=also) == []
    assert loaded_at_start("cades.cli", ("cades.poa.cli",), also=also) == ["cades.poa.cli"]


def test_the_options_name_the_registry_client_default() -> None:
    from cades.poa import DEFAULT_REGISTRY_URL
    from cades.poa.cli import DEFAULT_REGISTRY_URL as SHOWN

    assert SHOWN == DEFAULT_REGISTRY_URL
