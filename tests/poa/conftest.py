"""Fixtures for the МЧД suites: the МЧД PKI (tests/support/mchd.py) and the document signer's certificate."""

from __future__ import annotations

from tests.support.mchd import mchd_pki  # noqa: F401  fixture re-exported for the МЧД suites
