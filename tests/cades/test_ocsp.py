"""OCSP against the real ``openssl ocsp`` responder with GOST keys: what cades.ocsp believes and what it refuses."""

from __future__ import annotations

import datetime as dt
import os
import random
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509

from cades import ocsp
from cades.asn1 import REVOCATION_VALUES_OID, RevocationValues, load_certificate
from cades.cms import parse_signed_data
from cades.fetch import Fetcher, FetchLimits, HttpFetcher, Kind
from tests.support.ocsp_responder import OcspResponder, ocsp_responder
from tests.support.openssl_pki import Issued, OpenSSLPki, add_unsigned_attributes


@dataclass
class OcspPki:
    pki: OpenSSLPki
    ca: Issued
    user: Issued
    delegate: Issued  # v3_ocsp: OCSPSigning EKU, issued by ca
    not_a_responder: Issued  # issued by ca, no OCSPSigning EKU
    other_ca: Issued
    other_user: Issued
    other_delegate: Issued  # OCSPSigning EKU, but issued by other_ca

    def cert(self, issued: Issued) -> x509.Certificate:
        return load_certificate(issued.cert_pem)


@pytest.fixture(scope="module")
def op(tmp_path_factory: pytest.TempPathFactory) -> OcspPki:
    pki = OpenSSLPki(tmp_path_factory.mktemp("ocsp-pki"), ocsp_url="http://127.0.0.1:9/ocsp")
    ca = pki.root_ca("ocsp-ca", algorithm="gost2012_256")
    other = pki.root_ca("other-ca", algorithm="gost2012_512")
    return OcspPki(
        pki=pki,
        ca=ca,
        user=pki.issue(ca, "ocsp-user", subject=pki.subject(CN="Петров Пётр", INN="771234567890")),
        delegate=pki.issue(ca, "ocsp-delegate", subject=pki.subject(CN="OCSP-сервер УЦ"), profile="v3_ocsp"),
        not_a_responder=pki.issue(ca, "ocsp-plain", subject=pki.subject(CN="Не ответчик")),
        other_ca=other,
        other_user=pki.issue(other, "other-user", subject=pki.subject(CN="Чужой")),
        other_delegate=pki.issue(other, "other-delegate", subject=pki.subject(CN="Чужой OCSP"), profile="v3_ocsp"),
    )


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class RecordingFetcher(Fetcher):
    """The real HttpFetcher, keeping the last request and answer so a test can look inside them."""

    def __init__(self) -> None:
        self.http = HttpFetcher(FetchLimits(timeout=10, backoff_after=100))
        self.requests: list[bytes] = []
        self.answers: list[bytes | None] = []

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        return self.http.get(url, kind=kind)

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        self.requests.append(request)
        answer = self.http.post_ocsp(url, request)
        self.answers.append(answer)
        return answer


@pytest.fixture
def fetcher() -> Iterator[RecordingFetcher]:
    f = RecordingFetcher()
    yield f
    f.http.close()


def _ask(op: OcspPki, responder: OcspResponder, fetcher: Fetcher, user: Issued, issuer: Issued) -> ocsp.OcspAnswer:
    now = _now()
    return ocsp.query(fetcher, responder.url + "/ocsp-ca", op.cert(user), op.cert(issuer), at=now, now=now)


def _raw(responder: OcspResponder, op: OcspPki, user: Issued, issuer: Issued, nonce: bytes | None) -> bytes:
    fetcher = HttpFetcher()
    try:
        body = fetcher.post_ocsp(responder.url, ocsp.build_request(op.cert(user), op.cert(issuer), nonce=nonce))
    finally:
        fetcher.close()
    assert body is not None
    return body


def _basic(der: bytes) -> asn1_ocsp.BasicOCSPResponse:
    response = asn1_ocsp.OCSPResponse.load(der)
    return asn1_ocsp.BasicOCSPResponse.load(bytes(response["response_bytes"]["response"]))


