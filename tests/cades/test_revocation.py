"""Revocation end to end: certificates with real CRL DP and AIA (OCSP, caIssuers) addresses on loopback, CRLs and
issuer certificates served over HTTP, ``openssl ocsp`` answering as the responder, and the verdict rules of issue 13
(unknown status is never valid; revocation judged at the trusted or claimed signing time; sources in order)."""

from __future__ import annotations

import datetime as dt
import json
import time
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import ocsp as asn1_ocsp

from cades import ocsp
from cades.asn1 import CERT_VALUES_OID, REVOCATION_VALUES_OID, RevocationValues, load_certificate, load_crl
from cades.cli import main
from cades.cms import TIMESTAMP_TOKEN_OID, parse_signed_data
from cades.fetch import Fetcher, FetchLimits, HttpFetcher, Kind, Origin
from cades.result import SignatureResult
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.http_files import FileServer, serve_files
from tests.support.ocsp_responder import ocsp_responder
from tests.support.openssl_pki import Issued, OpenSSLPki, add_unsigned_attributes

DOC = "Акт сверки № 3\n".encode() * 200


@dataclass
class RevPki:
    """PKI "A": root -> intermediate -> users, every certificate with CRL DP, AIA OCSP and caIssuers addresses;
    PKI "B": a root whose users carry only a CRL DP and a freshestCRL (delta) address, no OCSP."""

    pki: OpenSSLPki
    files: FileServer  # CRLs and CA certificates
    relay: FileServer  # the AIA OCSP address: POSTs relayed to the two `openssl ocsp` responders
    root: Issued
    inter: Issued
    tsa: Issued
    good: Issued
    ocsp_revoked: Issued
    ocsp_unknown: Issued  # left out of the responder's index: it answers "unknown"
    late: Issued  # revoked during a test, after it signed
    crl_pki: OpenSSLPki
    croot: Issued
    crl_revoked: Issued
    crl_good: Issued
    delta_victim: Issued  # revoked after the complete CRL: only the delta CRL lists it


@pytest.fixture(scope="module")
def rp(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RevPki]:
    with ExitStack() as stack:
        files = stack.enter_context(serve_files())
        relay = stack.enter_context(serve_files())
        base = tmp_path_factory.mktemp("revocation")
        pki = OpenSSLPki(
            base / "a", crl_url=f"{files.base_url}/crl", ocsp_url=f"{relay.base_url}/ocsp",
            ca_issuers_url=f"{files.base_url}/aia",
        )  # fmt: skip
        root = pki.root_ca("rroot", algorithm="gost2012_256")
        inter = pki.issue(root, "rinter", subject=pki.subject(CN="Revocation Issuing CA"), profile="v3_ca")
        tsa = pki.issue(root, "rtsa", subject=pki.subject(CN="Revocation TSA"), profile="v3_tsa")
        good = pki.issue(inter, "rgood", subject=pki.subject(CN="Добросовестный"))
        ocsp_revoked = pki.issue(inter, "rrevoked", subject=pki.subject(CN="Отозванный по OCSP"))
        ocsp_unknown = pki.issue(inter, "runknown", subject=pki.subject(CN="Неизвестный ответчику"))
        late = pki.issue(inter, "rlate", subject=pki.subject(CN="Отозванный позже"))
        pki.revoke(ocsp_revoked)
        files.put("crl/rinter.crl", pki.crl_der(inter))
        files.put("crl/rroot.crl", pki.crl_der(root))
        files.put("aia/rinter.cer", inter.cert_der)
        files.put("aia/rroot.cer", root.cert_der)
        index = pki.root / "ca-rinter" / "index.txt"
        serial = load_certificate(ocsp_unknown.cert_pem).serial_number
        lines = index.read_text().splitlines(keepends=True)
        index.write_text("".join(line for line in lines if f"\t{serial:X}\t" not in line.upper()))

        crl_pki = OpenSSLPki(base / "b", crl_url=f"{files.base_url}/crl", delta_crl_url=f"{files.base_url}/delta")
        croot = crl_pki.root_ca("croot", algorithm="gost2012_256")
        crl_revoked = crl_pki.issue(croot, "crevoked", subject=crl_pki.subject(CN="Отозванный по CRL"))
        crl_good = crl_pki.issue(croot, "cgood", subject=crl_pki.subject(CN="Проверенный по CRL"))
        delta_victim = crl_pki.issue(croot, "cdelta", subject=crl_pki.subject(CN="Отозванный в дельта-CRL"))
        crl_pki.revoke(crl_revoked)
        files.put("crl/croot.crl", crl_pki.crl_der(croot))  # CRL number 1
        crl_pki.revoke(delta_victim)
        files.put("delta/croot-delta.crl", crl_pki.delta_crl(croot, base_number=1))

        for ca, name in ((root, "rroot"), (inter, "rinter")):
            responder = stack.enter_context(ocsp_responder(pki, ca))
            relay.relay[f"/ocsp/{name}"] = responder.url
        yield RevPki(
            pki, files, relay, root, inter, tsa, good, ocsp_revoked, ocsp_unknown, late,
            crl_pki, croot, crl_revoked, crl_good, delta_victim,
        )  # fmt: skip


