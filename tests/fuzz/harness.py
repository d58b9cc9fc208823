"""The fuzz harness's driver: N mutated inputs per parser, each in a worker process under a 2-second limit.

``python -m tests.fuzz.harness [-n N] [--seed S] [--only cms,tsl] [--time-budget SECONDS] [--findings DIR]``

Per parser it prints inputs run, unhandled exceptions (anything but the parser's documented refusal), hangs
(an input that took over ``--timeout`` seconds, 2 by default), and false "valid" verdicts (a mutated signature or
document reported valid: see the oracles in :mod:`tests.fuzz.targets`), plus how many inputs were accepted and
refused. Exit status 1 on any finding. Each finding's input is written to ``--findings`` (default
``test-artifacts/fuzz``) with the exception, so it can be replayed with ``--replay FILE --only PARSER``.

Why a worker process and not ``signal.alarm``: a hang inside C code (expat, libxml2, a regex) never returns to
the interpreter, so an alarm handler would not run either; the driver waits on the worker's pipe instead and kills
the worker when the answer does not come in time, then starts a new one and carries on. Inputs are made in the
driver from ``(seed, parser, index)``, so every run is reproducible.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import logging
import multiprocessing as mp
import os
import random
import sys
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path

from .targets import TARGETS, Target

HANG_SECONDS = 2.0
START_SECONDS = 60.0  # a fresh worker imports its parser and (for the HTTP targets) starts the application


@dataclass
class Figures:
    parser: str
    what: str
    inputs: int = 0
    accepted: int = 0
    refused: int = 0
    unhandled: int = 0
    hangs: int = 0
    false_valid: int = 0
    seconds: float = 0.0
    slowest: float = 0.0
    examples: list[str] = field(default_factory=list)

    @property
    def findings(self) -> int:
        return self.unhandled + self.hangs + self.false_valid


def resolve(name: str) -> Target:
    """A parser of :data:`TARGETS` by name, or any ``module:attribute`` Target (the harness's own tests plant
    broken parsers that way, to see each kind of finding caught)."""
    if ":" in name:
        module, _, attribute = name.partition(":")
        target: Target = getattr(importlib.import_module(module), attribute)
        return target
    return TARGETS[name]


def _worker(name: str, conn: Connection) -> None:
    """Set the parser up once, then answer one input at a time: (verdict, detail, seconds)."""
    logging.disable(logging.ERROR)  # the application logs every refusal; a 5xx answer is the finding, not its log
    sys.setrecursionlimit(max(sys.getrecursionlimit(), 1000))
    try:
        target = resolve(name)
        run = target.setup()
    except BaseException:
        conn.send(("setup_failed", traceback.format_exc(), 0.0))
        return
    # Warm-up, untimed: the first request compiles the page templates, the first verification fills the caches.
    # On a loaded machine that first call can take a second, which is start-up, not a hang; the seeds then run
    # again, timed, as the first inputs.
    for seed in target.seeds() if target.warm_up else []:
        try:
            run(seed)
        except BaseException:  # the timed run of the same seed reports it
            pass
    conn.send(("ready", "", 0.0))
    while True:
        try:
            data = conn.recv_bytes()
        except EOFError:
            return
        start = time.perf_counter()
        try:
            verdict, detail = run(data)
        except BaseException as exc:  # every escape is the finding being looked for
            verdict, detail = "unhandled", "".join(traceback.format_exception(exc))[-12_000:]
        conn.send((verdict, detail, time.perf_counter() - start))


class Worker:
    def __init__(self, name: str) -> None:
        self.name = name
        ctx = mp.get_context("spawn")
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_worker, args=(self.name, child), daemon=True)
        self.process.start()
        child.close()
        if not self.conn.poll(START_SECONDS):
            self.kill()
            raise RuntimeError(f"{self.name}: the worker did not start in {START_SECONDS:.0f} s")
        verdict, detail, _ = self.conn.recv()
        if verdict != "ready":
            self.kill()
            raise RuntimeError(f"{self.name}: the parser's setup failed:\n{detail}")

    def ask(self, data: bytes, timeout: float) -> tuple[str, str, float] | None:
        """The worker's answer, or None when it did not come within ``timeout`` (the worker is then killed)."""
        try:
            self.conn.send_bytes(data)
            if self.conn.poll(timeout):
                answer: tuple[str, str, float] = self.conn.recv()
                return answer
        except (EOFError, OSError, BrokenPipeError):
            self.kill()
            return ("unhandled", f"the worker died (exit code {self.process.exitcode})", 0.0)
        self.kill()
        return None

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def inputs_for(target: Target, seed: int) -> tuple[list[bytes], random.Random]:
    seeds = target.seeds()
    if not seeds:
        raise RuntimeError(f"{target.name}: no seed files")
    rng = random.Random(f"{seed}:{target.name}")
    return seeds, rng