# --- the request ---------------------------------------------------------------------------------------


def test_request_is_what_openssl_reads(op: OcspPki, tmp_path: Path) -> None:
    der = ocsp.build_request(op.cert(op.user), op.cert(op.ca), nonce=b"\x01" * 16)
    path = tmp_path / "req.der"
    path.write_bytes(der)
    text = op.pki.run("ocsp", "-reqin", path, "-req_text").decode()
    assert "Hash Algorithm: sha1" in text
    serial = format(op.cert(op.user)["tbs_certificate"]["serial_number"].native, "X")
    assert f"Serial Number: {serial}" in text
    assert "OCSP Nonce" in text and "0101010101" in text
    assert (
        "OCSP Nonce" not in op.pki.run("ocsp", "-reqin", _write(tmp_path, b"r2", _req(op, None)), "-req_text").decode()
    )


def _req(op: OcspPki, nonce: bytes | None) -> bytes:
    return ocsp.build_request(op.cert(op.user), op.cert(op.ca), nonce=nonce)


def _write(tmp_path: Path, name: bytes, data: bytes) -> Path:
    path = tmp_path / name.decode()
    path.write_bytes(data)
    return path


# --- answers of a real responder -----------------------------------------------------------------------


def test_good_signed_by_the_ca(op: OcspPki, fetcher: RecordingFetcher) -> None:
    with ocsp_responder(op.pki, op.ca) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
    assert answer.status == "good", answer.problem
    assert answer.problem == ""
    assert answer.responder == "Test GOST Root ocsp-ca"
    assert answer.url == responder.url + "/ocsp-ca"
    assert answer.produced_at is not None and answer.this_update is not None
    assert answer.next_update is None  # openssl sets none unless -nmin/-ndays
    assert answer.revocation_time is None


def test_good_from_a_delegated_responder(op: OcspPki, fetcher: RecordingFetcher) -> None:
    with ocsp_responder(op.pki, op.ca, signer=op.delegate, extra=["-nmin", "10"]) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
    assert answer.status == "good", answer.problem
    assert answer.responder == "OCSP-сервер УЦ"
    assert answer.next_update is not None and answer.this_update is not None
    assert answer.next_update - answer.this_update == dt.timedelta(minutes=10)


def test_delegated_responder_by_key_and_certificate_from_the_pool(op: OcspPki) -> None:
    """-resp_key_id names the responder by key hash; -resp_no_certs leaves its certificate out (the pool has it)."""
    with ocsp_responder(op.pki, op.ca, signer=op.delegate, extra=["-resp_key_id", "-resp_no_certs"]) as responder:
        body = _raw(responder, op, op.user, op.ca, None)
    assert _basic(body)["tbs_response_data"]["responder_id"].name == "by_key"
    now = _now()
    user, ca = op.cert(op.user), op.cert(op.ca)
    without = ocsp.check_response(body, user, ca, at=now, now=now, nonce=None)
    assert without.status == "unusable"
    assert without.problem == ocsp.NO_SIGNER
    answer = ocsp.check_response(body, user, ca, at=now, now=now, nonce=None, pool=[op.cert(op.delegate)])
    assert answer.status == "good", answer.problem


def test_revoked_after_the_responder_started(tmp_path: Path, fetcher: RecordingFetcher) -> None:
    pki = OpenSSLPki(tmp_path)
    ca = pki.root_ca("rev-ca", algorithm="gost2012_256")
    user = pki.issue(ca, "rev-user", subject=pki.subject(CN="Отзываемый"))
    cert, issuer = load_certificate(user.cert_pem), load_certificate(ca.cert_pem)
    with ocsp_responder(pki, ca) as responder:
        now = _now()
        assert ocsp.query(fetcher, responder.url, cert, issuer, at=now, now=now).status == "good"
        pki.revoke(user, reason="keyCompromise")
        responder.refresh()
        later = _now() + dt.timedelta(seconds=1)
        answer = ocsp.query(fetcher, responder.url, cert, issuer, at=later, now=later)
        signed_before = ocsp.query(fetcher, responder.url, cert, issuer, at=now - dt.timedelta(hours=1), now=later)
    assert answer.status == "revoked", answer.problem
    assert answer.reason == "key_compromise"
    assert answer.revocation_time is not None
    assert now - dt.timedelta(seconds=5) <= answer.revocation_time <= later
    # Signed before the revocation: good at that time, and the answer still says when it was revoked.
    assert signed_before.status == "good"
    assert signed_before.revocation_time == answer.revocation_time


