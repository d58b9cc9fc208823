"""Verification results for rendering tests, built directly: one per verdict every report must word right.

valid (revocation checked by a CRL, time from a trusted time-stamp); invalid with its sub-indication (revoked,
known from an OCSP answer); indeterminate because the revocation status is unknown (the one case
``[trust] revocation = "warn"`` lets the workflow accept); indeterminate because the root is not trusted.
"""

from __future__ import annotations

import datetime as dt

from cades.result import (
    CertificateInfo,
    ChainEntry,
    RevocationSource,
    SignatureResult,
    SignerIdentity,
    VerificationResult,
)

T0 = dt.datetime(2026, 3, 12, 9, 30, tzinfo=dt.UTC)
CRL_URL = "http://127.0.0.1:8555/inter.crl"
OCSP_URL = "http://127.0.0.1:8556/ocsp"
ISSUER = "C=RU, O=Тестовый УЦ, CN=Test GOST Issuing CA"
ROOT = "C=RU, O=Тестовый УЦ, CN=Test GOST Root"

CRL_SOURCE = RevocationSource(
    kind="crl",
    origin="network",
    location=CRL_URL,
    issuer=ISSUER,
    this_update=dt.datetime(2026, 3, 12, 8, 0, tzinfo=dt.UTC),
    next_update=dt.datetime(2026, 3, 19, 8, 0, tzinfo=dt.UTC),
)
OCSP_SOURCE = RevocationSource(
    kind="ocsp",
    origin="network",
    location=OCSP_URL,
    issuer="C=RU, CN=Test OCSP Responder",
    produced_at=dt.datetime(2026, 3, 12, 9, 31, 5, tzinfo=dt.UTC),
)

# The four cases: (name, stored status, reasons, signer revocation, revocation source, trusted root).
CASES = ("valid", "invalid_revoked", "indeterminate_revocation_unknown", "indeterminate_untrusted_root")


def _certificate(revocation: str, source: RevocationSource | None, trusted: bool) -> CertificateInfo:
    user = "C=RU, CN=Иванов Иван Иванович"
    return CertificateInfo(
        serial="1002",
        issuer=ISSUER,
        subject=user,
        not_before=T0 - dt.timedelta(days=30),
        not_after=T0 + dt.timedelta(days=335),
        chain=[
            ChainEntry(subject=user, issuer=ISSUER, serial="1002", not_before=None, not_after=None,
                       revocation=revocation, revocation_source=source),  # type: ignore[arg-type]  # the samples pass the Literal words as str
            ChainEntry(subject=ISSUER, issuer=ROOT, serial="1001", not_before=None, not_after=None,
                       revocation="good" if trusted else "not_checked",
                       revocation_source=CRL_SOURCE if trusted else None),
            ChainEntry(subject=ROOT, issuer=ROOT, serial="1000", not_before=None, not_after=None, trusted=trusted),
        ],
        revocation=revocation,  # type: ignore[arg-type]  # one of the Literal words, as str
        revocation_time=T0 - dt.timedelta(days=1) if revocation == "revoked" else None,
        revocation_source=source,
    )  # fmt: skip


def signature(case: str) -> SignatureResult:
    status, reasons, revocation, source, trusted = {
        "valid": ("valid", [], "good", CRL_SOURCE, True),
        "invalid_revoked": ("invalid", ["revoked"], "revoked", OCSP_SOURCE, True),
        "indeterminate_revocation_unknown": ("indeterminate", ["revocation_unknown"], "unknown", None, True),
        "indeterminate_untrusted_root": ("indeterminate", ["untrusted_root"], "not_checked", None, False),
    }[case]
    timestamped = case == "valid"
    return SignatureResult(
        index=0,
        status=status,  # type: ignore[arg-type]  # one of the Literal words, as str
        intact=True,
        signature_valid=True,
        digest_valid=True,
        reasons=list(reasons),
        signer=SignerIdentity(common_name="Иванов Иван Иванович", organization='ООО "Ромашка"', inn="771234567890"),
        certificate=_certificate(revocation, source, trusted),
        signing_time=T0,
        signing_time_source="timestamp" if timestamped else "signed_attribute",
        claimed_signing_time=T0,
        validation_time=T0,
        digest_algorithm="streebog256",
        signature_algorithm="gost3410_2012_256",
        timestamp_authority="C=RU, CN=Test TSA" if timestamped else None,
    )


def result(case: str) -> VerificationResult:
    sig = signature(case)
    return VerificationResult(status=sig.status, signatures=[sig], attached=False, content_size=100, verified_at=T0)


# What each case's headline must say: (accepted by the workflow?) -> headline title.
HEADLINES = {
    ("valid", False): "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА",
    ("valid", True): "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА",
    ("invalid_revoked", False): "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: СЕРТИФИКАТ ОТОЗВАН",
    ("invalid_revoked", True): "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: СЕРТИФИКАТ ОТОЗВАН",
    ("indeterminate_revocation_unknown", False): "ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: СТАТУС ОТЗЫВА СЕРТИФИКАТА НЕИЗВЕСТЕН",
    ("indeterminate_revocation_unknown", True): "ПОДПИСЬ ПРИНЯТА БЕЗ ПРОВЕРКИ ОТЗЫВА",
    ("indeterminate_untrusted_root", False): (
        "ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: СЕРТИФИКАТ ВЫДАН НЕДОВЕРЕННЫМ УДОСТОВЕРЯЮЩИМ ЦЕНТРОМ"
    ),
    ("indeterminate_untrusted_root", True): (
        "ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: СЕРТИФИКАТ ВЫДАН НЕДОВЕРЕННЫМ УДОСТОВЕРЯЮЩИМ ЦЕНТРОМ"
    ),
}
TONES = {
    "valid": "valid",
    "invalid_revoked": "invalid",
    "indeterminate_revocation_unknown": "indeterminate",
    "indeterminate_untrusted_root": "indeterminate",
}
