"""The suite's zygote (tests/support/zygote.py) runs our programs as ``python -m`` would: same output, exit
status, working directory and environment, signals and exit codes as ``subprocess.Popen`` reports them, and
nothing it forked outlives it."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.support import leftovers, zygote
from tests.support.server import KLIKDOK, REPO, clean_env, start_server


def both(args: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], ...]:
    """The same command run for real in ``cwd/real`` and forked in ``cwd/forked``."""
    done = []
    for name, run in (("real", subprocess.run), ("forked", zygote.run)):
        (cwd / name).mkdir(exist_ok=True)
        done.append(run(args, cwd=cwd / name, env=env, text=True, capture_output=True, timeout=60))
    return tuple(done)


def test_a_forked_command_prints_and_exits_as_the_real_one(tmp_path: Path) -> None:
    # A relative --config and a data folder named by the environment: the child has the caller's cwd and variables.
    for name in ("real", "forked"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "klikdok.toml").write_text('[server]\nlisten = "127.0.0.1:1"\n')
    env = clean_env(KLIKDOK_STORAGE_DATA_DIR="data")
    real, forked = both([*KLIKDOK, "--config", "klikdok.toml", "migrate"], cwd=tmp_path, env=env)
    assert real.returncode == 0 and "0001_core" in real.stdout
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)
    assert (tmp_path / "forked" / "data" / "klikdok.db").is_file()

    real, forked = both([*KLIKDOK, "--config", "klikdok.toml", "migrate", "--list"], cwd=tmp_path, env=env)
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)

    real, forked = both([*KLIKDOK, "no-such-command"], cwd=tmp_path, env=env)
    assert real.returncode == 2 and "no-such-command" in real.stderr
    assert (forked.returncode, forked.stdout, forked.stderr) == (real.returncode, real.stdout, real.stderr)


def test_a_forked_server_is_a_process_of_its_own_with_popens_exit_codes(tmp_path: Path) -> None:
    server = start_server(tmp_path / "a")
    assert isinstance(server.proc, zygote.ForkedProcess)
    assert server.proc.poll() is None
    with pytest.raises(subprocess.TimeoutExpired):
        server.proc.wait(0.1)
    assert server.stop() == 0  # SIGTERM: a clean shutdown, as with a real process
    assert server.proc.poll() == 0

    killed = start_server(tmp_path / "b")
    assert killed.proc.pid != server.proc.pid
    assert killed.stop(signal.SIGKILL) == -signal.SIGKILL


def test_what_the_zygote_forked_dies_with_it(tmp_path: Path) -> None:
    """A pytest worker that dies closes the zygote's stdin: the zygote takes its children with it."""
    own = zygote._Zygote()
    path = own.socket_path()
    assert path is not None
    saved = zygote.ZYGOTE
    zygote.ZYGOTE = own
    try:
        server = start_server(tmp_path / "data")
    finally:
        zygote.ZYGOTE = saved
    pid = server.proc.pid
    own.stop()
    deadline = time.monotonic() + 10
    while (info := leftovers.read_proc(pid)) is not None and info.state != "Z":
        assert time.monotonic() < deadline, "the forked server outlived its zygote"
        time.sleep(0.05)
    assert server.proc.wait(5) == -signal.SIGKILL


def test_other_programs_start_for_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    python = zygote.popen(["sh", "-c", "exit 3"], cwd=REPO, env=clean_env())
    assert isinstance(python, subprocess.Popen) and python.wait(10) == 3
    monkeypatch.setenv(zygote.DISABLE_ENV, "1")
    server = start_server(tmp_path / "data")
    try:
        assert isinstance(server.proc, subprocess.Popen)
    finally:
        server.stop()
