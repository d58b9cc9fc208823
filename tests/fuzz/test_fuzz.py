"""The fuzz harness's short run inside ``make test``: every parser that takes outside input, within 60 seconds.

``make fuzz`` runs the long one (100,000 inputs per parser). Here the time is shared out between the parsers and
each runs its seeds and as many mutations as fit; the inputs come in the same order on every run (fixed seed), and
a finding's input is kept in ``test-artifacts/fuzz-short/`` for ``python -m tests.fuzz.harness --only <parser>
--replay <file>``.
"""

from __future__ import annotations

from tests.fuzz.harness import run_all, table
from tests.fuzz.targets import REPO, TARGETS

BUDGET_SECONDS = 24.0  # of fuzzing; the 11 workers start besides (1-3 s each on a loaded machine: imports, the app)
# Below this a parser was barely fuzzed: a worker kept dying, or its start ate its share. The placement forms are
# the slowest target (a live one renders a page): about 20 a second on a loaded 2-core machine.
MIN_INPUTS = 20


def test_every_parser_survives_its_mutated_inputs() -> None:
    rows = run_all(1_000_000, time_budget=BUDGET_SECONDS, findings_dir=REPO / "test-artifacts" / "fuzz-short")
    report = table(rows)
    assert [f.parser for f in rows] == list(TARGETS), report
    assert all(f.findings == 0 for f in rows), report
    assert all(f.inputs >= MIN_INPUTS for f in rows), report
    assert all(f.accepted > 0 and f.refused > 0 for f in rows if f.parser not in ("jsonrpc", "portal_form")), report
