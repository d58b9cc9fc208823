"""How hard the kill-and-restart tests push: a few rounds in `make test`, all of them in `make chaos`."""

from __future__ import annotations

import os

# `make chaos` sets TEST_CHAOS=1: the kill-and-restart tests then run their full number of rounds.
FULL_CHAOS = os.environ.get("TEST_CHAOS", "") == "1"


def rounds(quick: int, full: int) -> int:
    """How many kill rounds a crash test runs: ``quick`` in `make test` (each round is a server start, seconds
    of CPU), ``full`` in `make chaos`. The quick count still has to reach every window the test is about."""
    return full if FULL_CHAOS else quick
