"""The harness itself: a planted parser that raises, hangs and calls a mutated signature valid is caught at each.

Without this, a harness that lost its worker's answers or never compared verdicts would pass ``make test`` for
ever. The planted parser runs in the harness's worker process like the real ones (``module:attribute`` name).
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from pathlib import Path

from tests.fuzz.harness import fuzz_one
from tests.fuzz.targets import Run, Target

SEEDS = [b"fine", b"refuse", b"raise", b"hang", b"forged"]


def _unchanged(rng: random.Random, data: bytes, seeds: Sequence[bytes]) -> bytes:
    return data


def _setup() -> Run:
    def run(data: bytes) -> tuple[str, str]:
        if data == b"raise":
            raise KeyError("planted")
        if data == b"hang":
            time.sleep(30)
        if data == b"forged":
            return "false_valid", "planted"
        return ("refused" if data == b"refuse" else "accepted"), ""

    return run


PLANTED = Target("tests.fuzz.test_harness:PLANTED", lambda: SEEDS, _unchanged, _setup, "planted faults", warm_up=False)


def test_each_kind_of_finding_is_counted_and_kept(tmp_path: Path) -> None:
    figures = fuzz_one(PLANTED, len(SEEDS), timeout=1.0, findings_dir=tmp_path)
    assert (figures.inputs, figures.accepted, figures.refused) == (5, 1, 1), figures
    assert (figures.unhandled, figures.hangs, figures.false_valid) == (1, 1, 1), figures
    kept = sorted(p.name.split("-")[-2] for p in tmp_path.glob("*.bin"))
    assert kept == ["false_valid", "hang", "unhandled"], kept
    assert any("KeyError: 'planted'" in p.read_text() for p in tmp_path.glob("*unhandled*.txt"))
