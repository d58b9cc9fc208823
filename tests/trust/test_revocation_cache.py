"""The server's caching fetcher: CRLs reused until nextUpdate with no network call, refreshed at 80% of their
validity, never replaced by an older CRL, bounded on disk; OCSP answers kept in memory only when not nonce-bound.

Real HTTP on loopback (tests/support/http_files.py) behind the real HttpFetcher; the clock is the cache's own
``now`` so that days pass without waiting.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest
from asn1crypto import algos, core, ocsp, x509

from cades.asn1 import load_crl
from cades.fetch import Fetcher, Kind
from server.trust.revocation_cache import RETRY_AFTER, CachingFetcher, read_status
from tests.support.http_files import FileServer, serve_files
from tests.support.pki_fixtures import GostPki


class Clock:
    def __init__(self) -> None:
        self.moment = dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.moment

    def advance(self, **delta: float) -> None:
        self.moment += dt.timedelta(**delta)


@pytest.fixture
def files() -> Iterator[FileServer]:
    with serve_files() as server:
        yield server


def crl_der(gost_pki: GostPki, name: str, *, valid_seconds: int | None = None) -> bytes:
    pki = gost_pki.pki
    pem = pki.crl(gost_pki.inter, name=name, valid_seconds=valid_seconds)
    return pki.run("crl", "-in", pem, "-outform", "DER")


def this_update(der: bytes) -> dt.datetime:
    return load_crl(der)["tbs_cert_list"]["this_update"].native


def test_a_crl_is_reused_until_its_next_update_without_a_network_call(
    tmp_path: Path, files: FileServer, gost_pki: GostPki
) -> None:
    der = crl_der(gost_pki, "cache-reuse")
    files.put("inter.crl", der)
    clock = Clock()
    cache = CachingFetcher(tmp_path / "cache", now=clock)
    url = f"{files.base_url}/inter.crl"
    assert cache.get_with_origin(url, kind="crl") == (der, "network")
    assert cache.get_with_origin(url, kind="crl") == (der, "cache")  # cades names it so in the report
    assert files.hits("inter.crl") == 1 and cache.stores_ocsp_answers
    (entry,) = read_status(tmp_path / "cache")[0]
    assert entry.url == url and entry.issuer == "Test GOST Issuing CA" and entry.this_update == this_update(der)
    assert entry.next_update is not None and entry.last_error == ""
    # A restart keeps the cache: a new fetcher on the same directory makes no call either.
    again = CachingFetcher(tmp_path / "cache", now=clock)
    assert again.get(url, kind="crl") == der and files.hits("inter.crl") == 1
    # Past crl_cache_hours (24 by default) it goes to the network again, though nextUpdate is 30 days away.
    clock.advance(hours=25)
    assert again.get(url, kind="crl") == der and files.hits("inter.crl") == 2


def test_a_stale_crl_is_refetched_and_an_unreachable_site_falls_back_to_the_cached_copy(
    tmp_path: Path, files: FileServer, gost_pki: GostPki
) -> None:
    der = crl_der(gost_pki, "cache-stale")
    files.put("inter.crl", der)
    clock = Clock()
    cache = CachingFetcher(tmp_path / "cache", now=clock, max_age=dt.timedelta(days=90))
    url = f"{files.base_url}/inter.crl"
    cache.get(url, kind="crl")
    clock.advance(days=31)  # past nextUpdate
    files.down = True
    # The cached copy comes back (cades then sees from its nextUpdate that it is stale); the error is kept.
    assert cache.get(url, kind="crl") == der
    (entry,) = read_status(tmp_path / "cache")[0]
    assert entry.last_error.startswith("адрес недоступен") and entry.has_bytes
    # A URL that never answered: nothing to give, and doctor learns it was never fetched.
    assert cache.get(f"{files.base_url}/other.crl", kind="crl") is None
    never = [e for e in read_status(tmp_path / "cache")[0] if e.url.endswith("other.crl")]
    assert never and not never[0].has_bytes
    # ldap:// distribution points are not followed, and not reported as failing either.
    assert cache.get("ldap://ldap.example/cn=CA?certificateRevocationList", kind="crl") is None
    assert len(read_status(tmp_path / "cache")[0]) == 2


def test_an_older_crl_never_replaces_a_newer_one(tmp_path: Path, files: FileServer, gost_pki: GostPki) -> None:
    old = crl_der(gost_pki, "cache-old")
    clock = Clock()
    newer = old
    while this_update(newer) <= this_update(old):  # thisUpdate has a one-second resolution
        newer = crl_der(gost_pki, "cache-newer")
    files.put("inter.crl", newer)
    cache = CachingFetcher(tmp_path / "cache", now=clock)
    url = f"{files.base_url}/inter.crl"
    assert cache.get(url, kind="crl") == newer
    files.put("inter.crl", old)  # a lagging mirror, or a replay
    assert cache.fetch(url, "crl") == newer
    (entry,) = read_status(tmp_path / "cache")[0]
    assert entry.this_update == this_update(newer) and "более старый CRL" in entry.last_error


def test_garbage_is_not_cached_as_a_crl(tmp_path: Path, files: FileServer) -> None:
    files.put("inter.crl", b"<html>maintenance</html>")
    cache = CachingFetcher(tmp_path / "cache")
    assert cache.get(f"{files.base_url}/inter.crl", kind="crl") is None
    (entry,) = read_status(tmp_path / "cache")[0]
    assert not entry.has_bytes and entry.last_error.startswith("получен не CRL")


def test_the_refresher_schedule_80_percent_of_validity_and_force(
    tmp_path: Path, files: FileServer, gost_pki: GostPki
) -> None:
    der = crl_der(gost_pki, "cache-schedule", valid_seconds=10 * 3600)
    files.put("inter.crl", der)
    clock = Clock()
    cache = CachingFetcher(tmp_path / "cache", now=clock)
    url = f"{files.base_url}/inter.crl"
    cache.get(url, kind="crl")
    (entry,) = cache.entries()
    assert entry.this_update is not None
    assert cache.refresh_at(entry) == entry.this_update + dt.timedelta(hours=8)
    assert cache.refresh() == 0 and files.hits("inter.crl") == 1  # not due
    clock.moment = entry.this_update + dt.timedelta(hours=8, seconds=1)
    newer = der
    while this_update(newer) <= this_update(der):
        newer = crl_der(gost_pki, "cache-schedule-2", valid_seconds=10 * 3600)
    files.put("inter.crl", newer)
    assert cache.refresh() == 1 and files.hits("inter.crl") == 2
    assert cache.get(url, kind="crl") == newer and files.hits("inter.crl") == 2
    # Nothing newer at the next attempt: the next try waits RETRY_AFTER rather than spinning.
    clock.moment = this_update(newer) + dt.timedelta(hours=8) + RETRY_AFTER + dt.timedelta(seconds=1)
    assert cache.refresh() == 0 and files.hits("inter.crl") == 3
    (entry,) = cache.entries()
    assert cache.refresh_at(entry) == clock.moment + RETRY_AFTER
    assert cache.refresh() == 0 and files.hits("inter.crl") == 3
    # `klikdok trust refresh`: everything, due or not.
    assert cache.refresh(force=True) == 0 and files.hits("inter.crl") == 4


def test_the_cache_stays_within_its_bound(tmp_path: Path, files: FileServer, gost_pki: GostPki) -> None:
    der = crl_der(gost_pki, "cache-bound")
    clock = Clock()
    cache = CachingFetcher(tmp_path / "cache", now=clock, max_crl_bytes=len(der))  # room for 16
    for n in range(20):
        files.put(f"{n}.crl", der)
        clock.advance(seconds=1)
        assert cache.get(f"{files.base_url}/{n}.crl", kind="crl") == der
    entries = read_status(tmp_path / "cache")[0]
    assert len(entries) == 16 and {e.url.rsplit("/", 1)[1] for e in entries} == {f"{n}.crl" for n in range(4, 20)}
    assert len(list((tmp_path / "cache").glob("*.der"))) == 16


class OcspStub(Fetcher):
    """Answers every OCSP request with a prepared body (the cache neither checks signatures nor needs them)."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.posts = 0

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        return None

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        self.posts += 1
        return self.body


