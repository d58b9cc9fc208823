"""Fixtures for the trust-store suites: the shared openssl-made GOST PKI."""

from __future__ import annotations

from tests.support.pki_fixtures import gost_pki  # noqa: F401  fixture re-exported for the trust suites
