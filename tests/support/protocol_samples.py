"""Verification results made from real signatures for the protocol's tests: ``openssl cms`` signs at test time,
cades verifies, so a protocol prints what a real verification found (CRL sources, a CAdES-T time-stamp,
a revoked certificate, an unknown revocation status, two SignerInfos in one CMS)."""

from __future__ import annotations

from cades.asn1 import load_certificate, load_crl
from cades.cms import TIMESTAMP_TOKEN_OID, parse_signed_data
from cades.result import VerificationResult
from cades.validation import ValidationContext
from cades.verify import verify_cms

from .openssl_pki import add_unsigned_attributes
from .pki_fixtures import GostPki

DOC = "Договор поставки № 17 от 01.02.2026\n".encode() * 50
SPEC = (
    b"<spec>\xd0\xa1\xd0\xbf\xd0\xb5\xd1\x86\xd0\xb8\xd1\x84\xd0\xb8\xd0\xba\xd0\xb0\xd1\x86\xd0\xb8\xd1\x8f</spec>\n"
)


def context(pki: GostPki, *, crls: bool = True) -> ValidationContext:
    """The test root as the anchor; with ``crls`` both CAs' CRLs (the revocation status is known)."""
    return ValidationContext(
        trust_roots=(load_certificate(pki.root.cert_pem),),
        crls=tuple(load_crl(p.read_bytes()) for p in pki.crl_files) if crls else (),
    )


def cades_t(pki: GostPki, data: bytes) -> bytes:
    """user256's signature with an RFC 3161 time-stamp (openssl ts) over its value: a trusted signing time."""
    sig = pki.pki.sign(pki.user256, data, certfile=[pki.inter.cert])
    token = pki.pki.timestamp_token(pki.tsa, parse_signed_data(sig).signers[0].signature)
    return add_unsigned_attributes(sig, [(TIMESTAMP_TOKEN_OID, [token])])


def two_signers(pki: GostPki, data: bytes) -> bytes:
    """One CMS with two SignerInfos (user256 and the 256-TCA signer): numbered as two signatures."""
    doc = pki.pki.root / "two-signers.bin"
    doc.write_bytes(data)
    a, b = pki.user256, pki.by_paramset["256-TCA"]
    return pki.pki.run(
        "cms", "-sign", "-binary", "-in", doc, "-md", "md_gost12_256", "-cades", "-nosmimecap",
        "-signer", a.cert, "-inkey", a.key, "-signer", b.cert, "-inkey", b.key,
        "-certfile", pki.inter.cert, "-outform", "DER",
    )  # fmt: skip


def results(pki: GostPki) -> dict[str, VerificationResult]:
    """valid with a time-stamp; invalid (revoked, by the CRL); two valid signers in one CMS; indeterminate
    (no CRL: revocation unknown)."""
    sign = pki.pki.sign
    return {
        "timestamped": verify_cms(cades_t(pki, DOC), DOC, context=context(pki)),
        "revoked": verify_cms(sign(pki.revoked, DOC, certfile=[pki.inter.cert]), DOC, context=context(pki)),
        "two_signers": verify_cms(two_signers(pki, SPEC), SPEC, context=context(pki)),
        "unknown": verify_cms(
            sign(pki.user512, SPEC, certfile=[pki.inter.cert]), SPEC, context=context(pki, crls=False)
        ),
    }
