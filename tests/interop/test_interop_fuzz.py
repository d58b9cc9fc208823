"""Mutated third-party signatures give a result or MalformedInput, nothing else (the repository's own fuzzing,
tests/cades/test_fuzz.py, mutates openssl-made signatures; these seeds are the shared corpus)."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.cades.test_fuzz import FUZZ, check_outcome, edits, mutate
from tests.interop.conftest import INTEROP

SEEDS = sorted(INTEROP.glob("*.p7s"))


@FUZZ
@given(seed=st.sampled_from(SEEDS), ops=edits)
def test_mutated_interop_signatures(seed: Path, ops: list[tuple[int, int, int]]) -> None:
    blob = mutate(seed.read_bytes(), ops)
    contents = list(INTEROP.glob(seed.name.rsplit(".", 1)[0] + ".content.*"))
    check_outcome(blob, contents[0].read_bytes() if contents else None)