def test_unknown_serial(op: OcspPki, tmp_path: Path, fetcher: RecordingFetcher) -> None:
    """A certificate the CA's key signed outside `openssl ca` is not in index.txt: the responder says unknown."""
    key = op.pki.make_key("stray")
    csr = tmp_path / "stray.csr"
    pem = tmp_path / "stray.pem"
    op.pki.run("req", "-new", "-key", key, "-md_gost12_256", "-subj", "/CN=Stray", "-out", csr)
    op.pki.run(
        "x509", "-req", "-in", csr, "-CA", op.ca.cert, "-CAkey", op.ca.key, "-set_serial", "777777",
        "-days", "30", "-md_gost12_256", "-out", pem,
    )  # fmt: skip
    stray = Issued("stray", pem, key, "md_gost12_256", op.ca)
    with ocsp_responder(op.pki, op.ca) as responder:
        answer = _ask(op, responder, fetcher, stray, op.ca)
    assert answer.status == "unknown", answer.problem


def test_certificate_of_another_ca_asked_of_this_responder(op: OcspPki, fetcher: RecordingFetcher) -> None:
    """openssl answers «unknown» for a CA it does not serve, signed with a key the other CA never authorised."""
    with ocsp_responder(op.pki, op.ca) as responder:
        answer = _ask(op, responder, fetcher, op.other_user, op.other_ca)
    assert answer.status == "unusable"
    assert answer.problem == ocsp.NOT_AUTHORISED


@pytest.mark.parametrize("who", ["not_a_responder", "other_delegate"])
def test_responder_without_the_issuers_authorisation(op: OcspPki, fetcher: RecordingFetcher, who: str) -> None:
    """A certificate of the CA without id-kp-OCSPSigning, or an OCSP certificate of another CA, may not answer."""
    signer: Issued = getattr(op, who)
    with ocsp_responder(op.pki, op.ca, signer=signer) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
    assert answer.status == "unusable"
    assert answer.problem == ocsp.NOT_AUTHORISED
    assert answer.responder == ""


def test_delegated_responder_certificate_expired_when_it_answered(op: OcspPki, fetcher: RecordingFetcher) -> None:
    past = _now() - dt.timedelta(days=10)
    expired = op.pki.issue(
        op.ca, "ocsp-expired", subject=op.pki.subject(CN="Просроченный OCSP"), profile="v3_ocsp",
        not_before=past, not_after=past + dt.timedelta(days=1),
    )  # fmt: skip
    with ocsp_responder(op.pki, op.ca, signer=expired) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
    assert (answer.status, answer.problem) == ("unusable", ocsp.NOT_AUTHORISED)


def test_tampered_response(op: OcspPki) -> None:
    with ocsp_responder(op.pki, op.ca) as responder:
        body = _raw(responder, op, op.user, op.ca, None)
    now = _now()
    user, ca = op.cert(op.user), op.cert(op.ca)
    assert ocsp.check_response(body, user, ca, at=now, now=now, nonce=None).status == "good"
    # A byte of the signature value, and a byte of producedAt (signed data).
    basic = _basic(body)
    signature = bytes(basic["signature"].contents)
    produced = bytes(basic["tbs_response_data"]["produced_at"].contents)
    for position in (body.index(signature) + len(signature) - 1, body.index(produced) + len(produced) - 2):
        tampered = bytearray(body)
        tampered[position] ^= 0x01
        answer = ocsp.check_response(bytes(tampered), user, ca, at=now, now=now, nonce=None)
        assert answer.status == "unusable"
        assert answer.problem == ocsp.BAD_SIGNATURE


