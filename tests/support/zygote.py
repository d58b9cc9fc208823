"""A pre-imported parent that forks the suite's servers, CLI runs and agents instead of starting Python anew.

The suites start about a thousand KlikDok processes. Each ``python -m server.cli serve`` spent most of its
second of CPU importing Litestar, asn1crypto, httpx and our own packages before doing anything the test looks
at; on the 2-core CI box that alone was a third of the run. Each pytest worker keeps one zygote: a process that
has imported all that once and forks a child per request. The child applies what ``subprocess.Popen`` would
(argv, working directory, environment, the three standard streams) and runs the module as ``python -m`` does,
so the program under test is the same code from the same checkout; only the interpreter start is shared.

The parent of a forked program is the zygote, not the test, so :class:`ForkedProcess` stands in for
``subprocess.Popen`` (pid, ``poll``, ``wait``, signals, ``returncode``): the zygote reaps its children and sends
each exit status back over the request's own connection. ``KLIKDOK_TEST_EXEC=1`` (or an argv that is not one of
our modules) starts real processes instead; tests/foundation/test_zygote.py holds the two ways to the same
behaviour.

Run as ``python -m tests.support.zygote SOCKET``: it imports, listens on the Unix socket ``SOCKET``, prints
``ready`` and serves until its standard input closes (the pytest worker is gone), killing what it forked.
"""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import json
import os
import selectors
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

# The checkout: what the forked programs run (tests/support/server.py's REPO, not imported here to keep the
# zygote's own imports to the programs').
REPO = Path(__file__).resolve().parents[2]
# What ``python -m`` may run through the zygote: our programs. Anything else is started for real.
PROGRAMS = {"server.cli": "klikdok", "agent.cli": "klikdok-agent", "cades.cli": "klikdok-verify"}
FORKABLE = frozenset(PROGRAMS)
# Imported once in the zygote; ``server.cli`` itself loads the web application only inside ``serve``.
PRELOAD = (
    "server.cli",
    "server.app",
    "server.doctor",
    "agent.cli",
    "agent.client",
    "cades.cli",
    "server.connections",
    # What ``klikdok serve``'s uvicorn.Config loads, and nothing else: a module that warns on import (uvicorn's
    # legacy websockets) would warn in the zygote only, and the programs' stderr would differ from a real start.
    "uvicorn",
    "uvicorn.lifespan.on",
    "uvicorn.loops.auto",
    "uvicorn.loops.asyncio",
    "uvicorn.protocols.websockets.websockets_sansio_impl",
)
DISABLE_ENV = "KLIKDOK_TEST_EXEC"
_STATUS = struct.Struct("!i")
_LENGTH = struct.Struct("!I")
_NO_STATUS = -int(signal.SIGKILL)  # the zygote died before it could say: the child died with it


# --- the zygote process ------------------------------------------------------------------------------------


class _Request:
    def __init__(self, module: str, args: list[str], env: dict[str, str], cwd: str) -> None:
        self.module, self.args, self.env, self.cwd = module, args, env, cwd


def _receive(conn: socket.socket) -> tuple[dict[str, Any], list[int]]:
    data, fds, _flags, _addr = socket.recv_fds(conn, 1 << 16, 3)
    while len(data) < _LENGTH.size or len(data) < _LENGTH.size + _LENGTH.unpack_from(data)[0]:
        more = conn.recv(1 << 16)
        if not more:
            raise ConnectionError("request cut short")
        data += more
    (length,) = _LENGTH.unpack_from(data)
    return json.loads(data[_LENGTH.size : _LENGTH.size + length]), fds


def _serve(path: str) -> _Request | None:
    """The zygote's loop. Returns only in a forked child, with what it is to run (None: the zygote is done)."""
    for name in PRELOAD:
        with contextlib.suppress(ImportError):
            importlib.import_module(name)
    if threading.active_count() != 1:  # fork copies one thread: a helper thread's locks would stay held
        print("threads", flush=True)
        return None
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen(64)
    selector = selectors.DefaultSelector()
    selector.register(listener, selectors.EVENT_READ, "accept")
    selector.register(sys.stdin.fileno(), selectors.EVENT_READ, "parent")
    children: dict[int, tuple[int, socket.socket]] = {}  # pidfd -> (pid, the requester's connection)
    print("ready", flush=True)
    while True:
        for key, _ in selector.select():
            if key.data == "parent":  # the pytest worker is gone: nothing may outlive it
                for pid, conn in children.values():
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, signal.SIGKILL)
                    with contextlib.suppress(ChildProcessError):
                        os.waitpid(pid, 0)
                    conn.close()
                return None
            if key.data == "accept":
                conn, _ = listener.accept()
                try:
                    request, fds = _receive(conn)
                except (OSError, ValueError):
                    conn.close()
                    continue
                sys.stdout.flush()
                sys.stderr.flush()
                pid = os.fork()
                if pid == 0:
                    # The child keeps nothing of the zygote's but the imported modules.
                    selector.close()
                    listener.close()
                    for pidfd, (_, other) in children.items():
                        os.close(pidfd)
                        other.close()
                    conn.close()
                    os.close(sys.stdin.fileno())
                    for target, fd in enumerate(fds):
                        os.dup2(fd, target)
                    for fd in fds:
                        if fd > 2:
                            os.close(fd)
                    return _Request(request["module"], request["args"], request["env"], request["cwd"])
                for fd in fds:
                    os.close(fd)
                pidfd = os.pidfd_open(pid)
                children[pidfd] = (pid, conn)
                selector.register(pidfd, selectors.EVENT_READ, "child")
                with contextlib.suppress(OSError):
                    conn.sendall(_STATUS.pack(pid))
                continue
            pidfd = key.fd
            pid, conn = children.pop(pidfd)
            selector.unregister(pidfd)
            os.close(pidfd)
            _, status = os.waitpid(pid, 0)
            with contextlib.suppress(OSError):
                conn.sendall(_STATUS.pack(os.waitstatus_to_exitcode(status)))
            conn.close()


