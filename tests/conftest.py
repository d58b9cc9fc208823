"""Fixtures shared by every suite: the real server as a subprocess (tests/support/server.py), the leftover check."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import leftovers
from tests.support.server import REPO, ServerProcess, start_server


def _left_behind(before: set[leftovers.ProcessKey], when: str) -> str:
    """Stop what is left and say what it was; empty if nothing."""
    found = leftovers.leftovers(before, REPO)
    if not found:
        return ""
    leftovers.terminate(found)
    return (f"{when} left {len(found)} KlikDok process(es) running (now stopped; a fixture must stop every "
            "server and agent it starts, including a restarted one):\n" + "\n".join(p.describe() for p in found))


@pytest.fixture(autouse=True, scope="session")
def no_process_survives_the_session() -> Iterator[None]:
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
def browser() -> Iterator[object]:
    """One headless Chromium per test module (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as b:
        yield b