def test_nonce_echoed_and_checked(op: OcspPki, fetcher: RecordingFetcher) -> None:
    with ocsp_responder(op.pki, op.ca) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
        nonce = os.urandom(16)
        body = _raw(responder, op, op.user, op.ca, nonce)
        no_nonce = _raw(responder, op, op.user, op.ca, None)
    assert answer.status == "good"
    sent = asn1_ocsp.OCSPRequest.load(fetcher.requests[-1])["tbs_request"]["request_extensions"][0]
    assert sent["extn_id"].native == "nonce" and len(sent["extn_value"].parsed.native) == 16
    echoed = _basic(fetcher.answers[-1] or b"")["tbs_response_data"]["response_extensions"][0]
    assert echoed["extn_value"].parsed.native == sent["extn_value"].parsed.native

    now = _now()
    user, ca = op.cert(op.user), op.cert(op.ca)
    assert ocsp.check_response(body, user, ca, at=now, now=now, nonce=nonce).status == "good"
    wrong = ocsp.check_response(body, user, ca, at=now, now=now, nonce=os.urandom(16))
    assert (wrong.status, wrong.problem) == ("unusable", ocsp.NONCE_MISMATCH)
    # A responder that leaves the nonce out (pre-signed answers) is accepted: the nonce is optional.
    assert ocsp.check_response(no_nonce, user, ca, at=now, now=now, nonce=nonce).status == "good"


def test_query_without_a_nonce_for_a_caching_fetcher(op: OcspPki, fetcher: RecordingFetcher) -> None:
    """A fetcher that replays a stored answer would fail the nonce check: such callers ask without one."""
    with ocsp_responder(op.pki, op.ca) as responder:
        now = _now()
        answer = ocsp.query(fetcher, responder.url, op.cert(op.user), op.cert(op.ca), at=now, now=now, use_nonce=False)
    assert answer.status == "good", answer.problem
    assert not asn1_ocsp.OCSPRequest.load(fetcher.requests[-1])["tbs_request"]["request_extensions"].native


def test_stale_and_future_answers(op: OcspPki) -> None:
    with ocsp_responder(op.pki, op.ca, extra=["-nmin", "5"]) as responder:
        body = _raw(responder, op, op.user, op.ca, None)
    user, ca = op.cert(op.user), op.cert(op.ca)
    basic = _basic(body)
    single = basic["tbs_response_data"]["responses"][0]
    this_update, next_update = single["this_update"].native, single["next_update"].native
    fresh = ocsp.check_response(body, user, ca, at=this_update, now=next_update - dt.timedelta(seconds=1), nonce=None)
    assert fresh.status == "good"
    later = next_update + dt.timedelta(seconds=1)
    stale = ocsp.check_response(body, user, ca, at=this_update, now=later, nonce=None)
    assert (stale.status, stale.problem) == ("unusable", ocsp.STALE)
    assert stale.next_update == next_update  # the report can show how old it was
    early = this_update - dt.timedelta(minutes=6)
    future = ocsp.check_response(body, user, ca, at=early, now=early, nonce=None)
    assert (future.status, future.problem) == ("unusable", ocsp.FUTURE)
    skewed = this_update - dt.timedelta(minutes=4)
    assert ocsp.check_response(body, user, ca, at=skewed, now=skewed, nonce=None).status == "good"


def test_answer_about_another_certificate(op: OcspPki) -> None:
    with ocsp_responder(op.pki, op.ca) as responder:
        body = _raw(responder, op, op.not_a_responder, op.ca, None)
    now = _now()
    answer = ocsp.check_response(body, op.cert(op.user), op.cert(op.ca), at=now, now=now, nonce=None)
    assert (answer.status, answer.problem) == ("unusable", ocsp.NOT_THIS_CERT)