def fuzz_one(
    target: Target,
    n: int,
    *,
    seed: int = 0,
    timeout: float = HANG_SECONDS,
    seconds: float | None = None,
    findings_dir: Path | None = None,
) -> Figures:
    """Run ``n`` inputs (the seeds themselves first) through one parser; stop early after ``seconds`` of
    fuzzing (counted once the worker is ready: setting up the application is not the parser's time), though
    never before every seed has run."""
    figures = Figures(target.name, target.what)
    seeds, rng = inputs_for(target, seed)
    worker = Worker(target.name)
    began = time.monotonic()
    deadline = None if seconds is None else began + seconds
    try:
        for index in range(n):
            if deadline is not None and index >= len(seeds) and time.monotonic() > deadline:
                break
            data = seeds[index] if index < len(seeds) else target.mutate(rng, rng.choice(seeds), seeds)
            answer = worker.ask(data, timeout)
            figures.inputs += 1
            if answer is None:
                figures.hangs += 1
                _record(figures, findings_dir, "hang", data, f"no answer in {timeout:.1f} s")
                worker = Worker(target.name)
                continue
            verdict, detail, seconds = answer
            figures.slowest = max(figures.slowest, seconds)
            if verdict == "accepted":
                figures.accepted += 1
            elif verdict == "refused":
                figures.refused += 1
            elif verdict == "false_valid":
                figures.false_valid += 1
                _record(figures, findings_dir, verdict, data, detail)
            else:
                figures.unhandled += 1
                _record(figures, findings_dir, "unhandled", data, detail)
                if not worker.process.is_alive():
                    worker = Worker(target.name)
            if seconds > timeout and verdict != "unhandled":
                figures.hangs += 1
                _record(figures, findings_dir, "hang", data, f"took {seconds:.2f} s")
    finally:
        worker.kill()
        figures.seconds = time.monotonic() - began
    return figures


def _record(figures: Figures, folder: Path | None, kind: str, data: bytes, detail: str) -> None:
    digest = hashlib.sha256(data).hexdigest()[:16]
    last = detail.strip().splitlines()[-1] if detail.strip() else kind
    line = f"{kind}: {last[:160]} [{digest}]"
    if len(figures.examples) < 5:
        figures.examples.append(line)
    if folder is not None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{figures.parser}-{kind}-{digest}.bin").write_bytes(data)
        (folder / f"{figures.parser}-{kind}-{digest}.txt").write_text(detail)


def table(rows: list[Figures]) -> str:
    header = (
        f"{'parser':<12} {'inputs':>8} {'accepted':>9} {'refused':>8} {'unhandled':>9} {'hangs>2s':>8} "
        f"{'valid(mutated)':>14} {'slowest s':>9} {'inputs/s':>8}"
    )
    lines = [header, "-" * len(header)]
    for f in rows:
        rate = f.inputs / f.seconds if f.seconds else 0.0
        lines.append(
            f"{f.parser:<12} {f.inputs:>8} {f.accepted:>9} {f.refused:>8} {f.unhandled:>9} {f.hangs:>8} "
            f"{f.false_valid:>14} {f.slowest:>9.3f} {rate:>8.0f}"
        )
    total = sum(f.inputs for f in rows)
    lines.append(f"total inputs {total}; findings {sum(f.findings for f in rows)}")
    for f in rows:
        lines.extend(f"  {f.parser}: {example}" for example in f.examples)
    return "\n".join(lines)


def run_all(
    n: int,
    *,
    only: list[str] | None = None,
    seed: int = 0,
    timeout: float = HANG_SECONDS,
    time_budget: float | None = None,
    findings_dir: Path | None = None,
    progress: bool = False,
    jobs: int = 1,
) -> list[Figures]:
    """Every parser, ``jobs`` at a time (each in its own worker process; the driver's threads only wait on their
    pipes). ``time_budget`` (seconds of fuzzing for all parsers together, not counting each worker's start) is
    shared out evenly."""
    names = only or list(TARGETS)
    jobs = max(1, min(jobs, len(names)))
    rounds = -(-len(names) // jobs)
    share = None if time_budget is None else time_budget / rounds
    done: dict[str, Figures] = {}

    def one(name: str) -> Figures:
        figures = fuzz_one(TARGETS[name], n, seed=seed, timeout=timeout, seconds=share, findings_dir=findings_dir)
        if progress:
            print(table([figures]).splitlines()[2], flush=True)
        return figures

    if jobs == 1:
        for name in names:
            done[name] = one(name)
    else:
        with ThreadPoolExecutor(jobs) as pool:
            futures = {name: pool.submit(one, name) for name in names}
            done = {name: future.result() for name, future in futures.items()}
    return [done[name] for name in names]


def replay(name: str, path: Path) -> int:
    run = TARGETS[name].setup()
    start = time.perf_counter()
    verdict, detail = run(path.read_bytes())
    print(f"{name}: {verdict} {detail} ({time.perf_counter() - start:.3f} s)")
    return 0 if verdict in ("accepted", "refused") else 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=int(os.environ.get("FUZZ_N", "100000")), help="inputs per parser")
    parser.add_argument("--seed", type=int, default=int(os.environ.get("FUZZ_SEED", "0")))
    parser.add_argument("--only", default=os.environ.get("FUZZ_ONLY", ""), help="comma-separated parser names")
    parser.add_argument("--timeout", type=float, default=HANG_SECONDS)
    parser.add_argument("--time-budget", type=float, default=None, help="seconds of fuzzing, all parsers together")
    parser.add_argument("--findings", type=Path, default=Path("test-artifacts/fuzz"))
    parser.add_argument("--replay", type=Path, default=None)
    parser.add_argument("--jobs", type=int, default=int(os.environ.get("FUZZ_JOBS", "1")), help="parsers at a time")
    args = parser.parse_args(argv)
    only = [n for n in args.only.split(",") if n] or None
    unknown = [n for n in only or [] if n not in TARGETS]
    if unknown:
        parser.error(f"unknown parser(s) {unknown}; known: {', '.join(TARGETS)}")
    if args.replay is not None:
        if not only or len(only) != 1:
            parser.error("--replay needs --only with one parser")
        return replay(only[0], args.replay)
    rows = run_all(
        args.n,
        only=only,
        seed=args.seed,
        timeout=args.timeout,
        time_budget=args.time_budget,
        findings_dir=args.findings,
        progress=True,
        jobs=args.jobs,
    )
    print(table(rows))
    return 1 if any(f.findings for f in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
