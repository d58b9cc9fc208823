"""Fixtures of the foundation suites."""

from tests.support.pki_fixtures import gost_pki  # noqa: F401  fixture re-exported for the CLI import probes
