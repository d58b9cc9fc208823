"""The verification result: plain msgspec values that the server stores, the CLI prints, reports render.

A bad signature is never an exception: it is a :class:`SignatureResult` with ``status`` and stable
``reasons`` codes.  :data:`REASONS` is the one place every code is defined; codes never change meaning
(they are stored with accepted signatures), new ones may be added.
"""

from __future__ import annotations

import datetime as dt
from typing import Final, Literal

import msgspec

__all__ = [
    "REASONS",
    "WARNINGS",
    "CertificateInfo",
    "ChainEntry",
    "SignatureResult",
    "RevocationKind",
    "RevocationOrigin",
    "RevocationSource",
    "SignerIdentity",
    "Status",
    "VerificationResult",
    "only_revocation_unknown",
    "overall_status",
]

Status = Literal["valid", "invalid", "indeterminate"]
TimeSource = Literal["timestamp", "signed_attribute", "none"]

# code -> (status it forces, Russian explanation for reports).
# "invalid": the signature is proven wrong or the certificate is proven unusable for it.
# "indeterminate": nothing proves it wrong, but it cannot be confirmed with what we have.
REASONS: Final[dict[str, tuple[Status, str]]] = {
    "malformed": ("invalid", "структура SignerInfo повреждена или нарушает CMS"),
    "digest_mismatch": ("invalid", "хэш документа не совпадает с подписанным (документ изменён)"),
    "bad_signature": ("invalid", "значение подписи неверно (подписанные данные изменены)"),
    "content_type_mismatch": ("invalid", "атрибут contentType не совпадает с типом содержимого"),
    "content_type_not_data": (
        "invalid",
        "подпись без подписанных атрибутов, а тип содержимого не id-data (RFC 5652, п. 5.3): тип подменён",
    ),
    "cert_hash_mismatch": (
        "invalid",
        "сертификат подписанта не совпадает с указанным в атрибуте signingCertificate",
    ),
    "bad_certificate_signature": ("invalid", "подпись издателя на сертификате в цепочке неверна"),
    "not_a_ca": ("invalid", "издатель в цепочке не является удостоверяющим центром (basicConstraints)"),
    "key_usage": ("invalid", "назначение ключа (keyUsage) не допускает такого использования"),
    # "expired" is downgraded to indeterminate when there is no trusted signing time (CAdES-T or --at):
    # checked "now", an expired certificate may still have been valid when the document was signed.
    "expired": ("invalid", "срок действия сертификата истёк на момент проверки"),
    "not_yet_valid": ("invalid", "сертификат ещё не действовал на момент проверки"),
    "revoked": ("invalid", "сертификат отозван на момент проверки"),
    "bad_timestamp": ("invalid", "штамп времени (CAdES-T) неверен или не относится к этой подписи"),
    "unsupported_algorithm": ("indeterminate", "алгоритм хэширования или подписи не поддерживается"),
    "no_signer_certificate": ("indeterminate", "сертификат подписанта не найден"),
    "no_content": ("indeterminate", "подписанный документ не передан: проверена только подпись атрибутов"),
    "untrusted_root": ("indeterminate", "цепочка не доходит до доверенного корневого сертификата"),
    "chain_incomplete": ("indeterminate", "не найден сертификат издателя в цепочке"),
    "revocation_unknown": ("indeterminate", "статус отзыва сертификата не удалось проверить"),
    # Revoked after the claimed (not time-stamped) signing time: nothing proves the signature came first.
    "revoked_no_poe": (
        "indeterminate",
        "сертификат отозван, а время подписания не подтверждено штампом времени: нельзя доказать, "
        "что подпись сделана до отзыва",
    ),
}

# Warnings do not change the status; they are shown to people.
WARNINGS: Final[dict[str, str]] = {
    # No longer emitted (an unknown status is the reason revocation_unknown now); kept for results stored before.
    "revocation_not_checked": "статус отзыва не проверялся: нет списка отзыва (CRL) для издателя",
    "crl_unusable": "список отзыва (CRL) отброшен: неверная подпись, чужой издатель или устарел",
    "crl_stale": "список отзыва (CRL) просрочен: срок его следующего выпуска прошёл, новые отзывы не видны",
    "digest_algorithms_mismatch": "SignedData.digestAlgorithms не содержит алгоритм подписанта",
    "timestamp_untrusted": "штамп времени верен, но сертификат службы штампов не доверенный",
    "signing_time_untrusted": "время подписания взято из атрибута signingTime и не подтверждено",
    "attribute_problem": "необязательный атрибут подписи повреждён и пропущен",
}

