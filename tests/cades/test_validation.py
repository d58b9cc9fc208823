"""Certificate path validation: trust store loading, CA constraints, key usage, CRLs fetched or supplied."""

from __future__ import annotations

import http.server
import shutil
import threading
import time
from pathlib import Path

import pytest
from asn1crypto import x509

from cades.asn1 import MalformedInput, load_certificate, load_crl
from cades.fetch import Fetcher, FetchLimits, HttpFetcher, Kind
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.openssl_pki import OpenSSLPki
from tests.support.pki_fixtures import GostPki

DOC = b"validation test document\n" * 100


def test_from_paths_reads_files_and_directories(gost_pki: GostPki, tmp_path: Path) -> None:
    store = tmp_path / "trust"
    store.mkdir()
    shutil.copy(gost_pki.root.cert, store / "root.pem")
    (store / "root.der.cer").write_bytes(gost_pki.root.cert_der)
    (store / "readme.txt").write_text("not a certificate, ignored by suffix")
    crls = tmp_path / "crls"
    crls.mkdir()
    shutil.copy(gost_pki.root_crl, crls / "root.crl")
    ctx = ValidationContext.from_paths([store], intermediates=[gost_pki.inter.cert], crls=[gost_pki.crl, crls])
    assert len(ctx.trust_roots) == 2 and len(ctx.intermediates) == 1 and len(ctx.crls) == 2
    sig = gost_pki.pki.sign(gost_pki.user256, DOC)  # intermediate not in the bag: from the context
    assert verify_cms(sig, DOC, context=ctx).status == "valid"
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(gost_pki.inter.cert_pem + gost_pki.root.cert_pem)
    assert len(ValidationContext.from_paths([bundle]).trust_roots) == 2
    (store / "broken.pem").write_text("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n")
    with pytest.raises(MalformedInput, match="broken.pem"):
        ValidationContext.from_paths([store])


def test_naive_validation_time_is_refused() -> None:
    import datetime as dt

    with pytest.raises(ValueError):
        ValidationContext(at=dt.datetime(2025, 1, 1))


def test_end_entity_used_as_ca_is_rejected(gost_pki: GostPki) -> None:
    pki = gost_pki.pki
    fake_ca = pki.issue(gost_pki.inter, "fake-ca", subject=pki.subject(CN="Not A CA"), profile="v3_noca")
    victim = pki.issue(fake_ca, "under-fake", subject=pki.subject(CN="Под фальшивым УЦ"))
    sig = pki.sign(victim, DOC, certfile=[fake_ca.cert, gost_pki.inter.cert])
    ctx = ValidationContext(trust_roots=(load_certificate(gost_pki.root.cert_pem),))
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert sr.status == "invalid" and "not_a_ca" in sr.reasons and sr.intact


def test_signer_key_usage_must_allow_signing(gost_pki: GostPki) -> None:
    pki = gost_pki.pki
    enc_only = pki.issue(gost_pki.inter, "enc-only", subject=pki.subject(CN="Только шифрование"), profile="v3_nousage")
    sig = pki.sign(enc_only, DOC, certfile=[gost_pki.inter.cert])
    crls = tuple(load_crl(p.read_bytes()) for p in gost_pki.crl_files)
    ctx = ValidationContext(trust_roots=(load_certificate(gost_pki.root.cert_pem),), crls=crls)
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert sr.status == "invalid" and sr.reasons == ["key_usage"]


def test_crl_signed_by_someone_else_is_ignored(gost_pki: GostPki, tmp_path: Path) -> None:
    """A CRL naming the right issuer but signed by another key must not decide anything."""
    impostor = OpenSSLPki(tmp_path / "impostor")
    look_alike = impostor.subject(C="RU", O="Тестовый УЦ", CN="Test GOST Issuing CA")
    fake_root = impostor.root_ca("fake", algorithm="gost2012_256", subject=look_alike)
    fake_crl = load_crl(impostor.crl(fake_root).read_bytes())
    sig = gost_pki.pki.sign(gost_pki.revoked, DOC, certfile=[gost_pki.inter.cert])
    ctx = ValidationContext(trust_roots=(load_certificate(gost_pki.root.cert_pem),), crls=(fake_crl,))
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert "crl_unusable" in sr.warnings and "revoked" not in sr.reasons
    # Nothing else speaks for the signer: its status is unknown, and so is the verdict (issue 13).
    assert sr.status == "indeterminate" and "revocation_unknown" in sr.reasons
    assert sr.certificate is not None and sr.certificate.revocation == "unknown"


