"""Benchmarks: collected from bench_*.py, timed with pytest-benchmark, summarised side by side.

Run with `make bench` or `.venv/bin/python -m pytest benchmarks -q -p no:cacheprovider`.  Nothing here
passes or fails on speed; the summary at the end prints the ratios the README's Performance section uses.
"""

from __future__ import annotations

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


def _ratio(fast: str, slow: str) -> str:
    if fast in RESULTS and slow in RESULTS and RESULTS[fast] > 0:
        return f"{RESULTS[slow] / RESULTS[fast]:.2f}x"
    return "n/a"


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not RESULTS:
        return
    tr = terminalreporter
    tr.section("KlikDok GOST benchmark summary (best round, wall clock)")
    for name in sorted(RESULTS):
        tr.write_line(f"  {name:<44} {RESULTS[name] * 1000:10.3f} ms")
    lines = [
        ("hash_file 256 MiB throughput vs openssl dgst", "hash_file_256mib", "openssl_dgst_256mib"),
        ("pure-Python Streebog-256 64 KiB vs gostcrypto", "streebog256_64k_python", "streebog256_64k_gostcrypto"),
        ("EC verify 256, pure Python (no gmpy2) vs gostcrypto", "verify256_python_int", "verify256_gostcrypto"),
        ("EC verify 256, pure Python + gmpy2 vs gostcrypto", "verify256_python_gmpy2", "verify256_gostcrypto"),
        ("EC verify 256, OpenSSL engine vs gostcrypto", "verify256_openssl", "verify256_gostcrypto"),
        ("EC verify 512, pure Python (no gmpy2) vs gostcrypto", "verify512_python_int", "verify512_gostcrypto"),
        ("EC verify 512, pure Python + gmpy2 vs gostcrypto", "verify512_python_gmpy2", "verify512_gostcrypto"),
        ("EC verify 512, OpenSSL engine vs gostcrypto", "verify512_openssl", "verify512_gostcrypto"),
        (
            "CAdES-BES: OpenSSL CMS_verify vs ours (want <= 1.5x)",
            "verify CAdES-BES 100kB: OpenSSL CMS_verify (ctypes)",
            "verify CAdES-BES 100kB: cades.verify_cms",
        ),
        (
            "CAdES-BES: ours vs openssl cms -verify process (>= 2.5x)",
            "verify CAdES-BES 100kB: cades.verify_cms",
            "verify CAdES-BES 100kB: openssl cms -verify (process)",
        ),
    ]
    tr.write_line("  speed-ups (how many times faster the first is):")
    for label, fast, slow in lines:
        if fast in RESULTS and slow in RESULTS:
            tr.write_line(f"    {label:<58} {_ratio(fast, slow)}")
    _archive_lines(tr)
    for line in EXTRA_LINES:
        tr.write_line(line)


def _archive_lines(tr: Any) -> None:
    """Issue 19's goals for ``verify --archive``: throughput against every core running OpenSSL in-process, and
    against ``openssl cms -verify`` processes under ``xargs -P``."""
    ours = next((k for k in RESULTS if k.startswith("archive ") and "cades.archive on" in k), None)
    if ours is None:
        return
    cores = int(ours.split(" on ")[1].split()[0])
    prefix = ours.split(":")[0]
    one_core = RESULTS.get(f"{prefix}: OpenSSL CMS_verify in-process, 1 core")
    xargs = RESULTS.get(f"{prefix}: openssl cms -verify, xargs -P {cores}")
    if one_core:
        share = one_core / cores / RESULTS[ours]
        tr.write_line(f"    {prefix}: ours vs {cores} cores x OpenSSL CMS_verify (want >= 0.9){'':<6} {share:.2f}")
    if xargs:
        tr.write_line(
            f"    {prefix}: ours vs openssl cms -verify, xargs -P {cores} (>= 3x){'':<8} {xargs / RESULTS[ours]:.2f}x"
        )