def _cert_id() -> ocsp.CertId:
    return ocsp.CertId(
        {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha1"}),
            "issuer_name_hash": b"\x01" * 20,
            "issuer_key_hash": b"\x02" * 20,
            "serial_number": 0x1234,
        }
    )


def ocsp_request(nonce: bytes | None = None) -> bytes:
    tbs: dict[str, object] = {"request_list": [{"req_cert": _cert_id()}]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "extn_value": core.OctetString(nonce)}]
    return ocsp.OCSPRequest({"tbs_request": tbs}).dump()


def ocsp_response(now: dt.datetime, next_update: dt.datetime | None, nonce: bytes | None = None) -> bytes:
    single: dict[str, object] = {
        "cert_id": _cert_id(),
        "cert_status": ocsp.CertStatus(name="good", value=core.Null()),
        "this_update": now,
    }
    if next_update is not None:
        single["next_update"] = next_update
    data: dict[str, object] = {
        "responder_id": ("by_key", b"\x03" * 20),
        "produced_at": now,
        "responses": [single],
    }
    if nonce is not None:
        data["response_extensions"] = [{"extn_id": "nonce", "extn_value": core.OctetString(nonce)}]
    basic = ocsp.BasicOCSPResponse(
        {
            "tbs_response_data": data,
            "signature_algorithm": {"algorithm": "sha256_rsa"},
            "signature": b"\x00" * 64,
        }
    )
    return ocsp.OCSPResponse(
        {
            "response_status": "successful",
            "response_bytes": {"response_type": "basic_ocsp_response", "response": basic},
        }
    ).dump()


