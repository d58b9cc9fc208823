"""Fixtures for the cades suites (GOST primitives part; CMS fixtures may be appended below)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

# CMS/CAdES part: the shared openssl-made GOST PKI (tests/support/pki_fixtures.py).
from tests.support.pki_fixtures import gost_pki  # noqa: F401  fixture re-exported for the cades suites


@pytest.fixture(scope="session")
def openssl_hashlib() -> None:
    """hashlib with OpenSSL's gostprov loaded, the independent oracle for the pure-Python code."""
    from cades import hashing

    try:
        hashing.openssl_backend()
    except OSError as exc:  # pragma: no cover - `make test` installs libengine-gost-openssl
        pytest.fail(f"OpenSSL gostprov unavailable ({exc}); `make test` installs libengine-gost-openssl")


@pytest.fixture
def forced_backend(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
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


OPENSSL_256_PARAMSETS = ("A", "B", "C", "XA", "XB", "TCA", "TCB", "TCC", "TCD")
OPENSSL_512_PARAMSETS = ("A", "B", "C")


def run_openssl_gost(*args: str, stdin: bytes | None = None) -> bytes:
    """Run `openssl <args> -engine gost` and return stdout (stderr's 'Engine "gost" set.' is dropped)."""
    import subprocess

    cmd = ["openssl", args[0], "-engine", "gost", *args[1:]]
    done = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(cmd)} failed: {done.stderr.decode(errors='replace')}")
    return done.stdout


@pytest.fixture(scope="session")
def openssl_gost_keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, object]]:
    """Keys made by `openssl genpkey -engine gost` for every parameter set it offers.

    Maps "256-A", "512-C", ... to {"key": PEM path, "pub": PEM path, "spki": DER bytes, "md": digest name}.
    """
    import shutil

    if shutil.which("openssl") is None:  # pragma: no cover
        pytest.fail("openssl is not installed")
    folder = tmp_path_factory.mktemp("gostkeys")
    keys: dict[str, dict[str, object]] = {}
    plan = [("gost2012_256", "256", ps, "md_gost12_256") for ps in OPENSSL_256_PARAMSETS]
    plan += [("gost2012_512", "512", ps, "md_gost12_512") for ps in OPENSSL_512_PARAMSETS]
    plan += [("gost2001", "2001", "A", "md_gost94")]
    for algorithm, size, paramset, md in plan:
        name = f"{size}-{paramset}"
        key = folder / f"{name}.key"
        pub = folder / f"{name}.pub"
        run_openssl_gost("genpkey", "-algorithm", algorithm, "-pkeyopt", f"paramset:{paramset}", "-out", str(key))
        run_openssl_gost("pkey", "-in", str(key), "-pubout", "-out", str(pub))
        spki = run_openssl_gost("pkey", "-in", str(key), "-pubout", "-outform", "DER")
        keys[name] = {"key": key, "pub": pub, "spki": spki, "md": md}
    return keys


@pytest.fixture(scope="session")
def openssl_gost() -> Callable[..., bytes]:
    """`run_openssl_gost` as a fixture, so test modules need not import this conftest."""
    return run_openssl_gost
