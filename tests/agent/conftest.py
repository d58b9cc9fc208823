"""Fixtures for the signing agent: a real server on the portal emulator, real agents as subprocesses.

The server, the portal emulator and the signers' GOST certificates come from the workflow suite's fixtures
(tests/workflow/conftest.py): documents and jobs are made through the real API, signatures through the
workflow's acceptance. Agents are ``klikdok-agent`` processes with their own config directory.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.conftest import REPO, clean_env, start_server
from tests.support.openssl_pki import Issued
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    emulator,
    gost_pki,
    people,
    portal_server,
    server_env,
    wait_for,
)

DEAL = ("deal", 1)
AGENT = [sys.executable, "-m", "agent.cli"]
FAST = {"KLIKDOK_AGENTS_HEARTBEAT_SECONDS": "1", "KLIKDOK_AGENTS_DISPATCH_SECONDS": "0.2"}


def pdf(n: int = 0) -> bytes:
    return b"%PDF-1.7\n" + f"Договор поставки №{n} от 14.05.2026".encode() + b"\n%%EOF\n"


@pytest.fixture
def kd(tmp_path: Path, emulator, people: People) -> Iterator[Klikdok]:  # noqa: F811
    srv = start_server(tmp_path / "data", env=server_env(people.pki, **FAST))
    try:
        k = Klikdok(srv, emulator)
        k.install()
        yield k
    finally:
        srv.stop()


def agent_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith("KLIKDOK_AGENT")}
    env.update(extra)
    return env


@dataclass
class Agent:
    """One klikdok-agent installation: its config directory and, while running, its process."""

    home: Path
    proc: subprocess.Popen[str] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.log = self.home / "agent.log"

    @property
    def config(self) -> Path:
        return self.home / "agent.toml"

    @property
    def key_file(self) -> Path:
        return self.home / "device.key"

    def write_config(self, backend: dict[str, str], *, level: str = "debug", extra: str = "") -> None:
        lines = ["[backend]", *(f"{k} = {json.dumps(v)}" for k, v in backend.items()), "", "[logging]",
                 f'level = "{level}"', extra]
        self.config.write_text("\n".join(lines) + "\n")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*AGENT, "--config", str(self.config), *args], cwd=REPO, env=agent_env(), text=True,
                              capture_output=True, timeout=timeout)

    def pair(self, kd: Klikdok, user_id: int) -> int:
        code = kd.api("POST", "/agents/pairing-codes", user_id).json()["code"]
        done = self.cli("pair", kd.url, code)
        assert done.returncode == 0, done.stderr
        return int(self.config.read_text().split('device_id = "')[1].split('"')[0])

    def start(self) -> subprocess.Popen[str]:
        with open(self.log, "a") as err:
            self.proc = subprocess.Popen([*AGENT, "--config", str(self.config), "run"], cwd=REPO, env=agent_env(),
                                         stdout=subprocess.DEVNULL, stderr=err, text=True)
        return self.proc

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 20) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def logs(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


@pytest.fixture
def agents(tmp_path: Path) -> Iterator[list[Agent]]:
    made: list[Agent] = []
    yield made
    for a in made:
        a.stop(signal.SIGKILL)


@pytest.fixture
def make_agent(tmp_path: Path, agents: list[Agent]):  # type: ignore[no-untyped-def]
    def make(name: str = "agent") -> Agent:
        a = Agent(tmp_path / name)
        agents.append(a)
        return a

    return make


def openssl_backend(cert: Issued) -> dict[str, str]:
    return {"kind": "openssl", "certificate": str(cert.cert), "key_file": str(cert.key)}


def online(kd: Klikdok, user_id: int) -> bool:
    return bool(kd.api("GET", "/agents", user_id).json()["online"])


def signatures_of(kd: Klikdok, doc_id: int) -> list[tuple[object, ...]]:
    return kd.query("SELECT file_id, step_id, source, signer_user_id FROM signatures WHERE document_id = ?", doc_id)


def job_status(kd: Klikdok, job_id: int) -> str:
    return kd.query("SELECT status FROM jobs WHERE id = ?", job_id)[0][0]


def sign_request(kd: Klikdok, user_id: int, doc_ids: list[int], channel: str = "any") -> list[int]:
    resp = kd.api("POST", "/documents/sign-request", user_id, json={"document_ids": doc_ids, "channel": channel})
    assert resp.status_code == 200, resp.text
    return [int(j["id"]) for j in resp.json()]


def wait_http(url: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.1)


def file_mode(path: Path) -> int:
    return os.stat(path).st_mode & 0o777