def test_a_stale_crl_still_counts_but_is_flagged(gost_pki: GostPki) -> None:
    import time

    stale = load_crl(gost_pki.pki.crl(gost_pki.inter, name="stale-inter", valid_seconds=1).read_bytes())
    time.sleep(1.5)
    sig = gost_pki.pki.sign(gost_pki.revoked, DOC, certfile=[gost_pki.inter.cert])
    root_crl = load_crl(gost_pki.root_crl.read_bytes())
    ctx = ValidationContext(trust_roots=(load_certificate(gost_pki.root.cert_pem),), crls=(stale, root_crl))
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert "revoked" in sr.reasons  # what it lists still counts
    assert "crl_stale" in sr.warnings
    # What it does not list is not proven good: newer revocations are unseen (issue 13: unknown, not valid).
    good_sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    (unseen,) = verify_cms(good_sig, DOC, context=ctx).signatures
    assert unseen.status == "indeterminate" and unseen.reasons == ["revocation_unknown"]
    assert "crl_stale" in unseen.warnings
    fresh = ValidationContext(
        trust_roots=(load_certificate(gost_pki.root.cert_pem),), crls=(load_crl(gost_pki.crl.read_bytes()), root_crl)
    )
    (ok,) = verify_cms(
        gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert]), DOC, context=fresh
    ).signatures
    assert "crl_stale" not in ok.warnings


class DictFetcher(Fetcher):
    def __init__(self, table: dict[str, bytes]) -> None:
        self.table = table
        self.calls: list[str] = []

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        self.calls.append(url)
        return self.table.get(url)

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        self.calls.append(url)
        return None


@pytest.fixture(scope="module")
def dp_pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """A small PKI whose certificates carry CRL distribution points on a loopback HTTP server."""
    root_dir = tmp_path_factory.mktemp("dp")
    served = root_dir / "www"
    served.mkdir()

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a: object, **kw: object) -> None:
            super().__init__(*a, directory=str(served), **kw)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    pki = OpenSSLPki(root_dir / "pki", crl_url=base)
    root = pki.root_ca("dproot", algorithm="gost2012_256")
    inter = pki.issue(root, "dpinter", subject=pki.subject(CN="DP Issuing CA"), profile="v3_ca")
    good = pki.issue(inter, "dpgood", subject=pki.subject(CN="Good"))
    bad = pki.issue(inter, "dpbad", subject=pki.subject(CN="Bad"))
    pki.revoke(bad)
    (served / "dpinter.crl").write_bytes(pki.crl_der(inter))
    (served / "dproot.crl").write_bytes(pki.crl_der(root))
    yield {"pki": pki, "root": root, "inter": inter, "good": good, "bad": bad, "base": base, "www": served}
    server.shutdown()


def _dp_context(dp: dict[str, object], fetcher: Fetcher | None, fetch: bool) -> ValidationContext:
    root = dp["root"]
    return ValidationContext(
        trust_roots=(load_certificate(root.cert_pem),),  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
        fetcher=fetcher if fetch else None,
    )


def test_fetching_is_off_by_default(dp_pki: dict[str, object]) -> None:
    pki, bad, inter = dp_pki["pki"], dp_pki["bad"], dp_pki["inter"]
    sig = pki.sign(bad, DOC, certfile=[inter.cert])  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
    fetcher = DictFetcher({})
    (sr,) = verify_cms(sig, DOC, context=_dp_context(dp_pki, fetcher, fetch=False)).signatures
    # No network without a fetcher, and no CRL at hand: unknown, never "valid" (issue 13; it was valid + a warning).
    assert fetcher.calls == [] and sr.status == "indeterminate" and sr.reasons == ["revocation_unknown"]


def test_replaced_fetcher_supplies_crls(dp_pki: dict[str, object]) -> None:
    pki, bad, inter, www, base = dp_pki["pki"], dp_pki["bad"], dp_pki["inter"], dp_pki["www"], dp_pki["base"]
    table = {f"{base}/{p.name}": p.read_bytes() for p in www.iterdir()}  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
    fetcher = DictFetcher(table)
    sig = pki.sign(bad, DOC, certfile=[inter.cert])  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
    (sr,) = verify_cms(sig, DOC, context=_dp_context(dp_pki, fetcher, fetch=True)).signatures
    assert sr.status == "invalid" and "revoked" in sr.reasons
    assert f"{base}/dpinter.crl" in fetcher.calls


