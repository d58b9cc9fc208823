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
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.support import zygote
from tests.support.openssl_pki import Issued
from tests.support.server import REPO, ServerProcess, clean_env, start_server
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    emulator,
    gost_pki,
    installed_klikdok,
    people,
    portal_server,
    server_env,
    wait_for,
)

DEAL = ("deal", 1)
AGENT = [sys.executable, "-m", "agent.cli"]
# Heartbeats every 2 s: the server drops an agent silent for three (6 s). At 1 s a busy CI machine that held an agent
# off the CPU for 3 s had it dropped in the middle of a job.
FAST = {"KLIKDOK_AGENTS_HEARTBEAT_SECONDS": "2", "KLIKDOK_AGENTS_DISPATCH_SECONDS": "0.2"}


def pdf(n: int = 0) -> bytes:
    return b"%PDF-1.7\n" + f"Договор поставки №{n} от 14.05.2026".encode() + b"\n%%EOF\n"


@pytest.fixture
def kd(tmp_path: Path, emulator, people: People) -> Iterator[Klikdok]:  # noqa: F811  pytest injects the imported fixture of this name
    with installed_klikdok(tmp_path / "data", emulator, server_env(people.pki, **FAST)) as k:
        yield k


def agent_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in clean_env().items() if not k.startswith("KLIKDOK_AGENT")}
    env.update(extra)
    return env


@dataclass
class Agent:
    """One klikdok-agent installation: its config directory and, while running, its process."""

    home: Path
    proc: subprocess.Popen[str] | zygote.ForkedProcess | None = None
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
        lines = [
            "[backend]",
            *(f"{k} = {json.dumps(v)}" for k, v in backend.items()),
            "",
            "[logging]",
            f'level = "{level}"',
            extra,
        ]
        self.config.write_text("\n".join(lines) + "\n")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return zygote.run(
            [*AGENT, "--config", str(self.config), *args],
            cwd=REPO,
            env=agent_env(),
            text=True,
            capture_output=True,
            timeout=timeout,
        )

    def pair(self, kd: Klikdok, user_id: int) -> int:
        code = kd.api("POST", "/agents/pairing-codes", user_id).json()["code"]
        done = self.cli("pair", kd.url, code)
        assert done.returncode == 0, done.stderr
        return int(self.config.read_text().split('device_id = "')[1].split('"')[0])

    def start(self, env: dict[str, str] | None = None) -> subprocess.Popen[str] | zygote.ForkedProcess:
        with open(self.log, "a") as err:
            self.proc = zygote.popen(
                [*AGENT, "--config", str(self.config), "run"],
                cwd=REPO,
                env=agent_env(**(env or {})),
                stdout=subprocess.DEVNULL,
                stderr=err,
                text=True,
            )
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
def make_agent(tmp_path: Path, agents: list[Agent]) -> Callable[..., Agent]:
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


# -- fault injection ------------------------------------------------------------------------------------------


def launch_server(
    data_dir: Path, port: int, env: dict[str, str], *, public_url: str | None = None, timeout: float = 30
) -> ServerProcess:
    """``klikdok serve`` on a given port (a restart keeps the address the agents know)."""
    return start_server(data_dir, env=env, port=port, public_url=public_url, timeout=timeout)