def _run(request: _Request) -> None:
    """What ``python -m MODULE ARGS`` does after the interpreter started, in the process state Popen gives."""
    import runpy

    # The kernel's short name for the process (15 bytes), so a leftover report can say what a child runs.
    with contextlib.suppress(OSError):
        Path("/proc/self/comm").write_text(f"{PROGRAMS[request.module]} {' '.join(request.args[-1:])}"[:15])
    os.chdir(request.cwd)
    os.environ.clear()
    os.environ.update(request.env)
    time.tzset()
    tempfile.tempdir = None  # TMPDIR is read on first use: this child's, not the zygote's
    sys.path[0] = request.cwd  # ``-m`` puts the working directory first
    sys.argv = [request.module, *request.args]
    # ``python -m`` runs the module's code as __main__, apart from any ``import server.cli`` (a second copy):
    # what the zygote imported under its own name is dropped, so it is the same here (and runpy does not warn).
    sys.modules.pop(request.module, None)
    try:
        runpy.run_module(request.module, run_name="__main__", alter_sys=True)
        code = 0
    except SystemExit as exc:
        code = _exit_code(exc.code)
    except BaseException:
        sys.excepthook(*sys.exc_info())
        code = 1
    # What an interpreter's exit does that anyone can see: non-daemon threads joined, atexit handlers run (logging
    # flushes there), the standard streams flushed. Not the rest: freeing every module the zygote imported took
    # a fifth of a second of each CLI run.
    threading._shutdown()  # type: ignore[attr-defined]  # what Py_FinalizeEx calls first
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """The status ``sys.exit(code)`` ends a process with: None is 0, a number is itself, anything else is printed
    and is 1."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    print(code, file=sys.stderr)
    return 1


# --- the test side -----------------------------------------------------------------------------------------


class ForkedProcess:
    """A forked program as ``subprocess.Popen`` shows one: what the tests call on a server or an agent."""

    def __init__(self, args: list[str], pid: int, conn: socket.socket, pipes: dict[str, IO[Any]]) -> None:
        self.args = args
        self.pid = pid
        self.returncode: int | None = None
        self._conn = conn
        self.stdin: IO[Any] | None = pipes.get("stdin")
        self.stdout: IO[Any] | None = pipes.get("stdout")
        self.stderr: IO[Any] | None = pipes.get("stderr")

    def _collect(self, timeout: float | None) -> int | None:
        if self.returncode is not None:
            return self.returncode
        self._conn.settimeout(timeout)
        data = b""
        try:
            while len(data) < _STATUS.size:
                chunk = self._conn.recv(_STATUS.size - len(data))
                if not chunk:
                    break
                data += chunk
        except (TimeoutError, BlockingIOError):
            if data:  # never split: the status is four bytes sent at once
                raise
            return None
        self.returncode = _STATUS.unpack(data)[0] if len(data) == _STATUS.size else _NO_STATUS
        self._conn.close()
        return self.returncode

    def poll(self) -> int | None:
        return self._collect(0)

    def wait(self, timeout: float | None = None) -> int:
        code = self._collect(timeout)
        if code is None:
            raise subprocess.TimeoutExpired(self.args, timeout or 0)
        return code

    def send_signal(self, sig: int) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, timeout: float | None = None) -> tuple[Any, Any]:
        """Both pipes to their end, then the exit status (stdin is never a pipe here)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        outputs: dict[str, list[Any]] = {}
        with selectors.DefaultSelector() as sel:
            for name in ("stdout", "stderr"):
                stream = getattr(self, name)
                if stream is not None:
                    outputs[name] = []
                    sel.register(stream.fileno(), selectors.EVENT_READ, name)
            while sel.get_map():
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    raise subprocess.TimeoutExpired(self.args, timeout or 0)
                for key, _ in sel.select(left):
                    chunk = os.read(key.fd, 1 << 16)
                    if chunk:
                        outputs[key.data].append(chunk)
                    else:
                        sel.unregister(key.fd)
        results: list[Any] = []
        for name in ("stdout", "stderr"):
            stream = getattr(self, name)
            if stream is None:
                results.append(None)
                continue
            raw = b"".join(outputs[name])
            results.append(raw.decode(errors="replace") if isinstance(stream, io.TextIOBase) else raw)
            stream.close()
        left = None if deadline is None else max(0.0, deadline - time.monotonic())
        self.wait(left)
        return results[0], results[1]