def test_http_fetcher_over_loopback(dp_pki: dict[str, object]) -> None:
    import httpx

    pki, good, bad, inter = dp_pki["pki"], dp_pki["good"], dp_pki["bad"], dp_pki["inter"]
    requests: list[str] = []

    def hook(request: httpx.Request) -> None:
        requests.append(str(request.url))

    fetcher = HttpFetcher(FetchLimits(timeout=5), client=httpx.Client(event_hooks={"request": [hook]}, timeout=5))
    ctx = _dp_context(dp_pki, fetcher, fetch=True)
    sig_good = pki.sign(good, DOC, certfile=[inter.cert])  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
    sig_bad = pki.sign(bad, DOC, certfile=[inter.cert])  # type: ignore[attr-defined]  # a value of the fixture's dict[str, object]
    (g,) = verify_cms(sig_good, DOC, context=ctx).signatures
    assert g.status == "valid" and g.warnings == [] and g.certificate.revocation == "good"  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    (b,) = verify_cms(sig_bad, DOC, context=ctx).signatures
    assert b.status == "invalid" and "revoked" in b.reasons
    assert len(requests) == 4  # one per CRL and verification: caching is the server's (server/trust)
    assert fetcher.get("file:///etc/passwd", kind="crl") is None
    assert fetcher.get(f"{dp_pki['base']}/missing.crl", kind="crl") is None
    # A missing path is no sign the host is down: its other addresses are still asked.
    assert not fetcher.backing_off(f"{dp_pki['base']}/dpinter.crl")


def test_a_host_that_does_not_answer_is_backed_off_and_tried_again_later() -> None:
    from tests.support.http_files import serve_files

    limits = FetchLimits(timeout=2, backoff_seconds=0.3)
    with serve_files() as files, HttpFetcher(limits) as fetcher:
        files.put("ca.crl", b"crl bytes")
        url = f"{files.base_url}/ca.crl"
        files.down = True
        assert fetcher.get(url, kind="crl") is None and fetcher.backing_off(url)
        files.down = False
        assert fetcher.get(url, kind="crl") is None  # skipped while backing off: no request made
        assert files.hits("ca.crl") == 1
        deadline = time.monotonic() + 5
        while fetcher.backing_off(url) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert fetcher.get(url, kind="crl") == b"crl bytes" and not fetcher.backing_off(url)
        files.put("big.crl", b"x" * 100)
        small = HttpFetcher(FetchLimits(timeout=2, max_bytes={"crl": 10}))
        with small:
            assert small.get(f"{files.base_url}/big.crl", kind="crl") is None  # over the bound: refused


def _renamed(cert_pem: bytes, serial: int, subject: x509.Name) -> x509.Certificate:
    """A copy of a certificate under another serial and subject: its own signature no longer holds, which an
    anchor's never has to (and a decoy's must not)."""
    cert = x509.Certificate.load(load_certificate(cert_pem).dump())
    cert["tbs_certificate"]["serial_number"] = serial
    cert["tbs_certificate"]["subject"] = subject
    return x509.Certificate.load(cert.dump())


def test_thousands_of_listed_anchors_are_found_by_name(gost_pki: GostPki) -> None:
    """The accredited list gives thousands of CA certificates: the issuer is looked up by its name (RFC 5280
    comparison, so a case-different encoding still matches), and a decoy with the same name but another key
    is tried and passed over."""
    root = load_certificate(gost_pki.root.cert_pem)
    decoys = [
        _renamed(gost_pki.foreign_root.cert_pem, 10**6 + i, x509.Name.build({"common_name": f"Decoy CA {i}"}))
        for i in range(300)
    ]
    same_name = _renamed(gost_pki.foreign_root.cert_pem, 42, root.subject)  # the root's name, another key
    native = root.subject.native
    shouted = x509.Name.build({k: v.upper() for k, v in native.items()}, use_printable=False)
    assert shouted.dump() != root.subject.dump() and shouted == root.subject  # equal only per RFC 5280
    renamed_root = _renamed(gost_pki.root.cert_pem, root.serial_number, shouted)
    crls = tuple(load_crl(p.read_bytes()) for p in gost_pki.crl_files)
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    for anchor in (root, renamed_root):
        context = ValidationContext(trust_roots=(*decoys, same_name, anchor), crls=crls)
        (result,) = verify_cms(sig, DOC, context=context).signatures
        assert result.status == "valid", (result.reasons, result.details)
        assert result.certificate is not None and result.certificate.chain[-1].trusted
    (alone,) = verify_cms(sig, DOC, context=ValidationContext(trust_roots=(*decoys, same_name), crls=crls)).signatures
    assert alone.status != "valid" and "bad_certificate_signature" in alone.reasons