def test_responder_down_is_unusable_not_an_exception(op: OcspPki, fetcher: RecordingFetcher) -> None:
    with ocsp_responder(op.pki, op.ca) as responder:
        url = responder.url
    assert responder.process.poll() is not None  # stopped and reaped
    now = _now()
    answer = ocsp.query(fetcher, url, op.cert(op.user), op.cert(op.ca), at=now, now=now)
    assert (answer.status, answer.problem, answer.url) == ("unusable", ocsp.UNREACHABLE, url)


def test_error_statuses(op: OcspPki) -> None:
    now = _now()
    user, ca = op.cert(op.user), op.cert(op.ca)
    for code, name in ((1, "malformed_request"), (3, "try_later"), (6, "unauthorized")):
        body = asn1_ocsp.OCSPResponse({"response_status": name}).dump()
        assert body[-1] == code
        answer = ocsp.check_response(body, user, ca, at=now, now=now, nonce=None)
        assert answer.status == "unusable" and answer.problem


def test_hostile_bodies_never_raise(op: OcspPki) -> None:
    with ocsp_responder(op.pki, op.ca, signer=op.delegate, extra=["-nmin", "10"]) as responder:
        body = _raw(responder, op, op.user, op.ca, None)
    now = _now()
    user, ca = op.cert(op.user), op.cert(op.ca)
    assert ocsp.check_response(body, user, ca, at=now, now=now, nonce=None).status == "good"
    for size in range(len(body)):
        assert ocsp.check_response(body[:size], user, ca, at=now, now=now, nonce=None).status == "unusable"
    for junk in (b"", b"\x00", b"\x30\x80", b"\x30\x84\xff\xff\xff\xff", os.urandom(600), b"\x30" * 5000):
        assert ocsp.check_response(junk, user, ca, at=now, now=now, nonce=None).status == "unusable"
    assert ocsp.check_response(body + b"\x00", user, ca, at=now, now=now, nonce=None).status == "unusable"
    too_big = ocsp.check_response(b"\x30" + bytes(ocsp.MAX_RESPONSE_SIZE), user, ca, at=now, now=now, nonce=None)
    assert (too_big.status, too_big.problem) == ("unusable", ocsp.TOO_LARGE)
    # Flipped bytes: inside the signed ResponseData every flip is fatal; elsewhere (the certificates
    # carried alongside, which are not signed) at worst the answer stays what it was.
    tbs = _basic(body)["tbs_response_data"].dump()
    start = body.index(tbs)
    rng = random.Random(13)
    for _ in range(300):
        position = rng.randrange(len(body))
        flipped = bytearray(body)
        flipped[position] ^= 1 << rng.randrange(8)
        answer = ocsp.check_response(bytes(flipped), user, ca, at=now, now=now, nonce=None)
        assert answer.status in ("good", "unusable")
        if start <= position < start + len(tbs):
            assert answer.status == "unusable", position


# --- OCSP values inside a signature (CAdES-X Long) -----------------------------------------------------