class _Zygote:
    """This pytest worker's zygote, started on first use."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._path = ""
        self._broken = False
        self._folder = ""

    def pids(self) -> frozenset[int]:
        """The zygote's own pid while it runs (not a leftover, though its children are)."""
        proc = self._proc
        return frozenset({proc.pid}) if proc is not None and proc.poll() is None else frozenset()

    def socket_path(self) -> str | None:
        with self._lock:
            if self._broken:
                return None
            if self._proc is None or self._proc.poll() is not None:
                self._start()
            return self._path or None

    def _start(self) -> None:
        self._folder = tempfile.mkdtemp(prefix="klikdok-zygote-")
        self._path = os.path.join(self._folder, "socket")
        # The worker's environment without our settings (each child gets its own); PYTEST_XDIST_WORKER stays, so
        # an orphan of this zygote is attributed to this worker (tests/support/leftovers.py).
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "tests.support.zygote", self._path],
            cwd=REPO,
            env={k: v for k, v in os.environ.items() if not k.startswith("KLIKDOK_")},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline().strip()
        if line != b"ready":
            self._broken = True
            self._path = ""
            self.stop()
            return
        atexit.register(self.stop)

    def stop(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.stdin is not None:
            proc.stdin.close()  # the zygote kills what it forked and exits
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()
        shutil.rmtree(self._folder, ignore_errors=True)


ZYGOTE = _Zygote()


def _forkable(args: Sequence[str]) -> str | None:
    """The module of ``[python, -m, module, ...]`` if the zygote may run it."""
    if len(args) >= 3 and args[0] == sys.executable and args[1] == "-m" and args[2] in FORKABLE:
        return args[2]
    return None


def _stream_fd(spec: Any, name: str, default: int, opened: list[int], pipes: dict[str, IO[Any]], text: bool) -> int:
    """The fd the child gets for one standard stream, as Popen reads ``stdin=``/``stdout=``/``stderr=``."""
    if spec is None:
        return default
    if spec == subprocess.DEVNULL:
        fd = os.open(os.devnull, os.O_RDWR)
        opened.append(fd)
        return fd
    if spec == subprocess.PIPE:
        read, write = os.pipe()
        opened.append(write)
        pipes[name] = open(read, "r" if text else "rb", closefd=True)
        return write
    if isinstance(spec, int):
        return spec
    return int(spec.fileno())


def popen(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    stdin: Any = None,
    stdout: Any = None,
    stderr: Any = None,
    text: bool = False,
) -> subprocess.Popen[Any] | ForkedProcess:
    """``subprocess.Popen(args, ...)``, forked from the zygote when ``args`` runs one of our modules."""
    module = _forkable(args)
    path = None
    if module is not None and os.environ.get(DISABLE_ENV) != "1":
        path = ZYGOTE.socket_path()
    if path is None or module is None:
        return subprocess.Popen(
            list(args), cwd=cwd, env=dict(env), stdin=stdin, stdout=stdout, stderr=stderr, text=text
        )
    opened: list[int] = []
    pipes: dict[str, IO[Any]] = {}
    try:
        fds = [
            _stream_fd(stdin if stdin is not None else subprocess.DEVNULL, "stdin", 0, opened, pipes, text),
            _stream_fd(stdout, "stdout", 1, opened, pipes, text),
            _stream_fd(stderr, "stderr", 2, opened, pipes, text),
        ]
        body = json.dumps({"module": module, "args": list(args[3:]), "env": dict(env), "cwd": str(cwd)}).encode()
        conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        conn.connect(path)
        socket.send_fds(conn, [_LENGTH.pack(len(body)) + body], fds)
        data = b""
        while len(data) < _STATUS.size:
            chunk = conn.recv(_STATUS.size - len(data))
            if not chunk:
                raise RuntimeError("the zygote closed the connection before it forked")
            data += chunk
    except BaseException:
        for stream in pipes.values():
            stream.close()
        raise
    finally:
        for fd in opened:
            os.close(fd)
    return ForkedProcess(list(args), _STATUS.unpack(data)[0], conn, pipes)


def run(
    args: Sequence[str],
    *,
    cwd: Path | str,
    env: Mapping[str, str],
    text: bool = False,
    capture_output: bool = False,
    timeout: float | None = None,
) -> subprocess.CompletedProcess[Any]:
    """``subprocess.run(args, ...)`` through :func:`popen`; on a timeout the program is killed, as run does."""
    pipe = subprocess.PIPE if capture_output else None
    proc = popen(args, cwd=cwd, env=env, stdout=pipe, stderr=pipe, text=text)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    code = proc.returncode
    assert code is not None
    return subprocess.CompletedProcess(list(args), code, out, err)


if __name__ == "__main__":
    _request = _serve(sys.argv[1])
    if _request is not None:
        del _serve
        _run(_request)
