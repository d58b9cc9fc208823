"""CAdES-T (RFC 3161 tokens from ``openssl ts`` with a GOST TSA key) and CAdES-X Long Type 1 values."""

from __future__ import annotations

import datetime as dt
import time

from asn1crypto import core, tsp

from cades.asn1 import CERT_VALUES_OID, REVOCATION_VALUES_OID, RevocationValues, load_certificate, load_crl
from cades.cms import TIMESTAMP_TOKEN_OID, parse_signed_data
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.openssl_pki import add_unsigned_attributes
from tests.support.pki_fixtures import GostPki

DOC = b"%PDF-1.7 test document for CAdES-T\n" * 500


def trusted(pki: GostPki, **kw: object) -> ValidationContext:
    """The test root as the anchor and, unless the test says otherwise, CRLs for every link of the chain: a
    signature is ``valid`` only with its revocation status known."""
    kw.setdefault("crls", tuple(load_crl(p.read_bytes()) for p in pki.crl_files))
    return ValidationContext(trust_roots=(load_certificate(pki.root.cert_pem),), **kw)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


def cades_t(pki: GostPki, signer: object, doc: bytes = DOC, *, stamp_over: bytes | None = None) -> bytes:
    """Sign, ask the TSA (openssl ts) to stamp the signature value, put the token in unsigned attrs."""
    sig = pki.pki.sign(signer, doc, certfile=[pki.inter.cert])  # type: ignore[arg-type]  # signer comes in typed object
    value = parse_signed_data(sig).signers[0].signature
    token = pki.pki.timestamp_token(pki.tsa, stamp_over if stamp_over is not None else value)
    return add_unsigned_attributes(sig, [(TIMESTAMP_TOKEN_OID, [token])])


def test_openssl_ts_token_is_gost_signed(gost_pki: GostPki) -> None:
    token = gost_pki.pki.timestamp_token(gost_pki.tsa, b"data")
    parsed = parse_signed_data(token)
    assert parsed.content_type == "1.2.840.113549.1.9.16.1.4"
    assert parsed.signers[0].signature_oid in {"1.2.643.7.1.1.1.1", "1.2.643.7.1.1.3.2"}
    info = tsp.TSTInfo.load(parsed.content)
    assert info["message_imprint"]["hash_algorithm"]["algorithm"].dotted == "1.2.643.7.1.1.2.2"


def test_timestamp_becomes_the_trusted_signing_time(gost_pki: GostPki) -> None:
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    sig = cades_t(gost_pki, gost_pki.user256)
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert sr.signing_time_source == "timestamp"
    assert sr.signing_time is not None and before - dt.timedelta(seconds=2) <= sr.signing_time
    assert sr.validation_time == sr.signing_time
    assert sr.timestamp_authority and "Test TSA" in sr.timestamp_authority


def test_timestamp_over_something_else_is_rejected(gost_pki: GostPki) -> None:
    sig = cades_t(gost_pki, gost_pki.user256, stamp_over=b"not the signature value")
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid" and "bad_timestamp" in sr.reasons
    assert sr.signing_time_source == "signed_attribute"


def test_timestamp_from_an_untrusted_tsa_does_not_count(gost_pki: GostPki) -> None:
    sig = cades_t(gost_pki, gost_pki.user256)
    # Trust the intermediate only: the signer chains to it, the TSA (issued by the root) does not.
    ctx = ValidationContext(
        trust_roots=(load_certificate(gost_pki.inter.cert_pem),), crls=(load_crl(gost_pki.crl.read_bytes()),)
    )
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert sr.status == "valid" and "timestamp_untrusted" in sr.warnings
    assert sr.signing_time_source == "signed_attribute"


def test_tampered_token_is_rejected(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    value = parse_signed_data(sig).signers[0].signature
    token = bytearray(gost_pki.pki.timestamp_token(gost_pki.tsa, value))
    info_pos = bytes(token).index(b"\x18\x0f")  # GeneralizedTime genTime (YYYYMMDDHHMMSSZ)
    token[info_pos + 3] = ord("9") if token[info_pos + 3] != ord("9") else ord("8")  # another decade
    forged = add_unsigned_attributes(sig, [(TIMESTAMP_TOKEN_OID, [bytes(token)])])
    (sr,) = verify_cms(forged, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid" and "bad_timestamp" in sr.reasons


def test_timestamp_rescues_a_certificate_that_expired_later(gost_pki: GostPki) -> None:
    """The point of CAdES-T: signed while the certificate was valid, verified after it expired."""
    pki = gost_pki.pki
    short = pki.issue(
        gost_pki.inter, "short-lived", subject=pki.subject(CN="Короткий сертификат"),
        not_after=dt.datetime.now(dt.UTC) + dt.timedelta(seconds=3),
    )  # fmt: skip
    with_ts = cades_t(gost_pki, short)
    without_ts = pki.sign(short, DOC, certfile=[gost_pki.inter.cert])
    time.sleep(3.5)
    (stamped,) = verify_cms(with_ts, DOC, context=trusted(gost_pki)).signatures
    assert stamped.status == "valid" and stamped.signing_time_source == "timestamp", stamped.reasons
    (plain,) = verify_cms(without_ts, DOC, context=trusted(gost_pki)).signatures
    assert plain.status == "indeterminate" and "expired" in plain.reasons


def _x_long(pki: GostPki, signer: object, *, with_crl: bool) -> bytes:
    """CAdES-X Long Type 1 as CryptoARM writes it: the chain and CRLs inside the signature."""
    sig = pki.pki.sign(signer, DOC)  # type: ignore[arg-type]  # signer comes in typed object
    cert_values = core.SequenceOf(contents=pki.inter.cert_der + pki.root.cert_der).dump()
    attrs = [(CERT_VALUES_OID, [cert_values])]
    if with_crl:
        crls = [load_crl(pki.crl.read_bytes()), load_crl(pki.root_crl.read_bytes())]
        rev = RevocationValues({"crl_vals": crls}).dump()
        attrs.append((REVOCATION_VALUES_OID, [rev]))
    return add_unsigned_attributes(sig, attrs)


def test_x_long_certificate_and_revocation_values_are_used(gost_pki: GostPki) -> None:
    sig = _x_long(gost_pki, gost_pki.user256, with_crl=True)
    parsed = parse_signed_data(sig)
    assert len(parsed.certificates) == 1  # only the signer in the bag: the chain comes from certValues
    assert len(parsed.signers[0].certificate_values) == 2 and len(parsed.signers[0].crl_values) == 2
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "valid" and sr.warnings == [], (sr.reasons, sr.warnings)
    assert sr.certificate is not None and sr.certificate.revocation == "good"


def test_x_long_revocation_values_reveal_a_revoked_signer(gost_pki: GostPki) -> None:
    sig = _x_long(gost_pki, gost_pki.revoked, with_crl=True)
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid" and "revoked" in sr.reasons