def test_check_basic_from_a_signature(op: OcspPki) -> None:
    with ocsp_responder(op.pki, op.ca, signer=op.delegate) as responder:
        body = _raw(responder, op, op.user, op.ca, os.urandom(16))
    basic = _basic(body)
    signature = op.pki.sign(op.user, b"document")
    values = RevocationValues({"ocsp_vals": [basic]}).dump()
    x_long = add_unsigned_attributes(signature, [(REVOCATION_VALUES_OID, [values])])
    signer = parse_signed_data(x_long).signers[0]
    assert len(signer.ocsp_values) == 1
    embedded = signer.ocsp_values[0]
    now = _now()
    answer = ocsp.check_basic(embedded, op.cert(op.user), op.cert(op.ca), at=now, now=now)
    assert answer.status == "good", answer.problem
    assert answer.responder == "OCSP-сервер УЦ" and answer.url == ""
    # Not about the other certificate, and a damaged value is unusable, not an exception.
    other = ocsp.check_basic(embedded, op.cert(op.not_a_responder), op.cert(op.ca), at=now, now=now)
    assert (other.status, other.problem) == ("unusable", ocsp.NOT_THIS_CERT)
    broken = asn1_ocsp.BasicOCSPResponse.load(basic.dump()[:-40] + bytes(40))
    assert ocsp.check_basic(broken, op.cert(op.user), op.cert(op.ca), at=now, now=now).status == "unusable"


def test_responder_process_is_gone_after_a_failing_test(op: OcspPki) -> None:
    seen: list[subprocess.Popen[bytes]] = []
    with pytest.raises(RuntimeError), ocsp_responder(op.pki, op.ca) as responder:
        seen.append(responder.process)
        raise RuntimeError("test failed inside")
    assert seen[0].returncode is not None


# --- CertID hash algorithms, key sizes, the request's encoding ----------------------------------------


@pytest.mark.parametrize("digest", ["-sha1", "-sha256", "-md_gost12_256", "-md_gost12_512"])
def test_certid_hashed_with_the_responses_own_algorithm(op: OcspPki, tmp_path: Path, digest: str) -> None:
    """openssl's own client asks with a CertID hashed by `digest`; the responder answers with the same CertID."""
    request = tmp_path / "req.der"
    op.pki.run(
        "ocsp", "-issuer", op.ca.cert, digest, "-cert", op.user.cert, "-no_nonce", "-reqout", request,
    )  # fmt: skip
    with ocsp_responder(op.pki, op.ca) as responder:
        fetcher = HttpFetcher()
        try:
            body = fetcher.post_ocsp(responder.url, request.read_bytes())
        finally:
            fetcher.close()
    assert body is not None
    single = _basic(body)["tbs_response_data"]["responses"][0]
    expected = {"-sha1": "sha1", "-sha256": "sha256", "-md_gost12_256": "1.2.643.7.1.1.2.2"}
    expected["-md_gost12_512"] = "1.2.643.7.1.1.2.3"
    algorithm = single["cert_id"]["hash_algorithm"]["algorithm"]
    assert expected[digest] in (algorithm.native, algorithm.dotted)
    now = _now()
    answer = ocsp.check_response(body, op.cert(op.user), op.cert(op.ca), at=now, now=now, nonce=None)
    assert answer.status == "good", answer.problem


def test_ca_with_a_512_bit_key(op: OcspPki, fetcher: RecordingFetcher) -> None:
    with ocsp_responder(op.pki, op.other_ca, signer=op.other_delegate) as responder:
        answer = _ask(op, responder, fetcher, op.other_user, op.other_ca)
        by_ca = ocsp_responder(op.pki, op.other_ca)
        with by_ca as second:
            direct = _ask(op, second, fetcher, op.other_user, op.other_ca)
    assert answer.status == "good", answer.problem
    assert direct.status == "good", direct.problem


def test_request_encoding_is_the_standard_der(op: OcspPki) -> None:
    """The hand-made DER equals what asn1crypto's generic encoder makes of the same OCSPRequest."""
    from cades.ocsp import _cert_id

    ids = _cert_id(op.cert(op.user), op.cert(op.ca), ocsp.SHA1_OID)
    assert ids is not None
    for nonce in (None, b"\x07" * 16, os.urandom(300)):
        tbs: dict[str, object] = {
            "request_list": [
                {
                    "req_cert": {
                        "hash_algorithm": {"algorithm": "sha1"},
                        "issuer_name_hash": ids[0],
                        "issuer_key_hash": ids[1],
                        "serial_number": ids[2],
                    }
                }
            ]
        }
        if nonce is not None:
            tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False, "extn_value": nonce}]
        expected = asn1_ocsp.OCSPRequest({"tbs_request": tbs}).dump()
        assert ocsp.build_request(op.cert(op.user), op.cert(op.ca), nonce=nonce) == expected