_RANK: Final = {"valid": 0, "indeterminate": 1, "invalid": 2}


class SignerIdentity(msgspec.Struct, omit_defaults=True, kw_only=True):
    """Identity fields of the signer's certificate subject (qualified-certificate OIDs)."""

    common_name: str | None = None
    surname: str | None = None
    given_name: str | None = None
    title: str | None = None
    organization: str | None = None
    organizational_unit: str | None = None
    inn: str | None = None
    innle: str | None = None
    ogrn: str | None = None
    ogrnip: str | None = None
    snils: str | None = None
    email: str | None = None
    country: str | None = None
    region: str | None = None
    locality: str | None = None
    street: str | None = None
    subject_sign_tool: str | None = None
    issuer_sign_tool: list[str] | None = None


RevocationKind = Literal["ocsp", "crl"]
# embedded: a value inside the signature (CAdES-X Long, CAdES-A); supplied: the admin's CRL files;
# network: fetched for this verification; cache: fetched earlier and still fresh.
RevocationOrigin = Literal["embedded", "supplied", "network", "cache"]


class RevocationSource(msgspec.Struct, kw_only=True, omit_defaults=True):
    """Where a certificate's revocation status came from, for the report: the auditor must be able to ask for
    the same CRL or OCSP answer."""

    kind: RevocationKind
    origin: RevocationOrigin
    location: str = ""  # the CRL's URL or file name, the OCSP responder's URL
    issuer: str = ""  # who signed it: the CRL issuer or the OCSP responder
    this_update: dt.datetime | None = None
    next_update: dt.datetime | None = None
    produced_at: dt.datetime | None = None  # OCSP only
    delta: bool = False  # a delta CRL was applied on top of the base CRL


class ChainEntry(msgspec.Struct, kw_only=True):
    """One certificate of the path, signer first, trust anchor last."""

    subject: str
    issuer: str
    serial: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    trusted: bool = False
    revocation: Literal["good", "revoked", "unknown", "not_checked"] = "not_checked"
    revocation_source: RevocationSource | None = None


class CertificateInfo(msgspec.Struct, kw_only=True):
    serial: str
    issuer: str
    subject: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    chain: list[ChainEntry] = []
    revocation: Literal["good", "revoked", "unknown", "not_checked"] = "not_checked"
    revocation_time: dt.datetime | None = None
    revocation_source: RevocationSource | None = None


class SignatureResult(msgspec.Struct, kw_only=True):
    """Verdict for one SignerInfo."""

    index: int
    status: Status
    intact: bool
    signature_valid: bool | None = None
    digest_valid: bool | None = None
    reasons: list[str] = []
    warnings: list[str] = []
    details: list[str] = []
    signer: SignerIdentity | None = None
    certificate: CertificateInfo | None = None
    signing_time: dt.datetime | None = None
    signing_time_source: TimeSource = "none"
    claimed_signing_time: dt.datetime | None = None
    validation_time: dt.datetime | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    timestamp_authority: str | None = None


class VerificationResult(msgspec.Struct, kw_only=True):
    """Verdict for one CMS document."""

    status: Status
    signatures: list[SignatureResult]
    attached: bool
    content_size: int | None = None
    content_type: str | None = None
    content_digest_streebog256: str | None = None
    verified_at: dt.datetime

    def to_json(self) -> bytes:
        return msgspec.json.encode(self)


def status_for(reasons: list[str], soft: set[str] | frozenset[str] = frozenset()) -> Status:
    """The worst status any reason forces (``soft`` codes force at most indeterminate)."""
    status: Status = "valid"
    for code in reasons:
        forced = REASONS[code][0]
        if code in soft and forced == "invalid":
            forced = "indeterminate"
        if _RANK[forced] > _RANK[status]:
            status = forced
    return status


def overall_status(statuses: list[Status]) -> Status:
    """A document is valid only if every signature is; one invalid signature makes it invalid."""
    if not statuses:
        return "indeterminate"
    return max(statuses, key=_RANK.__getitem__)


def only_revocation_unknown(sig: SignatureResult) -> bool:
    """True when nothing but the revocation status keeps a signature from ``valid``: the one case the
    ``[trust] revocation = "warn"`` policy lets the workflow accept (and every report then says so up front)."""
    return sig.status == "indeterminate" and bool(sig.reasons) and set(sig.reasons) <= {"revocation_unknown"}
