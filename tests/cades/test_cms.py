"""CAdES-BES signatures made at test time by ``openssl cms -sign -cades`` with the gost engine."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from asn1crypto import cms

from cades.asn1 import MalformedInput, load_certificate, load_crl
from cades.cms import parse_signed_data
from cades.validation import ValidationContext
from cades.verify import verify_cms, verify_cms_file
from tests.support.pki_fixtures import GostPki

DOC = "Договор поставки № 17 от 01.02.2025\n".encode() * 300


def trusted(pki: GostPki, **kw: object) -> ValidationContext:
    """The test root as the anchor and, unless the test says otherwise, CRLs for every link of the chain: a
    signature is ``valid`` only with its revocation status known."""
    kw.setdefault("crls", tuple(load_crl(p.read_bytes()) for p in pki.crl_files))
    return ValidationContext(trust_roots=(load_certificate(pki.root.cert_pem),), **kw)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


@pytest.mark.parametrize("label", ["256-A", "256-B", "256-C", "256-XA", "256-TCA", "512-A", "512-B", "512-C"])
@pytest.mark.parametrize("attached", [False, True])
def test_paramsets_attached_and_detached_are_valid(gost_pki: GostPki, label: str, attached: bool) -> None:
    signer = gost_pki.by_paramset[label]
    sig = gost_pki.pki.sign(signer, DOC, attached=attached, certfile=[gost_pki.inter.cert])
    assert gost_pki.pki.openssl_verify(sig, None if attached else DOC, gost_pki.chain_file)
    result = verify_cms(sig, None if attached else DOC, context=trusted(gost_pki))
    (sr,) = result.signatures
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert result.status == "valid" and result.attached is attached
    assert sr.intact and sr.warnings == []
    assert sr.certificate is not None and sr.certificate.revocation == "good"
    assert sr.digest_algorithm == ("streebog512" if label.startswith("512") else "streebog256")
    assert [e.trusted for e in sr.certificate.chain] == [False, False, True]  # type: ignore[union-attr]  # set for a parsed signature; the test checks it


def test_chain_of_two_with_intermediate_from_context(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC)  # the bag holds only the signer
    (alone,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert alone.status == "indeterminate" and "chain_incomplete" in alone.reasons
    ctx = trusted(gost_pki, intermediates=(load_certificate(gost_pki.inter.cert_pem),))
    (with_inter,) = verify_cms(sig, DOC, context=ctx).signatures
    assert with_inter.status == "valid", with_inter.reasons
    chain = with_inter.certificate.chain  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert [c.subject.split("CN=")[1].split(",")[0] for c in chain] == [
        "Иванов Иван Иванович", "Test GOST Issuing CA", "Test GOST Root root",
    ]  # fmt: skip


def test_qualified_identity_fields(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    s = sr.signer
    assert s is not None
    assert (s.common_name, s.surname, s.given_name) == ("Иванов Иван Иванович", "Иванов", "Иван Иванович")
    assert (s.title, s.organization) == ("Генеральный директор", 'ООО "Ромашка"')
    assert (s.inn, s.innle, s.ogrn, s.snils) == ("771234567890", "7712345678", "1027700000001", "12345678901")
    assert s.email == "ivanov@example.ru" and s.ogrnip is None
    assert s.subject_sign_tool == "КриптоПро CSP (тест)"
    (ip,) = verify_cms(gost_pki.pki.sign(gost_pki.ip, DOC), DOC).signatures
    assert (ip.signer.ogrnip, ip.signer.inn) == ("304770000000012", "500100732259")  # type: ignore[union-attr]  # set for a parsed signature; the test checks it


def test_tampered_document(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    tampered = DOC[:-1] + b"!"
    (sr,) = verify_cms(sig, tampered, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid" and not sr.intact
    assert sr.reasons[0] == "digest_mismatch" and sr.signature_valid is True


def test_tampered_signed_attributes(gost_pki: GostPki) -> None:
    sig = bytearray(gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert]))
    parsed = parse_signed_data(bytes(sig))
    when = parsed.signers[0].signing_time
    assert when is not None
    stamp = when.strftime("%y%m%d%H%M%SZ").encode()
    pos = bytes(sig).index(stamp)
    sig[pos] = ord("0") if sig[pos] != ord("0") else ord("1")  # change the year digit of signingTime
    (sr,) = verify_cms(bytes(sig), DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid" and sr.reasons == ["bad_signature"]
    assert sr.digest_valid is True and sr.signature_valid is False


def test_tampered_certificate(gost_pki: GostPki) -> None:
    """A byte changed inside the bag's signer certificate: the CA's signature and the ESS hash break."""
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    needle = "Генеральный директор".encode()
    assert sig.count(needle) == 1
    forged = sig.replace(needle, "Генеральный дирекХор".encode())
    (sr,) = verify_cms(forged, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "invalid"
    assert {"bad_certificate_signature", "cert_hash_mismatch"} <= set(sr.reasons)
    assert sr.signer is not None and sr.signer.title == "Генеральный дирекХор"


def test_signing_certificate_v2_mismatch(gost_pki: GostPki) -> None:
    """Same key, second certificate swapped in: the math still verifies, signingCertificateV2 must not."""
    pki = gost_pki.pki
    first = gost_pki.user256
    twin = pki.issue(gost_pki.inter, "twin", subject=pki.subject(CN="Другой владелец", INN="500100732259"),
                     key=first.key)  # fmt: skip
    sig = pki.sign(first, DOC, certfile=[gost_pki.inter.cert])
    info = cms.ContentInfo.load(sig)
    sd = info["content"]
    twin_cert = load_certificate(twin.cert_pem)
    inter = load_certificate(gost_pki.inter.cert_pem)
    sd["certificates"] = [cms.CertificateChoices({"certificate": twin_cert}),
                          cms.CertificateChoices({"certificate": inter})]  # fmt: skip
    sd["signer_infos"][0]["sid"] = cms.SignerIdentifier(
        {"issuer_and_serial_number": {"issuer": twin_cert.issuer, "serial_number": twin_cert.serial_number}}
    )
    swapped = info.dump(force=False)
    (sr,) = verify_cms(swapped, DOC, context=trusted(gost_pki)).signatures
    assert sr.signature_valid is True and sr.digest_valid is True
    assert sr.reasons == ["cert_hash_mismatch"] and sr.status == "invalid"
    assert sr.signer is not None and sr.signer.common_name == "Другой владелец"


def test_expired_certificate(gost_pki: GostPki) -> None:
    # The signer's own signingTime (now) falls after the expiry: the signer states it signed with an expired
    # certificate, so the claim alone proves the signature wrong (issue 13: validity is judged at the claimed time).
    sig = gost_pki.pki.sign(gost_pki.expired, DOC, certfile=[gost_pki.inter.cert])
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.intact and "expired" in sr.reasons and sr.status == "invalid"
    assert sr.validation_time == sr.claimed_signing_time
    # No signing time at all, checked "now": expired, but not proof of a bad signature (it may be old).
    bare = gost_pki.pki.sign(gost_pki.expired, DOC, noattr=True, certfile=[gost_pki.inter.cert])
    (untimed,) = verify_cms(bare, DOC, context=trusted(gost_pki)).signatures
    assert untimed.intact and "expired" in untimed.reasons and untimed.status == "indeterminate"
    now = dt.datetime.now(dt.UTC)
    (at_now,) = verify_cms(sig, DOC, context=trusted(gost_pki, at=now)).signatures
    assert at_now.status == "invalid" and "expired" in at_now.reasons
    # Back when the signer's certificate was valid, the test CAs (issued yesterday) were not yet:
    # the shell model then blames the CA certificates, not the signer's.
    back_then = now - dt.timedelta(days=600)
    (then,) = verify_cms(sig, DOC, context=trusted(gost_pki, at=back_then)).signatures
    assert then.reasons == ["not_yet_valid"] and then.status == "invalid"


def test_revoked_certificate(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.revoked, DOC, certfile=[gost_pki.inter.cert])
    crl = load_crl(gost_pki.crl.read_bytes())
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki, crls=(crl,))).signatures
    assert sr.status == "invalid" and "revoked" in sr.reasons
    assert sr.certificate is not None and sr.certificate.revocation == "revoked"
    assert sr.certificate.revocation_time is not None
    # Without any CRL the status is unknown: never "valid" (issue 13; it used to be valid + a warning).
    (no_crl,) = verify_cms(sig, DOC, context=trusted(gost_pki, crls=())).signatures
    assert no_crl.status == "indeterminate" and no_crl.reasons == ["revocation_unknown"]
    assert no_crl.warnings == [] and no_crl.certificate is not None and no_crl.certificate.revocation == "unknown"
    # A good certificate with CRLs for every link of the chain: checked and good.
    good_sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    crls = (crl, load_crl(gost_pki.root_crl.read_bytes()))
    # Only the signer's CRL: the intermediate's status (the root's CRL) is unknown, so is the signature's.
    (partial,) = verify_cms(good_sig, DOC, context=trusted(gost_pki, crls=(crl,))).signatures
    assert partial.status == "indeterminate" and partial.reasons == ["revocation_unknown"]
    assert [e.revocation for e in partial.certificate.chain] == ["good", "unknown", "not_checked"]  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    (good,) = verify_cms(good_sig, DOC, context=trusted(gost_pki, crls=crls)).signatures
    assert good.status == "valid" and good.warnings == []
    assert good.certificate is not None and good.certificate.revocation == "good"


def test_wrong_trust_root(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert, gost_pki.root.cert])
    ctx = ValidationContext(trust_roots=(load_certificate(gost_pki.foreign_root.cert_pem),))
    (sr,) = verify_cms(sig, DOC, context=ctx).signatures
    assert sr.intact and sr.status == "indeterminate" and "untrusted_root" in sr.reasons


def test_no_signed_attributes(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, noattr=True, certfile=[gost_pki.inter.cert])
    assert not parse_signed_data(sig).signers[0].has_signed_attrs
    (sr,) = verify_cms(sig, DOC, context=trusted(gost_pki)).signatures
    assert sr.status == "valid" and sr.signing_time_source == "none"
    (bad,) = verify_cms(sig, DOC + b"x", context=trusted(gost_pki)).signatures
    assert bad.status == "invalid" and bad.reasons == ["bad_signature"]


@pytest.mark.parametrize("attached", [False, True])
@pytest.mark.parametrize("content_type", ["1.2.840.113549.1.9.16.1.4", "1.2.643.100.5"])  # TSTInfo, any OID
def test_no_signed_attributes_with_another_content_type_is_invalid(
    gost_pki: GostPki, attached: bool, content_type: str
) -> None:
    """RFC 5652 §5.3: without signed attributes the content type must be id-data.

    Nothing in such a signature covers eContentType, so anyone can relabel the content (as signed data, a
    timestamp token's TSTInfo, any OID) without breaking the signature value: the relabelled signature is refused.
    """
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, noattr=True, attached=attached, certfile=[gost_pki.inter.cert])
    info = cms.ContentInfo.load(sig)
    signed_data = info["content"]
    encap = signed_data["encap_content_info"]
    encap["content_type"] = cms.ContentType(content_type)
    signed_data["encap_content_info"] = encap
    info["content"] = signed_data
    relabelled = info.dump()
    assert parse_signed_data(relabelled).content_type == content_type
    (sr,) = verify_cms(relabelled, None if attached else DOC, context=trusted(gost_pki)).signatures
    assert sr.signature_valid is True  # the signature value itself still verifies: the label is not signed
    assert sr.status == "invalid" and "content_type_not_data" in sr.reasons, (sr.reasons, sr.details)
    (original,) = verify_cms(sig, None if attached else DOC, context=trusted(gost_pki)).signatures
    assert original.status == "valid", original.reasons


def test_subject_key_identifier_and_ber_stream(gost_pki: GostPki) -> None:
    pki = gost_pki.pki
    doc = pki.root / "stream.bin"
    doc.write_bytes(DOC)
    sig = pki.run(
        "cms", "-sign", "-binary", "-nodetach", "-stream", "-keyid", "-in", doc,
        "-signer", gost_pki.user256.cert, "-inkey", gost_pki.user256.key, "-md", "md_gost12_256",
        "-cades", "-certfile", gost_pki.inter.cert, "-outform", "DER",
    )  # fmt: skip
    assert sig[1] == 0x80  # indefinite-length BER
    parsed = parse_signed_data(sig)
    assert parsed.signers[0].sid_ski is not None and parsed.content == DOC
    (sr,) = verify_cms(sig, context=trusted(gost_pki)).signatures
    assert sr.status == "valid", sr.reasons


def test_pem_output(gost_pki: GostPki) -> None:
    pem = gost_pki.pki.sign(gost_pki.user256, DOC, outform="PEM", certfile=[gost_pki.inter.cert])
    assert pem.startswith(b"-----BEGIN CMS-----")
    assert verify_cms(pem, DOC, context=trusted(gost_pki)).status == "valid"


def test_several_signers(gost_pki: GostPki) -> None:
    pki = gost_pki.pki
    doc = pki.root / "multi.bin"
    doc.write_bytes(DOC)
    a, b = gost_pki.user256, gost_pki.by_paramset["256-TCA"]  # one -md for all signers: same key size
    sig = pki.run(
        "cms", "-sign", "-binary", "-in", doc, "-md", "md_gost12_256", "-cades", "-nosmimecap",
        "-signer", a.cert, "-inkey", a.key, "-signer", b.cert, "-inkey", b.key,
        "-certfile", gost_pki.inter.cert, "-outform", "DER",
    )  # fmt: skip
    result = verify_cms(sig, DOC, context=trusted(gost_pki))
    assert [s.status for s in result.signatures] == ["valid", "valid"]
    assert [s.signer.common_name for s in result.signatures] == ["Иванов Иван Иванович", "Signer 256-TCA"]  # type: ignore[union-attr]  # set for a parsed signature; the test checks it
    assert result.status == "valid"
    # Break the second signature value only: one valid + one invalid makes the document invalid.
    info = cms.ContentInfo.load(sig)
    second = info["content"]["signer_infos"][1]
    value = bytearray(second["signature"].native)
    value[5] ^= 0xFF
    second["signature"] = bytes(value)
    mixed = verify_cms(info.dump(), DOC, context=trusted(gost_pki))
    assert [s.status for s in mixed.signatures] == ["valid", "invalid"]
    assert mixed.status == "invalid"


def test_streaming_file_variant(gost_pki: GostPki, tmp_path: os.PathLike[str]) -> None:
    from pathlib import Path

    big = os.urandom(3 * 1024 * 1024 + 17)
    sig = gost_pki.pki.sign(gost_pki.user512, big, certfile=[gost_pki.inter.cert])
    doc, sig_path = Path(tmp_path) / "big.bin", Path(tmp_path) / "big.p7s"
    doc.write_bytes(big)
    sig_path.write_bytes(sig)
    result = verify_cms_file(sig_path, doc, context=trusted(gost_pki))
    assert result.status == "valid" and result.content_size == len(big)
    from cades import hashing

    assert result.content_digest_streebog256 == hashing.digest("streebog256", big).hex()


def test_content_digest_path_matches_bytes_path(gost_pki: GostPki) -> None:
    from cades import hashing

    sig = gost_pki.pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert])
    by_digest = verify_cms(sig, content_digest=hashing.digest("streebog256", DOC), context=trusted(gost_pki))
    assert by_digest.status == "valid"
    wrong = verify_cms(sig, content_digest=hashing.digest("streebog256", b"other"), context=trusted(gost_pki))
    assert wrong.status == "invalid"


def test_caller_content_wins_over_embedded(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC, attached=True, certfile=[gost_pki.inter.cert])
    assert verify_cms(sig, context=trusted(gost_pki)).status == "valid"
    assert verify_cms(sig, b"another document", context=trusted(gost_pki)).status == "invalid"


@pytest.mark.parametrize(
    "blob",
    [b"", b"hello", b"\x30\x03\x02\x01\x01", b"-----BEGIN CMS-----\n!!!\n-----END CMS-----\n", b"\x30\x80"],
)
def test_garbage_is_a_clear_input_error(blob: bytes) -> None:
    with pytest.raises(MalformedInput):
        verify_cms(blob, b"doc")


def test_trailing_garbage_is_refused(gost_pki: GostPki) -> None:
    sig = gost_pki.pki.sign(gost_pki.user256, DOC)
    with pytest.raises(MalformedInput):
        verify_cms(sig + b"\x00", DOC)


def test_digested_data_is_not_a_signature() -> None:
    with pytest.raises(MalformedInput, match="SignedData"):
        verify_cms(cms.ContentInfo({"content_type": "data", "content": b"x"}).dump())


def test_signed_attributes_read_from_der_equal_the_asn1crypto_reading(gost_pki: GostPki) -> None:
    """The fast reading of signed attributes (issue 19: a verification's time besides the hash went to building
    asn1crypto objects for them) gives exactly what the object reading gives, and leaves anything unusual to it."""
    from cades import cms as cms_module

    sig = gost_pki.pki.sign(gost_pki.user256, b"document", certfile=[gost_pki.inter.cert])
    info = cms.ContentInfo.load(sig)
    si = info["content"]["signer_infos"][0]
    fast = cms_module.ParsedSigner(index=0)
    assert cms_module._read_signed_attrs_fast(fast, si["signed_attrs"].dump()) is True
    slow = cms_module.ParsedSigner(index=0)
    slow.has_signed_attrs = True
    cms_module._read_signed_attrs(slow, si["signed_attrs"])
    fields = ("has_signed_attrs", "signed_attrs_raw", "message_digest", "content_type_attr", "signing_time",
              "ess_version", "ess_cert_ids", "attribute_problems")  # fmt: skip
    assert {f: getattr(fast, f) for f in fields} == {f: getattr(slow, f) for f in fields}
    assert fast.message_digest and fast.signing_time and fast.ess_cert_ids
    # A BER (indefinite-length) set, or a messageDigest that is not an OCTET STRING: not read here, nothing changed.
    odd = cms_module.ParsedSigner(index=0)
    dumped = si["signed_attrs"].dump()
    assert cms_module._read_signed_attrs_fast(odd, b"\xa0\x80" + dumped[2:] + b"\x00\x00") is False
    broken = dumped.replace(b"\x04\x20" + fast.message_digest, b"\x0c\x20" + fast.message_digest)
    assert broken != dumped and cms_module._read_signed_attrs_fast(odd, broken) is False
    assert odd == cms_module.ParsedSigner(index=0)