def test_ocsp_answers_are_kept_until_their_next_update(tmp_path: Path) -> None:
    clock = Clock()
    stub = OcspStub(ocsp_response(clock.moment, clock.moment + dt.timedelta(hours=1)))
    cache = CachingFetcher(tmp_path / "cache", inner=stub, now=clock)
    url = "http://127.0.0.1:9/ocsp"
    assert cache.post_ocsp_with_origin(url, ocsp_request()) == (stub.body, "network")
    assert cache.post_ocsp_with_origin(url, ocsp_request()) == (stub.body, "cache") and stub.posts == 1
    clock.advance(minutes=61)
    cache.post_ocsp(url, ocsp_request())
    assert stub.posts == 2
    # Without a nextUpdate: a few minutes.
    stub.body = ocsp_response(clock.moment, None)
    cache.post_ocsp("http://127.0.0.1:9/other", ocsp_request())
    clock.advance(minutes=4)
    cache.post_ocsp("http://127.0.0.1:9/other", ocsp_request())
    assert stub.posts == 3
    clock.advance(minutes=2)
    cache.post_ocsp("http://127.0.0.1:9/other", ocsp_request())
    assert stub.posts == 4
    # The responders asked are remembered on disk for doctor.
    assert {r.url for r in read_status(tmp_path / "cache")[1]} == {url, "http://127.0.0.1:9/other"}


def test_a_nonce_bound_ocsp_answer_is_never_served_again(tmp_path: Path) -> None:
    clock = Clock()
    stub = OcspStub(ocsp_response(clock.moment, clock.moment + dt.timedelta(hours=1), nonce=b"n1"))
    cache = CachingFetcher(tmp_path / "cache", inner=stub, now=clock)
    cache.post_ocsp("http://127.0.0.1:9/ocsp", ocsp_request(b"n1"))
    cache.post_ocsp("http://127.0.0.1:9/ocsp", ocsp_request(b"n2"))
    assert stub.posts == 2
    # An unsuccessful answer is not kept either.
    stub.body = ocsp.OCSPResponse({"response_status": "try_later"}).dump()
    cache.post_ocsp("http://127.0.0.1:9/late", ocsp_request())
    cache.post_ocsp("http://127.0.0.1:9/late", ocsp_request())
    assert stub.posts == 4


def test_certificates_by_aia_are_cached_and_checked(tmp_path: Path, files: FileServer, gost_pki: GostPki) -> None:
    files.put("inter.cer", gost_pki.inter.cert_der)
    files.put("junk.cer", b"not a certificate")
    cache = CachingFetcher(tmp_path / "cache")
    url = f"{files.base_url}/inter.cer"
    assert cache.get(url, kind="certificate") == gost_pki.inter.cert_der
    assert cache.get(url, kind="certificate") == gost_pki.inter.cert_der and files.hits("inter.cer") == 1
    x509.Certificate.load(gost_pki.inter.cert_der)
    assert cache.get(f"{files.base_url}/junk.cer", kind="certificate") is None
