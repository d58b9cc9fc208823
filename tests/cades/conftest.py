"""Fixtures for the cades suites (GOST primitives part; CMS fixtures may be appended below)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="session")
def openssl_hashlib() -> None:
    """hashlib with OpenSSL's gostprov loaded, the independent oracle for the pure-Python code."""
    from cades import hashing

    try:
        hashing.openssl_backend()
    except OSError as exc:  # pragma: no cover - the project's machines have the provider
        pytest.skip(f"OpenSSL gostprov unavailable: {exc}")


@pytest.fixture
def forced_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[callable]:
    """Set KLIKDOK_GOST_BACKEND for one test and make both hashing and gost re-select; undo after."""
    from cades import gost, hashing

    def force(value: str) -> None:
        monkeypatch.setenv("KLIKDOK_GOST_BACKEND", value)
        hashing.reset_backend()
        gost._reset_backend_for_tests()

    yield force
    monkeypatch.delenv("KLIKDOK_GOST_BACKEND", raising=False)
    hashing.reset_backend()
    gost._reset_backend_for_tests()


# CMS/CAdES part: the shared openssl-made GOST PKI (tests/support/pki_fixtures.py).
from tests.support.pki_fixtures import gost_pki  # noqa: E402, F401
