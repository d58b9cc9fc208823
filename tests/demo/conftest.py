"""The `make run` demo as a person starts it: ``python -m demo.launcher`` in a subprocess, on free ports and a
data folder of the test's own, read through the banner it prints."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.server import REPO, clean_env, free_port

BANNER_END = "Остановить: Ctrl+C"
# Quick agent heartbeats and mail polling so the story does not wait on production intervals.
FAST = {
    "KLIKDOK_AGENTS_HEARTBEAT_SECONDS": "1",
    "KLIKDOK_AGENTS_DISPATCH_SECONDS": "0.2",
    "KLIKDOK_SMTP_POLL_SECONDS": "0.2",
    "KLIKDOK_WORKFLOW_OUTBOX_POLL_SECONDS": "0.2",
}


@dataclass
class Demo:
    data: Path
    portal_port: int
    server_port: int
    proc: subprocess.Popen[bytes]
    log: Path
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def portal(self) -> str:
        return f"http://127.0.0.1:{self.portal_port}"

    @property
    def server(self) -> str:
        return f"http://127.0.0.1:{self.server_port}"

    @property
    def env(self) -> dict[str, str]:
        return demo_env(self.data, self.portal_port, self.server_port)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """A demo command (``python -m demo.sign ...``) as a person types it in the checkout."""
        return subprocess.run(
            [sys.executable, *args], cwd=REPO, env=self.env, text=True, capture_output=True, timeout=timeout
        )

    def start(self, *args: str, log: Path) -> subprocess.Popen[bytes]:
        with open(log, "ab") as out:
            proc = subprocess.Popen(
                [sys.executable, *args], cwd=REPO, env=self.env, stdout=out, stderr=subprocess.STDOUT
            )
        self.children.append(proc)
        return proc


def demo_env(data: Path, portal_port: int, server_port: int, **extra: str) -> dict[str, str]:
    return clean_env(
        KLIKDOK_STORAGE_DATA_DIR=str(data),
        KLIKDOK_DEMO_PORTAL_PORT=str(portal_port),
        KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{server_port}",
        KLIKDOK_SERVER_PUBLIC_URL=f"http://127.0.0.1:{server_port}",
        **FAST,
        **extra,
    )


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


def launch(tmp_path: Path, **extra: str) -> tuple[subprocess.Popen[bytes], Path, int, int]:
    portal_port, server_port = free_port(), free_port()
    log = tmp_path / "launcher.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "demo.launcher"],
            cwd=REPO,
            env=demo_env(tmp_path / "data", portal_port, server_port, **extra),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log, portal_port, server_port


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Demo]:
    proc, log, portal_port, server_port = launch(tmp_path)
    d = Demo(tmp_path / "data", portal_port, server_port, proc, log)
    try:
        deadline = time.monotonic() + 120
        while BANNER_END not in d.output():
            assert proc.poll() is None, f"the launcher stopped ({proc.returncode}):\n{d.output()}"
            assert time.monotonic() < deadline, f"no banner in 120 s:\n{d.output()}"
            time.sleep(0.2)
        yield d
    finally:
        for child in d.children:
            stop(child)
        code = stop(proc)
        assert code == 0, d.output()
        assert os.path.exists(log)
