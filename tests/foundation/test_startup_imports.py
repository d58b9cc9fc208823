"""What a KlikDok process imports to start: the suites start hundreds of servers, CLI runs and agents, and each
operator command pays for every module it loads. httpx's own command-line client (click, rich, pygments) was
0.3 s of each start for a program nobody runs, and the PDF libraries (fpdf2, pypdf, fontTools, segno) another
0.5 s for the paper copies and protocols that a process draws, if at all, long after it started."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.server import REPO, clean_env

# Heavy packages nothing of ours uses; httpx's CLI used to pull them in through ``import httpx`` (click stays:
# sqlite-utils loads it for its plugins).
UNUSED_AT_START = ("rich", "pygments")
# Loaded on the first stamped copy or PDF protocol (server.paper's drawing modules), never at start.
DRAWING = ("fpdf", "pypdf", "fontTools", "segno")


def loaded_at_start(entry: str, names: tuple[str, ...], *, also: str = "") -> list[str]:
    """Which of ``names`` a fresh interpreter has loaded after importing ``entry`` (and ``also``)."""
    probe = (
        f"import sys, {entry}{', ' + also if also else ''}\n"
        f"loaded = sorted(name for name in {names!r} if name in sys.modules)\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=REPO, env=clean_env(), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return [name for name in done.stdout.strip().split(",") if name]


@pytest.mark.parametrize("entry", ["server.cli", "server.app", "agent.cli", "cades.cli"])
def test_a_process_start_does_not_import_httpx_command_line_client(entry: str) -> None:
    assert loaded_at_start(entry, UNUSED_AT_START, also="httpx") == []


@pytest.mark.parametrize("entry", ["server.cli", "server.app", "cades.cli"])
def test_a_process_start_does_not_import_the_pdf_libraries(entry: str) -> None:
    assert loaded_at_start(entry, DRAWING) == []
