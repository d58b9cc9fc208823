"""Fixtures shared by every suite: the real server as a subprocess (tests/support/server.py), the leftover check."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import http, leftovers
from tests.support.server import REPO, ServerProcess, start_server

# The interop suite reads the shared project folder (third-party signatures that may not be republished); only
# `make interop` (KLIKDOK_INTEROP=1) collects it, so `make test` and a bare `pytest` read nothing outside the
# repository.
collect_ignore = [] if os.environ.get("KLIKDOK_INTEROP") == "1" else ["interop"]

# ``httpx.get`` and friends make a client (and an SSL context, 30 ms) per call; the suites make thousands.
http.share_one_client()


def _left_behind(before: set[leftovers.ProcessKey], when: str) -> str:
    """Stop what is left and say what it was; empty if nothing."""
    found = leftovers.leftovers(before, REPO)
    if not found:
        return ""
    leftovers.terminate(found)
    return (
        f"{when} left {len(found)} KlikDok process(es) running (now stopped; a fixture must stop every "
        "server and agent it starts, including a restarted one):\n" + "\n".join(p.describe() for p in found)
    )


@pytest.fixture(autouse=True, scope="session")
def temporary_files_inside_pytests_basetemp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every ``tempfile`` folder of the run, in this process and in the servers and agents it starts (through
    ``TMPDIR``, which ``clean_env`` passes on), goes under pytest's own base folder (one per xdist worker).

    The CryptoARM emulator, the agent's OpenSSL work folder of an agent the tests SIGKILL and the
    proof-of-possession PKI all make ``mkdtemp`` folders that nobody removes when the process dies; in /tmp they
    piled up by the hundred. pytest keeps only its last three base folders, so these go with them.
    """
    folder = tmp_path_factory.mktemp("tempfile", numbered=False)
    saved_env, saved_dir = os.environ.get("TMPDIR"), tempfile.tempdir
    os.environ["TMPDIR"] = str(folder)
    tempfile.tempdir = str(folder)
    try:
        yield
    finally:
        tempfile.tempdir = saved_dir
        if saved_env is None:
            os.environ.pop("TMPDIR", None)
        else:
            os.environ["TMPDIR"] = saved_env


@pytest.fixture(autouse=True, scope="session")
def no_process_survives_the_session(temporary_files_inside_pytests_basetemp: None) -> Iterator[None]:
    """The session-end check: module- and session-scoped fixtures end after the last per-test check."""
    before = leftovers.snapshot()
    yield
    if problem := _left_behind(before, "the test session"):
        pytest.fail(problem, pytrace=False)


@pytest.fixture(autouse=True)
def no_process_left_behind(no_process_survives_the_session: None) -> Iterator[None]:
    """Fails the test that leaves a ``klikdok serve`` or ``klikdok-agent`` running after its fixtures ended.

    Autouse and requested first, so its teardown runs after every fixture of the test has torn down.
    """
    before = leftovers.snapshot()
    yield
    if problem := _left_behind(before, "this test"):
        pytest.fail(problem, pytrace=False)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """One headless Chromium per test module (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as b:
        yield b


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context per test at 1280 px; an uncaught script error on the page fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU", accept_downloads=True)
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], errors
