"""The real server as a subprocess on loopback, for the test suites and the benchmarks alike.

It lives outside ``tests/conftest.py`` so that ``benchmarks/`` can start servers without importing the tests'
fixtures (an import-linter contract in pyproject.toml keeps it that way).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.support import http, zygote

# The checkout: the server runs from here, as `make run` runs it.
REPO = Path(__file__).resolve().parents[2]
KLIKDOK = [sys.executable, "-m", "server.cli"]


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


def run_cli(
    *args: str, cwd: Path | None = None, env: dict[str, str] | None = None, timeout: float = 60
) -> subprocess.CompletedProcess[str]:
    return zygote.run(
        [*KLIKDOK, *args], cwd=cwd or REPO, env=env or clean_env(), text=True, capture_output=True, timeout=timeout
    )


@dataclass
class ServerProcess:
    proc: subprocess.Popen[str] | zygote.ForkedProcess
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


def start_server(
    data_dir: Path,
    *,
    env: dict[str, str] | None = None,
    config: Path | None = None,
    wait: bool = True,
    timeout: float = 30,
    port: int | None = None,
    public_url: str | None = None,
) -> ServerProcess:
    """Start ``klikdok serve`` on loopback and wait until /healthz answers.

    ``port`` keeps the address across a restart (agents and proxies know it); by default a free one.
    """
    port = port or free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    stderr_path = data_dir.parent / f"server-{port}-{time.monotonic_ns()}.log"
    child_env = clean_env(
        KLIKDOK_STORAGE_DATA_DIR=str(data_dir),
        KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{port}",
        KLIKDOK_SERVER_PUBLIC_URL=public_url or f"http://127.0.0.1:{port}",
        **(env or {}),
    )
    args = [*KLIKDOK] + (["--config", str(config)] if config else []) + ["serve"]
    with open(stderr_path, "w") as err:
        proc = zygote.popen(args, cwd=REPO, env=child_env, stdout=subprocess.DEVNULL, stderr=err, text=True)
    server = ServerProcess(proc, f"http://127.0.0.1:{port}", data_dir, stderr_path)
    if wait:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}:\n{server.logs()}")
            try:
                if http.request("GET", f"{server.url}/healthz", timeout=1).status_code == 200:
                    return server
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        server.stop(signal.SIGKILL)
        raise RuntimeError(f"server did not become healthy:\n{server.logs()}")
    return server
