"""Benchmarks: collected from bench_*.py, timed with pytest-benchmark, summarised side by side.

Run with `make bench` or `.venv/bin/python -m pytest benchmarks -q -p no:cacheprovider`.  Nothing here
passes or fails on speed; the summary at the end prints the ratios the README's Performance section uses.
"""

from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Any

import pytest

# name -> best (minimum) wall-clock seconds of one round, filled by the benchmarks through `record`.
RESULTS: dict[str, float] = {}
# Lines a benchmark adds to the closing summary as they are (figures that are not a best round).
EXTRA_LINES: list[str] = []


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    # Files named on the command line are collected by pytest itself; collect the rest here.
    if file_path.suffix == ".py" and file_path.name.startswith("bench_") and not parent.session.isinitpath(file_path):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def record(benchmark: Any) -> Any:
    """Run ``benchmark.pedantic`` and keep its minimum under a name for the closing summary."""

    def run(name: str, fn: Any, *, rounds: int, args: tuple[Any, ...] = (), warmup: int = 0) -> Any:
        result = benchmark.pedantic(fn, args=args, rounds=rounds, iterations=1, warmup_rounds=warmup)
        if benchmark.stats is not None:
            RESULTS[name] = benchmark.stats.stats.min
        return result

    return run


@pytest.fixture
def record_paired(benchmark: Any) -> Any:
    """Time two contenders alternately, round by round, and keep each one's best round.

    The machine is shared, so load comes and goes; alternating exposes both contenders to the same
    conditions and their ratio stays meaningful.  pytest-benchmark's table shows one round of the pair.
    """

    def run(pairs: dict[str, Any], *, rounds: int) -> dict[str, Any]:
        best: dict[str, float] = {name: float("inf") for name in pairs}
        results: dict[str, Any] = {}

        def one_round() -> None:
            for name, fn in pairs.items():
                start = time.perf_counter()
                results[name] = fn()
                best[name] = min(best[name], time.perf_counter() - start)

        benchmark.pedantic(one_round, rounds=rounds, iterations=1, warmup_rounds=0)
        RESULTS.update(best)
        benchmark.extra_info.update({f"{name}_best_s": value for name, value in best.items()})
        return results

    return run


RESULTS_FILE = Path(__file__).with_name("results.json")


def machine() -> dict[str, object]:
    """Where the figures come from: they mean little without it."""
    import datetime as dt
    import os
    import platform
    import subprocess

    model = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    openssl = subprocess.run(["openssl", "version"], capture_output=True, text=True).stdout.strip()
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d"),
        "cores": os.cpu_count() or 1,
        "cpu": model,
        "python": platform.python_version(),
        "openssl": openssl,
    }


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    from benchmarks.goals import rows

    tr = terminalreporter
    tr.section("KlikDok benchmark summary (best round, wall clock)")
    for name in sorted(RESULTS):
        tr.write_line(f"  {name:<72} {RESULTS[name] * 1000:10.3f} ms")
    where = machine()
    table = rows(RESULTS, int(str(where["cores"])))
    tr.write_line("  goals (ratio next to its target; * not met, ? not measured in this run):")
    for row in table:
        if row["value"] is None:
            continue
        mark = {True: " ", False: "*", None: " "}[row["met"]]  # type: ignore[index]  # met is bool | None
        tr.write_line(f"   {mark} {str(row['what'])[:86]:<86} {row['value_text']:>16}  {row['target_text']}")
    for line in EXTRA_LINES:
        tr.write_line(line)
    RESULTS_FILE.write_text(
        json.dumps({"machine": where, "results": RESULTS, "notes": EXTRA_LINES}, ensure_ascii=False, indent=1) + "\n"
    )
    shown = RESULTS_FILE.relative_to(Path.cwd()) if RESULTS_FILE.is_relative_to(Path.cwd()) else RESULTS_FILE
    tr.write_line(f"  figures written to {shown}; `python -m benchmarks.readme` puts them into README.md")
