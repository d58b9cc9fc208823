"""The list of accredited CAs as the shared reference gives its structure reads as expected."""

from __future__ import annotations

from cades.tsl import read_tsl
from tests.interop.conftest import TSL_SAMPLE


def test_the_reference_sample_reads() -> None:
    tsl = read_tsl(TSL_SAMPLE)
    assert tsl.version == 1 and tsl.cas[0].keys[0].certificates[0].thumbprint.startswith("182AA9C9")
