"""Fixtures shared by every suite: free ports, the real server as a subprocess, the CLI."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.support import leftovers

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
KLIKDOK = [sys.executable, "-m", "server.cli"]
# `make chaos` sets TEST_CHAOS=1: the kill-and-restart tests then run their full number of rounds (see rounds()).
FULL_CHAOS = os.environ.get("TEST_CHAOS", "") == "1"


def rounds(quick: int, full: int) -> int:
    """How many kill rounds a crash test runs: ``quick`` in `make test` (each round is a server start, seconds
    of CPU), ``full`` in `make chaos`. The quick count still has to reach every window the test is about."""
    return full if FULL_CHAOS else quick


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env(**extra: str) -> dict[str, str]:
    """The environment for a child process, without settings leaking in from the developer's shell."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("KLIKDOK_")}
    env.pop("NOTIFY_SOCKET", None)
    env.pop("WATCHDOG_USEC", None)
    env.update(extra)
    return env


def run_cli(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*KLIKDOK, *args], cwd=cwd or REPO, env=env or clean_env(), text=True,
                          capture_output=True, timeout=timeout)


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str]
    url: str
    data_dir: Path
    stderr_path: Path

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.stderr_path.read_text(errors="replace")


def start_server(data_dir: Path, *, env: dict[str, str] | None = None, config: Path | None = None,
                 wait: bool = True, timeout: float = 30, port: int | None = None,
                 public_url: str | None = None) -> ServerProcess:
    """Start ``klikdok serve`` on loopback and wait until /healthz answers.

    ``port`` keeps the address across a restart (agents and proxies know it); by default a free one.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
    child_env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(data_dir),
                          KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{port}",
                          KLIKDOK_SERVER_PUBLIC_URL=public_url or f"http://127.0.0.1:{port}",
                          **(env or {}))
    args = [*KLIKDOK] + (["--config", str(config)] if config else []) + ["serve"]
    with open(stderr_path, "w") as err:
        proc = subprocess.Popen(args, cwd=REPO, env=child_env, stdout=subprocess.DEVNULL, stderr=err,
                                text=True)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", data_dir, stderr_path)
    if wait:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.logs()}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        server.stop(signal.SIGKILL)
        raise RuntimeError(f"server did not become healthy:\n{server.logs()}")
    return server


def _left_behind(before: set[leftovers.ProcessKey], when: str) -> str:
    """Stop what is left and say what it was; empty if nothing."""
    found = leftovers.leftovers(before, REPO)
    if not found:
        return ""
    leftovers.terminate(found)
    return (f"{when} left {len(found)} KlikDok process(es) running (now stopped; a fixture must stop every "
            "server and agent it starts, including a restarted one):\n" + "\n".join(p.describe() for p in found))


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
def browser() -> Iterator[object]:
    """One headless Chromium per test module (tests/browser.py)."""
    from tests.browser import chromium

    with chromium() as b:
        yield b
