"""A cold OCSP check against the real ``openssl ocsp`` on loopback: what asking a responder adds to a verification.

"Cold" means no OCSP answer is cached: each round builds a request with a fresh nonce, POSTs it through the
real :class:`cades.fetch.HttpFetcher` (one client for the whole run, as a server keeps it) and checks the GOST
signature of the answer. Two responders: the CA signing itself, and a delegated responder certificate (one more
GOST verification: the CA's signature on the responder's certificate). The breakdown separates our own work
(building, checking) from the responder's round trip.

Run standalone for a table: ``.venv/bin/python benchmarks/bench_ocsp.py``; or under pytest-benchmark with the
rest of ``benchmarks/``. Target (issue 13): a cold OCSP check adds under 20 ms. Timings never decide a test.
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from asn1crypto import x509  # noqa: E402  after the sys.path line that lets the file run standalone

from cades import ocsp  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.asn1 import load_certificate  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.fetch import HttpFetcher  # noqa: E402  after the sys.path line that lets the file run standalone
from tests.support.ocsp_responder import ocsp_responder  # noqa: E402  after the sys.path line (standalone run)
from tests.support.openssl_pki import OpenSSLPki  # noqa: E402  after the sys.path line that lets the file run standalone

TARGET_MS = 20.0


@dataclass
class Setup:
    fetcher: HttpFetcher
    cert: x509.Certificate
    issuer: x509.Certificate
    urls: dict[str, str]  # responder kind -> URL


@contextmanager
def running(root: Path) -> Iterator[Setup]:
    pki = OpenSSLPki(root)
    ca = pki.root_ca("bench-ocsp-ca", algorithm="gost2012_256")
    user = pki.issue(ca, "bench-ocsp-user", subject=pki.subject(CN="Bench Signer"))
    delegate = pki.issue(ca, "bench-ocsp-responder", subject=pki.subject(CN="Bench OCSP"), profile="v3_ocsp")
    with ExitStack() as stack:
        by_ca = stack.enter_context(ocsp_responder(pki, ca, extra=["-nmin", "60"]))
        by_delegate = stack.enter_context(ocsp_responder(pki, ca, signer=delegate, extra=["-nmin", "60"]))
        fetcher = stack.enter_context(HttpFetcher())
        yield Setup(
            fetcher=fetcher,
            cert=load_certificate(user.cert_pem),
            issuer=load_certificate(ca.cert_pem),
            urls={"CA-signed": by_ca.url + "/bench", "delegated responder": by_delegate.url + "/bench"},
        )


def cold_check(s: Setup, kind: str) -> Callable[[], None]:
    url = s.urls[kind]

    def run() -> None:
        now = dt.datetime.now(dt.UTC)
        answer = ocsp.query(s.fetcher, url, s.cert, s.issuer, at=now, now=now)
        assert answer.status == "good", answer.problem

    return run


def parts(s: Setup, kind: str) -> dict[str, float]:
    """One round split in three: building the request, the HTTP round trip, checking the answer."""
    url = s.urls[kind]
    nonce = os.urandom(16)
    t0 = time.perf_counter()
    request = ocsp.build_request(s.cert, s.issuer, nonce=nonce)
    t1 = time.perf_counter()
    body = s.fetcher.post_ocsp(url, request)
    t2 = time.perf_counter()
    assert body is not None
    now = dt.datetime.now(dt.UTC)
    answer = ocsp.check_response(body, s.cert, s.issuer, at=now, now=now, nonce=nonce)
    t3 = time.perf_counter()
    assert answer.status == "good", answer.problem
    return {"build": t1 - t0, "round trip": t2 - t1, "check": t3 - t2}


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    with running(tmp_path_factory.mktemp("bench-ocsp")) as s:
        yield s


@pytest.mark.parametrize("kind", ["CA-signed", "delegated responder"])
def test_cold_ocsp_check(record: Any, setup: Setup, kind: str) -> None:
    record(f"cold OCSP check, {kind}: build + POST + verify", cold_check(setup, kind), rounds=60, warmup=3)


def main(rounds: int = 60) -> int:
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp)) as s:
        print(f"Cold OCSP check against openssl ocsp on 127.0.0.1, GOST R 34.10-2012 256, {rounds} rounds each")
        for kind in s.urls:
            whole = cold_check(s, kind)
            whole()
            times = []
            for _ in range(rounds):
                start = time.perf_counter()
                whole()
                times.append(time.perf_counter() - start)
            split = [parts(s, kind) for _ in range(rounds)]
            best, median = min(times) * 1e3, statistics.median(times) * 1e3
            verdict = "within" if median < TARGET_MS else "OVER"
            target = f"({verdict} the {TARGET_MS:.0f} ms target)"
            print(f"  {kind:22s} best {best:6.2f} ms   median {median:6.2f} ms   {target}")
            for name in ("build", "round trip", "check"):
                print(f"    {name:20s} median {statistics.median(p[name] for p in split) * 1e3:6.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
