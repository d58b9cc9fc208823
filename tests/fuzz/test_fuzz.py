"""The fuzz harness's short run inside ``make test``: every parser that takes outside input, within 60 seconds.

``make fuzz`` runs the long one (100,000 inputs per parser). Here the time is shared out between the parsers and
each runs its seeds and as many mutations as fit; the inputs are the same on every run (fixed seed), so a
failure here is reproducible with ``python -m tests.fuzz.harness --only <parser> -n <inputs>``.
"""

from __future__ import annotations

from pathlib import Path

from tests.fuzz.harness import run_all, table
from tests.fuzz.targets import TARGETS

BUDGET_SECONDS = 34.0  # of fuzzing; the workers start (about 1-3 s each, the application ones) besides
MIN_INPUTS = 50  # below this a parser was barely fuzzed: the machine is too loaded, or a worker kept dying


def test_every_parser_survives_its_mutated_inputs(tmp_path: Path) -> None:
    rows = run_all(1_000_000, time_budget=BUDGET_SECONDS, findings_dir=tmp_path / "findings")
    report = table(rows)
    assert [f.parser for f in rows] == list(TARGETS), report
    assert all(f.findings == 0 for f in rows), report
    assert all(f.inputs >= MIN_INPUTS for f in rows), report
    assert all(f.accepted > 0 and f.refused > 0 for f in rows if f.parser not in ("jsonrpc", "portal_form")), report