@pytest.fixture
def fetcher() -> Iterator[HttpFetcher]:
    """A fresh fetcher per test: its per-host back-off must not carry over from a test that took a server down."""
    with HttpFetcher(FetchLimits(timeout=5)) as f:
        yield f


def anchored(root: Issued, **kw: object) -> ValidationContext:
    return ValidationContext(trust_roots=(load_certificate(root.cert_pem),), **kw)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


def one(sig: bytes, context: ValidationContext) -> SignatureResult:
    (sr,) = verify_cms(sig, DOC, context=context).signatures
    return sr


def test_good_by_ocsp_names_the_responder(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.pki.sign(rp.good, DOC, certfile=[rp.inter.cert])
    crl_hits = len([p for p in rp.files.requests if p.startswith("/crl/")])
    sr = one(sig, anchored(rp.root, fetcher=fetcher))
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert sr.certificate is not None and sr.certificate.revocation == "good"
    source = sr.certificate.revocation_source
    assert source is not None and (source.kind, source.origin) == ("ocsp", "network")
    assert source.location == f"{rp.relay.base_url}/ocsp/rinter" and source.produced_at is not None
    assert "Revocation Issuing CA" in source.issuer  # the issuer signed its own responses
    chain = sr.certificate.chain
    assert [e.revocation for e in chain] == ["good", "good", "not_checked"]
    assert chain[1].revocation_source is not None and chain[1].revocation_source.location.endswith("/ocsp/rroot")
    line = f"статус отзыва сертификата Добросовестный: OCSP {rp.relay.base_url}/ocsp/rinter ответ от "
    assert any(d.startswith(line) and d.endswith(" UTC") for d in sr.details), sr.details
    assert len([p for p in rp.files.requests if p.startswith("/crl/")]) == crl_hits  # OCSP decided: no CRL


def test_revoked_by_ocsp(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.pki.sign(rp.ocsp_revoked, DOC, certfile=[rp.inter.cert])
    sr = one(sig, anchored(rp.root, fetcher=fetcher))
    assert sr.status == "invalid" and sr.reasons == ["revoked"]
    assert sr.certificate is not None and sr.certificate.revocation_time is not None
    assert sr.certificate.revocation_source is not None and sr.certificate.revocation_source.kind == "ocsp"


def test_ocsp_unknown_falls_back_to_the_crl(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.pki.sign(rp.ocsp_unknown, DOC, certfile=[rp.inter.cert])
    sr = one(sig, anchored(rp.root, fetcher=fetcher))
    assert sr.status == "valid", (sr.reasons, sr.details)
    source = sr.certificate.revocation_source  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert source is not None and (source.kind, source.origin) == ("crl", "network")
    assert source.location == f"{rp.files.base_url}/crl/rinter.crl" and source.this_update is not None
    assert any(d.startswith("статус отзыва сертификата Неизвестный ответчику: CRL http://") for d in sr.details)


def test_revoked_by_crl_only(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.crl_pki.sign(rp.crl_revoked, DOC)
    sr = one(sig, anchored(rp.croot, fetcher=fetcher))
    assert sr.status == "invalid" and sr.reasons == ["revoked"]
    source = sr.certificate.revocation_source  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert source is not None and source.kind == "crl" and source.location == f"{rp.files.base_url}/crl/croot.crl"


def test_delta_crl_is_applied(rp: RevPki, fetcher: HttpFetcher) -> None:
    # The complete CRL predates the revocation: only the delta CRL (freshestCRL) shows it.
    complete = load_crl(rp.files.files["/crl/croot.crl"])
    assert complete["tbs_cert_list"]["revoked_certificates"].native is not None
    assert len(complete["tbs_cert_list"]["revoked_certificates"]) == 1
    sr = one(rp.crl_pki.sign(rp.delta_victim, DOC), anchored(rp.croot, fetcher=fetcher))
    assert sr.status == "invalid" and sr.reasons == ["revoked"]
    source = sr.certificate.revocation_source  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert source is not None and source.delta
    ok = one(rp.crl_pki.sign(rp.crl_good, DOC), anchored(rp.croot, fetcher=fetcher))
    assert ok.status == "valid" and ok.certificate.revocation_source.delta  # type: ignore[union-attr]  # set for a parsed signature; the test checks it


def test_a_delta_for_another_base_is_not_applied(rp: RevPki, fetcher: HttpFetcher) -> None:
    saved = rp.files.files["/delta/croot-delta.crl"]
    rp.files.put("delta/croot-delta.crl", rp.crl_pki.delta_crl(rp.croot, base_number=7))  # base 7 > complete's 1
    try:
        sr = one(rp.crl_pki.sign(rp.delta_victim, DOC), anchored(rp.croot, fetcher=fetcher))
    finally:
        rp.files.put("delta/croot-delta.crl", saved)
    assert sr.status == "valid" and not sr.certificate.revocation_source.delta  # type: ignore[union-attr]  # set for a parsed signature; the test checks it


def test_a_delta_crl_alone_proves_nothing(rp: RevPki) -> None:
    """Supplied as if it were complete, a delta CRL cannot say "good": it lists only changes."""
    delta = load_crl(rp.files.files["/delta/croot-delta.crl"])
    sr = one(rp.crl_pki.sign(rp.crl_good, DOC), anchored(rp.croot, crls=(delta,)))
    assert sr.status == "indeterminate" and sr.reasons == ["revocation_unknown"]


def test_responder_and_distribution_point_down_is_indeterminate(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.pki.sign(rp.good, DOC, certfile=[rp.inter.cert])
    rp.files.down = rp.relay.down = True
    try:
        sr = one(sig, anchored(rp.root, fetcher=fetcher))
    finally:
        rp.files.down = rp.relay.down = False
    assert sr.status == "indeterminate" and sr.reasons == ["revocation_unknown"]
    assert sr.certificate is not None and sr.certificate.revocation == "unknown"
    assert any("ответчик OCSP недоступен" in d for d in sr.details), sr.details


def test_missing_intermediate_is_fetched_by_aia(rp: RevPki, fetcher: HttpFetcher) -> None:
    sig = rp.pki.sign(rp.good, DOC)  # the bag holds only the signer
    offline = one(sig, anchored(rp.root))
    assert offline.status == "indeterminate" and "chain_incomplete" in offline.reasons
    hits = rp.files.hits("aia/rinter.cer")
    sr = one(sig, anchored(rp.root, fetcher=fetcher))
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert rp.files.hits("aia/rinter.cer") == hits + 1
    assert [e.subject.rsplit("CN=", 1)[1] for e in sr.certificate.chain] == [  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
        "Добросовестный", "Revocation Issuing CA", "Test GOST Root rroot",
    ]  # fmt: skip


def test_aia_bundle_formats_and_bounds(rp: RevPki) -> None:
    from cades.validation import issuer_certificates

    der, pem = rp.inter.cert_der, rp.inter.cert_pem
    p7 = rp.pki.run("crl2pkcs7", "-nocrl", "-certfile", rp.inter.cert, "-outform", "DER")
    p7_pem = rp.pki.run("crl2pkcs7", "-nocrl", "-certfile", rp.inter.cert)
    for body in (der, pem, p7, p7_pem):
        assert [c.dump() for c in issuer_certificates(body)] == [der]
    assert issuer_certificates(b"<html>not found</html>") == []

    class Loop(Fetcher):
        """Every caIssuers address answers with a certificate that does not issue anything here."""

        def __init__(self) -> None:
            self.calls: list[str] = []

        def get(self, url: str, *, kind: Kind) -> bytes | None:
            self.calls.append(url)
            return rp.croot.cert_der

        def post_ocsp(self, url: str, request: bytes) -> bytes | None:
            return None

    loop = Loop()
    sr = one(rp.pki.sign(rp.good, DOC), anchored(rp.root, fetcher=loop))
    assert sr.status == "indeterminate" and "chain_incomplete" in sr.reasons
    assert loop.calls == [f"{rp.files.base_url}/aia/rinter.cer"]  # one address, asked once


class Recording(Fetcher):
    def __init__(self, origin: Origin = "network") -> None:
        self.calls: list[str] = []
        self.requests: list[bytes] = []
        self.origin = origin
        self.inner = HttpFetcher(FetchLimits(timeout=5))

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        self.calls.append(url)
        return self.inner.get(url, kind=kind)

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        self.calls.append(url)
        self.requests.append(request)
        return self.inner.post_ocsp(url, request)

    def get_with_origin(self, url: str, *, kind: Kind) -> tuple[bytes | None, Origin]:
        return self.get(url, kind=kind), self.origin

    def post_ocsp_with_origin(self, url: str, request: bytes) -> tuple[bytes | None, Origin]:
        return self.post_ocsp(url, request), self.origin


def test_embedded_ocsp_and_crl_values_need_no_network(rp: RevPki) -> None:
    """CAdES-X Long: the signer's OCSP answer and the root's CRL (for the intermediate) ride in the signature."""
    leaf, issuer = load_certificate(rp.good.cert_pem), load_certificate(rp.inter.cert_pem)
    with HttpFetcher() as http:
        body = http.post_ocsp(f"{rp.relay.base_url}/ocsp/rinter", ocsp.build_request(leaf, issuer, nonce=None))
    assert body is not None
    basic = asn1_ocsp.OCSPResponse.load(body)["response_bytes"]["response"].parsed
    sig = rp.pki.sign(rp.good, DOC)
    rev = RevocationValues({"crl_vals": [load_crl(rp.pki.crl_der(rp.root))], "ocsp_vals": [basic]}).dump()
    cert_values = core.SequenceOf(contents=rp.inter.cert_der).dump()
    x_long = add_unsigned_attributes(sig, [(CERT_VALUES_OID, [cert_values]), (REVOCATION_VALUES_OID, [rev])])
    assert len(parse_signed_data(x_long).signers[0].ocsp_values) == 1
    recording = Recording()
    sr = one(x_long, anchored(rp.root, fetcher=recording))
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert recording.calls == []
    chain = sr.certificate.chain  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    sources = [(e.revocation_source.kind, e.revocation_source.origin) for e in chain[:2] if e.revocation_source]
    assert sources == [("ocsp", "embedded"), ("crl", "embedded")]


def test_supplied_crls_need_no_network_and_a_cache_says_so(rp: RevPki) -> None:
    crls = (load_crl(rp.pki.crl_der(rp.inter)), load_crl(rp.pki.crl_der(rp.root)))
    sig = rp.pki.sign(rp.good, DOC, certfile=[rp.inter.cert])
    recording = Recording()
    sr = one(sig, anchored(rp.root, fetcher=recording, crls=crls))
    assert sr.status == "valid" and recording.calls == []
    assert sr.certificate.revocation_source.origin == "supplied"  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    cache = Recording(origin="cache")
    cache.stores_ocsp_answers = True
    cached = one(sig, anchored(rp.root, fetcher=cache))
    assert cached.status == "valid" and cached.certificate.revocation_source.origin == "cache"  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    # A fetcher that may replay stored OCSP answers is sent requests without a nonce: the same bytes every time.
    assert one(sig, anchored(rp.root, fetcher=cache)).status == "valid"
    assert len(cache.requests) == 4 and cache.requests[:2] == cache.requests[2:]


def test_crl_addresses_from_the_accredited_list(rp: RevPki, fetcher: HttpFetcher) -> None:
    """A certificate without a distribution point is checked at the address the CA list gives for its issuer."""
    bare = OpenSSLPki(rp.crl_pki.root.parent / "bare")
    broot = bare.root_ca("broot", algorithm="gost2012_256")
    user = bare.issue(broot, "buser", subject=bare.subject(CN="Без точки распространения"))
    rp.files.put("list/broot.crl", bare.crl_der(broot))
    sig = bare.sign(user, DOC)
    assert one(sig, anchored(broot, fetcher=fetcher)).reasons == ["revocation_unknown"]
    ski = load_certificate(broot.cert_pem).key_identifier.hex().upper()
    table = {ski: (f"{rp.files.base_url}/list/broot.crl",)}
    sr = one(sig, anchored(broot, fetcher=fetcher, crl_urls=table))
    assert sr.status == "valid", (sr.reasons, sr.details)


def test_claimed_and_trusted_signing_time(rp: RevPki) -> None:
    """Revoked after the signing time: fine when a time stamp proves the time, no proof when it is only claimed;
    revoked before the (claimed) signing time: invalid."""
    sig = rp.pki.sign(rp.late, DOC, certfile=[rp.inter.cert])
    token = rp.pki.timestamp_token(rp.tsa, parse_signed_data(sig).signers[0].signature)
    stamped = add_unsigned_attributes(sig, [(TIMESTAMP_TOKEN_OID, [token])])
    time.sleep(1.1)  # revocation times have one-second resolution: the revocation must come strictly later
    rp.pki.revoke(rp.late)
    crls = (load_crl(rp.pki.crl_der(rp.inter)), load_crl(rp.pki.crl_der(rp.root)))
    after = rp.pki.sign(rp.late, DOC, certfile=[rp.inter.cert])

    claimed = one(sig, anchored(rp.root, crls=crls))
    assert claimed.status == "indeterminate" and claimed.reasons == ["revoked_no_poe"]
    assert claimed.signing_time_source == "signed_attribute" and claimed.validation_time == claimed.claimed_signing_time
    assert claimed.certificate is not None and claimed.certificate.revocation == "revoked"

    proven = one(stamped, anchored(rp.root, crls=crls))
    assert proven.status == "valid", (proven.reasons, proven.details)
    assert proven.signing_time_source == "timestamp" and proven.certificate.chain[0].revocation == "good"  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert any("после подтверждённого времени подписания" in d for d in proven.details)

    signed_after = one(after, anchored(rp.root, crls=crls))
    assert signed_after.status == "invalid" and signed_after.reasons == ["revoked"]


def test_grace_period_keeps_good_from_being_final(rp: RevPki) -> None:
    crls = (load_crl(rp.pki.crl_der(rp.inter)), load_crl(rp.pki.crl_der(rp.root)))
    sig = rp.pki.sign(rp.good, DOC, certfile=[rp.inter.cert])
    hour = dt.timedelta(hours=1)
    waiting = one(sig, anchored(rp.root, crls=crls, grace=hour))
    assert waiting.status == "indeterminate" and waiting.reasons == ["revocation_unknown"]
    assert any("станет окончательным после" in d for d in waiting.details)
    assert one(sig, anchored(rp.root, crls=crls)).status == "valid"  # no grace: final at once
    # A grace period that has passed (the signing time two hours ago) does not hold anything back.
    past = anchored(rp.root, crls=crls, grace=hour, at=dt.datetime.now(dt.UTC) - 2 * hour)
    assert one(sig, past).status in ("valid", "invalid")  # the certificates themselves date from yesterday
    assert "revocation_unknown" not in one(sig, past).reasons


def test_cli_fetch_and_grace(rp: RevPki, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc, sig, root = tmp_path / "doc.txt", tmp_path / "doc.p7s", tmp_path / "root.pem"
    doc.write_bytes(DOC)
    sig.write_bytes(rp.pki.sign(rp.good, DOC, certfile=[rp.inter.cert]))
    root.write_bytes(rp.root.cert_pem)
    base = ["verify", str(doc), str(sig), "--trust", str(root), "--format", "json"]
    assert main(base) == 3  # offline: status unknown, indeterminate
    capsys.readouterr()
    assert main([*base, "--fetch"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["signatures"][0]["certificate"]["revocation_source"]["kind"] == "ocsp"
    assert main([*base, "--fetch-crls", "--grace", "60"]) == 3
    assert json.loads(capsys.readouterr().out)["signatures"][0]["reasons"] == ["revocation_unknown"]