def test_naive_times_are_a_programming_error(op: OcspPki) -> None:
    naive = dt.datetime.now()
    with pytest.raises(ValueError):
        ocsp.check_response(b"\x30\x00", op.cert(op.user), op.cert(op.ca), at=naive, now=_now(), nonce=None)


def test_response_signed_with_an_unsupported_algorithm(op: OcspPki, tmp_path: Path) -> None:
    """An RSA responder key (not a GOST one) for a GOST CA: the signature cannot be checked, never accepted."""
    key = tmp_path / "rsa.key"
    op.pki.run("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", key)
    csr, pem, ext = tmp_path / "rsa.csr", tmp_path / "rsa.pem", tmp_path / "ext.cnf"
    op.pki.run("req", "-new", "-key", key, "-sha256", "-subj", "/CN=RSA OCSP", "-out", csr)
    ext.write_text("[v3]\nbasicConstraints = critical,CA:FALSE\nextendedKeyUsage = critical,OCSPSigning\n")
    op.pki.run(
        "x509", "-req", "-in", csr, "-CA", op.ca.cert, "-CAkey", op.ca.key, "-set_serial", "4242", "-days", "30",
        "-md_gost12_256", "-extfile", ext, "-extensions", "v3", "-out", pem,
    )  # fmt: skip
    rsa = Issued("rsa-responder", pem, key, "sha256", op.ca)
    with ocsp_responder(op.pki, op.ca, signer=rsa) as responder:
        body = _raw(responder, op, op.user, op.ca, None)
    now = _now()
    answer = ocsp.check_response(body, op.cert(op.user), op.cert(op.ca), at=now, now=now, nonce=None)
    assert (answer.status, answer.problem) == ("unusable", ocsp.UNSUPPORTED)


def test_several_certificates_in_one_answer(op: OcspPki, tmp_path: Path) -> None:
    """openssl's client asks about two certificates at once; each check picks the SingleResponse that is its own."""
    request = tmp_path / "two.der"
    op.pki.run(
        "ocsp", "-issuer", op.ca.cert, "-cert", op.user.cert, "-cert", op.delegate.cert, "-no_nonce",
        "-reqout", request,
    )  # fmt: skip
    with ocsp_responder(op.pki, op.ca) as responder:
        fetcher = HttpFetcher()
        try:
            body = fetcher.post_ocsp(responder.url, request.read_bytes())
        finally:
            fetcher.close()
    assert body is not None
    assert len(_basic(body)["tbs_response_data"]["responses"]) == 2
    now = _now()
    for who in (op.user, op.delegate):
        answer = ocsp.check_response(body, op.cert(who), op.cert(op.ca), at=now, now=now, nonce=None)
        assert answer.status == "good", answer.problem
    stranger = ocsp.check_response(body, op.cert(op.not_a_responder), op.cert(op.ca), at=now, now=now, nonce=None)
    assert stranger.problem == ocsp.NOT_THIS_CERT


def test_impostor_with_the_issuers_name(op: OcspPki, fetcher: RecordingFetcher) -> None:
    """A self-made CA with the very same name but another key signs the answer: the name alone proves nothing."""
    ca_subject = op.pki.subject(C="RU", O="Тестовый УЦ", CN="Test GOST Root ocsp-ca")
    impostor = op.pki.root_ca("impostor", algorithm="gost2012_256", subject=ca_subject)
    with ocsp_responder(op.pki, op.ca, signer=impostor) as responder:
        answer = _ask(op, responder, fetcher, op.user, op.ca)
    assert (answer.status, answer.problem) == ("unusable", ocsp.NOT_AUTHORISED)
