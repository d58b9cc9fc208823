"""The check that fails a test leaving a KlikDok process running (tests/support/leftovers.py, used by the
autouse fixtures in tests/conftest.py) finds real forgotten processes and nothing else."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support import leftovers, zygote
from tests.support.leftovers import ProcInfo
from tests.support.server import REPO, clean_env, free_port, start_server


@pytest.mark.parametrize(("started", "described"), [("exec", "server.cli serve"), ("fork", "[forked: klikdok serve]")])
def test_a_server_nobody_stopped_is_found_and_a_stopped_one_is_not(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, started: str, described: str
) -> None:
    """Started as its own program or forked by the suite's zygote (whose command line it keeps)."""
    if started == "exec":
        monkeypatch.setenv(zygote.DISABLE_ENV, "1")
    before = leftovers.snapshot()
    server = start_server(tmp_path / "data")
    try:
        assert isinstance(server.proc, zygote.ForkedProcess) == (started == "fork")
        found = leftovers.leftovers(before, REPO)
        assert [p.pid for p in found] == [server.proc.pid], found
        assert described in found[0].describe()
    finally:
        server.stop()
    assert leftovers.leftovers(before, REPO) == []


def test_an_orphaned_server_of_this_checkout_is_found_and_stopped(tmp_path: Path) -> None:
    """Started by a shell that exits at once, as a launcher that dies first would leave it: its parent is
    PID 1, so only its checkout ties it to this run."""
    before = leftovers.snapshot()
    port = free_port()
    env = clean_env(
        KLIKDOK_STORAGE_DATA_DIR=str(tmp_path / "data"),
        KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{port}",
        KLIKDOK_SERVER_PUBLIC_URL=f"http://127.0.0.1:{port}",
        KLIKDOK_PORTAL_URL="http://127.0.0.1:9",
    )
    subprocess.run(
        ["sh", "-c", f'"{sys.executable}" -m server.cli serve >/dev/null 2>&1 &'], cwd=REPO, env=env, check=True
    )
    found: list[ProcInfo] = []
    try:
        deadline = time.monotonic() + 15
        while not found and time.monotonic() < deadline:
            found = leftovers.leftovers(before, REPO)
            time.sleep(0.1)
        if not found:
            strays = [
                p
                for p in leftovers.processes()
                if p.key not in before
                and leftovers.is_klikdok_program(p.argv)
                and p.cwd == str(REPO)
                and p.worker == leftovers.this_worker()
            ]
            found = strays  # stopped below whatever the outcome
            if strays and strays[0].ppid != 1:
                pytest.skip(f"orphans are reparented to {strays[0].ppid} here (a subreaper), not to PID 1")
        assert len(found) == 1 and found[0].ppid == 1, found
        assert found[0].worker == leftovers.this_worker()  # attributed to this run's worker, as its environment says
    finally:
        leftovers.terminate(found)
    assert leftovers.leftovers(before, REPO) == []


def info(
    argv: tuple[str, ...], *, ppid: int = 1, cwd: str = "/somewhere", pid: int = 4242, worker: str | None = ""
) -> ProcInfo:
    return ProcInfo(pid=pid, ppid=ppid, state="S", start=1, argv=argv, cwd=cwd, worker=worker)


def test_processes_of_other_checkouts_and_other_programs_are_not_ours() -> None:
    repo = Path("/work/wt/mine")
    serve = ("/work/wt/other/.venv/bin/python", "-m", "server.cli", "serve")
    assert leftovers.is_klikdok_program(serve)
    # Another checkout's orphaned server: neither a descendant of this pytest nor inside this checkout.
    assert not leftovers.belongs_here(info(serve, cwd="/work/wt/other"), repo, set())
    # A directory whose name merely starts like ours is another checkout too.
    assert not leftovers.belongs_here(info(serve, cwd="/work/wt/mine-2"), repo, set())
    # This checkout's orphan, and any descendant wherever it runs.
    assert leftovers.belongs_here(info(("/work/wt/mine/.venv/bin/python", "-m", "agent.cli", "run")), repo, set())
    assert leftovers.belongs_here(info(serve, ppid=77, cwd="/tmp"), repo, {4242})
    # A process of this checkout that still has its launcher is that launcher's business.
    assert not leftovers.belongs_here(info(serve, ppid=77, cwd=str(repo)), repo, set())

    assert leftovers.is_klikdok_program(("/usr/bin/klikdok-agent", "run"))
    assert leftovers.is_klikdok_program(("/opt/klikdok/venv/bin/python", "/usr/bin/klikdok", "serve"))
    assert leftovers.is_klikdok_program(("python", "-m", "agent.cli", "--config", "a.toml", "run"))
    assert not leftovers.is_klikdok_program(("python", "-m", "server.cli", "doctor"))
    assert not leftovers.is_klikdok_program(("/usr/bin/klikdok", "backup"))
    assert not leftovers.is_klikdok_program(("python", "-m", "demo.portal_emulator", "--port", "1"))


def test_under_xdist_an_orphan_belongs_to_the_worker_that_started_it() -> None:
    """`make test` runs two workers in one checkout: a worker's per-test check must not stop the launcher-less
    server the other worker's test is running, and must still catch its own and any untagged orphan."""
    repo = Path("/work/wt/mine")
    serve = ("/work/wt/mine/.venv/bin/python", "-m", "server.cli", "serve")
    assert leftovers.belongs_here(info(serve, cwd=str(repo), worker="gw0"), repo, set(), "gw0")
    assert not leftovers.belongs_here(info(serve, cwd=str(repo), worker="gw1"), repo, set(), "gw0")
    # Started with an environment of its own (or unreadable): nobody can tell whose, so every worker reports it.
    assert leftovers.belongs_here(info(serve, cwd=str(repo), worker=""), repo, set(), "gw0")
    assert leftovers.belongs_here(info(serve, cwd=str(repo), worker=None), repo, set(), "gw0")
    # Outside xdist every orphan of the checkout is this run's, whatever it inherited.
    assert leftovers.belongs_here(info(serve, cwd=str(repo), worker="gw1"), repo, set(), "")
    # A descendant is this worker's whatever its environment says.
    assert leftovers.belongs_here(info(serve, ppid=77, worker="gw1"), repo, {4242}, "gw0")


def test_the_worker_name_is_read_from_the_process_environment(tmp_path: Path) -> None:
    def started(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], ProcInfo]:
        """The child once it runs its own program: between fork and exec /proc still shows the parent's."""
        proc = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE, env=env)
        deadline = time.monotonic() + 15
        while (found := leftovers.read_proc(proc.pid)) is None or "-c" not in found.argv:
            assert time.monotonic() < deadline, "the child never started"
            time.sleep(0.01)
        return proc, found

    env = clean_env(**{leftovers.WORKER_VAR: "gw7"})
    proc, found = started(env)
    try:
        assert found.worker == "gw7"
    finally:
        proc.communicate(b"")
    env.pop(leftovers.WORKER_VAR, None)
    proc, found = started(env)
    try:
        assert found.worker == ""
    finally:
        proc.communicate(b"")