def fake_openssl(directory: Path, mode: str, seconds: float = 4.0) -> dict[str, str]:
    """An ``openssl`` earlier on PATH that wraps the real one: ``slow`` signs after a pause (a slow token),
    ``wrong`` signs other bytes than the file it is given (a broken backend). Returns the agent's env. Both
    ways the backend signs count: ``cms -sign`` over a file, ``dgst -sign`` over the signed attributes.

    Every signature it starts adds a line to ``started.log`` and every one it finishes a line to ``signed.log``
    in ``directory`` (see :func:`signings_started`, :func:`signatures_made`), so a test can tell "the agent is
    signing" and "the agent has signed" from "the agent has not got there yet" without guessing a delay."""
    directory.mkdir(parents=True, exist_ok=True)
    real = subprocess.run(["which", "openssl"], capture_output=True, text=True, check=True).stdout.strip()
    other = directory / "other.bin"
    other.write_bytes(b"not the document")
    script = directory / "openssl"
    script.write_text(f"""#!{sys.executable}
import os, subprocess, sys, time
args = sys.argv[1:]
if not (("cms" in args or "dgst" in args) and "-sign" in args):
    os.execv({real!r}, [{real!r}, *args])
with open({str(directory / "started.log")!r}, "a") as log:
    log.write("started\\n")
if {mode!r} == "slow":
    time.sleep({seconds})
elif "cms" in args:
    args[args.index("-in") + 1] = {str(other)!r}
else:  # dgst -sign: the signed attributes' file is the last argument
    args[-1] = {str(other)!r}
code = subprocess.call([{real!r}, *args])
with open({str(directory / "signed.log")!r}, "a") as log:
    log.write(f"{{code}}\\n")
sys.exit(code)
""")
    script.chmod(0o755)
    return {"PATH": f"{directory}:{os.environ.get('PATH', '')}"}


def signatures_made(directory: Path) -> int:
    """How many ``openssl cms -sign`` runs the :func:`fake_openssl` in ``directory`` has finished."""
    return _lines(directory / "signed.log")


def signings_started(directory: Path) -> int:
    """How many ``openssl cms -sign`` runs the :func:`fake_openssl` in ``directory`` has begun."""
    return _lines(directory / "started.log")


def _lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


class CuttingProxy:
    """A TCP proxy for the agent's websocket that breaks the connection once, around the first big frame
    from the agent (the job result): ``mid_upload`` forwards half of it and cuts; ``after_upload`` forwards
    all of it, swallows the server's answer and cuts."""

    def __init__(self, upstream_port: int, mode: str, big: int = 1000) -> None:
        import asyncio
        import threading

        from tests.support.server import free_port

        self.port = free_port()
        self.upstream_port = upstream_port
        self.mode = mode
        self.big = big
        self.cuts = 0
        self.connections = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        self._ready.wait(10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _run(self) -> None:
        import asyncio

        asyncio.set_event_loop(self._loop)

        async def main() -> None:
            self._main = asyncio.current_task()
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)
            self._ready.set()
            async with self._server:
                await self._server.serve_forever()

        try:
            self._loop.run_until_complete(main())
        except BaseException:  # stopped
            pass

    async def _handle(self, reader, writer) -> None:  # type: ignore[no-untyped-def]  # asyncio stream callback, arguments as start_server passes them
        import asyncio

        self.connections += 1
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream_port)
        except OSError:
            writer.close()
            return
        swallow = asyncio.Event()

        async def client_to_server() -> None:
            first = True
            while data := await reader.read(65536):
                if not first and len(data) >= self.big and self.cuts == 0:
                    self.cuts += 1
                    if self.mode == "mid_upload":
                        up_writer.write(data[: len(data) // 2])
                        await up_writer.drain()
                        break
                    swallow.set()
                    up_writer.write(data)
                    await up_writer.drain()
                    await asyncio.sleep(1.0)  # the server applies and answers; the answer is lost
                    break
                first = False
                up_writer.write(data)
                await up_writer.drain()

        async def server_to_client() -> None:
            while data := await up_reader.read(65536):
                if swallow.is_set():
                    continue
                writer.write(data)
                await writer.drain()

        tasks = [asyncio.create_task(client_to_server()), asyncio.create_task(server_to_client())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for t in tasks:
            t.cancel()
        for w in (writer, up_writer):
            w.transport.abort()

    def close(self) -> None:
        """Ends the connections still open (the agent's reconnected one) before the listener, so no task of the
        proxy is left pending when its loop stops."""
        import asyncio

        async def shutdown() -> None:
            others = asyncio.all_tasks() - {asyncio.current_task(), self._main}
            for task in others:
                task.cancel()
            await asyncio.gather(*others, return_exceptions=True)
            self._server.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self._loop).result(5)
        self._thread.join(5)
