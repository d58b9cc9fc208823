"""Finding the ``klikdok serve`` and ``klikdok-agent`` processes a test forgot to stop.

A fixture that stops the wrong process leaves a live server behind: it keeps its port, its database and a
share of the CPU, and when pytest exits it is reparented to PID 1 and runs until someone notices. The check
reads ``/proc`` only (no extra package) and looks at two kinds of process:

- descendants of the pytest process (what ``subprocess.Popen`` started and nobody waited for), and
- orphans (parent PID 1) whose working directory or executable lies inside this checkout: a child started
  by an intermediate process (``sh -c '... &'``, a demo launcher) that died first.

Processes of other checkouts on the same machine (other sessions run their suites concurrently) are neither
descendants of this pytest nor inside this checkout, so they are never reported, and neither is anything that
was already running before the test began.

`make test` runs the suite in several pytest-xdist workers of the same checkout at once. Descendants are
per worker already (the root is the worker's own pid). An orphan has lost its parent, so it is attributed by the
``PYTEST_XDIST_WORKER`` variable it inherited (every test child gets the worker's environment through
``clean_env``): a worker claims its own orphans and the untagged ones, never another worker's, which may be a
launcher-less server that worker's test is running right now (tests/foundation/test_leftover_check.py makes one).
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from tests.support import zygote

# (pid, start time in clock ticks since boot): a pid alone may be reused by a new process.
ProcessKey = tuple[int, int]

# The suite's pre-imported parent of servers, CLI runs and agents; ``leftovers`` never counts the zygote itself.
ZYGOTE_MODULE = zygote.__name__

# Set by pytest-xdist in each worker ("gw0", "gw1", ...) and inherited by what the worker starts.
WORKER_VAR = "PYTEST_XDIST_WORKER"


def this_worker() -> str:
    """The xdist worker this process is ("" when the suite runs in one process)."""
    return os.environ.get(WORKER_VAR, "")


@dataclass(frozen=True)
class ProcInfo:
    pid: int
    ppid: int
    state: str
    start: int
    argv: tuple[str, ...]
    cwd: str
    # The kernel's short name (/proc/PID/comm): what a zygote's child runs, as its command line is the zygote's.
    comm: str = ""
    # The xdist worker the process inherited from its starter; "" if none (started outside xdist or with an
    # environment of its own), None if the environment could not be read.
    worker: str | None = ""

    @property
    def key(self) -> ProcessKey:
        return (self.pid, self.start)

    def describe(self) -> str:
        forked = f" [forked: {self.comm}]" if ZYGOTE_MODULE in self.argv else ""
        return f"pid {self.pid} (parent {self.ppid}, cwd {self.cwd or '?'}): {' '.join(self.argv)}{forked}"


def _stat(pid: int) -> tuple[int, str, int] | None:
    """(parent pid, state, start time) of a process, or None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name in parentheses may itself contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(")") + 2 :].split()
    return int(fields[1]), fields[0], int(fields[19])


def read_proc(pid: int) -> ProcInfo | None:
    """One process from ``/proc``, or None if it is gone or unreadable."""
    stat = _stat(pid)
    if stat is None:
        return None
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    try:
        cwd = os.readlink(f"/proc/{pid}/cwd")
    except OSError:
        cwd = ""
    try:
        comm = Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        comm = ""
    return ProcInfo(
        pid=pid,
        ppid=stat[0],
        state=stat[1],
        start=stat[2],
        argv=tuple(a.decode(errors="replace") for a in argv if a),
        cwd=cwd,
        comm=comm,
        worker=_worker_of(pid),
    )


def _worker_of(pid: int) -> str | None:
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    prefix = WORKER_VAR.encode() + b"="
    for entry in environ:
        if entry.startswith(prefix):
            return entry[len(prefix) :].decode(errors="replace")
    return ""


def _pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]


def processes() -> list[ProcInfo]:
    return [info for pid in _pids() if (info := read_proc(pid)) is not None]


def is_klikdok_program(argv: tuple[str, ...]) -> bool:
    """``klikdok serve`` or ``klikdok-agent ...``, run as a module (``python -m server.cli serve``, as the tests
    do), through the installed entry points, or forked by the suite's zygote (tests/support/zygote.py), whose
    children keep its command line."""
    names = [Path(a).name for a in argv[:2]]
    if "klikdok-agent" in names:
        return True
    if "klikdok" in names and "serve" in argv:
        return True
    for i, arg in enumerate(argv[:-1]):
        if arg == "-m" and argv[i + 1] == ZYGOTE_MODULE:  # a program the zygote forked (or the zygote: see below)
            return True
        if arg == "-m" and argv[i + 1] == "agent.cli":
            return True
        if arg == "-m" and argv[i + 1] == "server.cli" and "serve" in argv[i + 2 :]:
            return True
    return False


def _inside(path: str, repo: Path) -> bool:
    return bool(path) and (path == str(repo) or path.startswith(str(repo) + os.sep))


def belongs_here(info: ProcInfo, repo: Path, descendants: set[int], worker: str = "") -> bool:
    """Started by this pytest (a descendant), or an orphan of this checkout (reparented to PID 1) that no other
    xdist worker of the run started (``worker`` is this one's name, "" outside xdist)."""
    if info.pid in descendants:
        return True
    if info.ppid != 1 or not (_inside(info.cwd, repo) or any(_inside(a, repo) for a in info.argv[:1])):
        return False
    return not worker or not info.worker or info.worker == worker


def descendants_of(root: int, table: list[ProcInfo]) -> set[int]:
    children: dict[int, list[int]] = {}
    for p in table:
        children.setdefault(p.ppid, []).append(p.pid)
    found: set[int] = set()
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found:
                found.add(child)
                stack.append(child)
    return found


def snapshot() -> set[ProcessKey]:
    """Every process alive now (its stat line only, cheap enough for every test): what a test may leave
    running is what is new since."""
    return {(pid, stat[2]) for pid in _pids() if (stat := _stat(pid)) is not None}


def leftovers(before: set[ProcessKey], repo: Path, root: int | None = None) -> list[ProcInfo]:
    """KlikDok servers and agents of this run that are alive now and were not before (zombies are dead). This
    worker's zygote is meant to outlive the test that started it; what it forked is not."""
    keep = zygote.ZYGOTE.pids()
    stats = {pid: stat for pid in _pids() if (stat := _stat(pid)) is not None}
    new = [
        pid
        for pid, (_, state, start) in stats.items()
        if (pid, start) not in before and state != "Z" and pid not in keep
    ]
    if not new:
        return []
    table = [info for pid in new if (info := read_proc(pid)) is not None]
    family = [
        ProcInfo(pid=pid, ppid=ppid, state=state, start=start, argv=(), cwd="")
        for pid, (ppid, state, start) in stats.items()
    ]
    mine = descendants_of(root if root is not None else os.getpid(), family)
    worker = this_worker()
    return [
        p
        for p in table
        if p.key not in before and p.state != "Z" and is_klikdok_program(p.argv) and belongs_here(p, repo, mine, worker)
    ]


def terminate(found: list[ProcInfo], grace: float = 10.0) -> None:
    """Stop what a test left behind (by pid, after checking it is still the same process), so one forgotten
    server fails one test instead of outliving the run."""
    for p in found:
        current = read_proc(p.pid)
        if current is not None and current.key == p.key:
            os.kill(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace
    for p in found:
        while (current := read_proc(p.pid)) is not None and current.key == p.key and current.state != "Z":
            if time.monotonic() > deadline:
                os.kill(p.pid, signal.SIGKILL)
                break
            time.sleep(0.05)
