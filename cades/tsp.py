"""CAdES-T: the RFC 3161 signature-time-stamp token over a signature value, GOST-signed by a TSA.

A token is itself a CMS SignedData whose content is a TSTInfo; it proves the signature value existed at
``genTime``.  It becomes the trusted signing time only if the token verifies, its messageImprint is the
hash of *this* signature value, and the TSA's certificate chains to a trust anchor.
"""

from __future__ import annotations

import datetime as dt
import hmac
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Final

from asn1crypto import cms, tsp, x509

from . import hashing
from .asn1 import DIGEST_OIDS
from .certs import cert_info
from .cms import parse_signed_data
from .exclusive import exclusively
from .signer import bytes_source, check_signer
from .validation import ValidationContext, validate_chain

__all__ = ["TimestampCheck", "verify_timestamp"]

TST_INFO_OID: Final = "1.2.840.113549.1.9.16.1.4"


@dataclass
class TimestampCheck:
    """``ok``: the token is intact and covers the signature; ``trusted``: its TSA is trusted too."""

    ok: bool
    trusted: bool = False
    gen_time: dt.datetime | None = None
    tsa_name: str | None = None
    details: list[str] = field(default_factory=list)


@exclusively
def verify_timestamp(
    token: cms.ContentInfo,
    signature_value: bytes,
    *,
    context: ValidationContext,
    extra_certs: Sequence[x509.Certificate] = (),
    now: dt.datetime | None = None,
) -> TimestampCheck:
    """Check one timeStampToken attribute value against the signature value it should cover."""
    try:
        parsed = parse_signed_data(token.dump())
    except Exception as exc:
        return TimestampCheck(False, details=[f"штамп времени не разбирается: {exc}"])
    if parsed.content_type != TST_INFO_OID or parsed.content is None:
        return TimestampCheck(False, details=["штамп времени не содержит TSTInfo"])
    try:
        info = tsp.TSTInfo.load(parsed.content, strict=True)
        imprint = info["message_imprint"]
        imprint_oid = imprint["hash_algorithm"]["algorithm"].dotted
        hashed = imprint["hashed_message"].native
        gen_time = info["gen_time"].native
    except Exception as exc:
        return TimestampCheck(False, details=[f"TSTInfo повреждён: {type(exc).__name__}"])
    name = DIGEST_OIDS.get(imprint_oid)
    if name is None:
        return TimestampCheck(False, details=[f"алгоритм messageImprint {imprint_oid} не поддерживается"])
    if not hmac.compare_digest(hashing.digest(name, signature_value), hashed):
        return TimestampCheck(False, gen_time=gen_time, details=["штамп времени выдан на другую подпись"])
    if len(parsed.signers) != 1:
        return TimestampCheck(False, details=["в штампе времени должен быть ровно один подписант"])
    signer = parsed.signers[0]
    pool = [*parsed.certificates, *extra_certs, *context.intermediates, *context.trust_roots]
    math = check_signer(parsed, signer, bytes_source(parsed.content), pool)
    if math.reasons or not math.signature_valid or math.digest_valid is not True:
        return TimestampCheck(
            False, gen_time=gen_time, details=["подпись службы штампов времени неверна", *math.details]
        )
    tsa = math.cert
    assert tsa is not None
    tsa_name = cert_info(tsa).subject
    own = [*parsed.certificates, *extra_certs]
    chain = validate_chain(tsa, context=context, at=gen_time, extra_certs=own, time_trusted=True, now=now)
    details: list[str] = []
    try:
        eku = tsa.extended_key_usage_value
        has_eku = eku is not None and "time_stamping" in eku.native
    except Exception:
        has_eku = False
    if not has_eku:
        details.append("сертификат службы штампов без назначения timeStamping")
    # A revoked TSA certificate voids the token; an unknown status does not: the token's own signature and the
    # TSA's path to an anchor were checked, and requiring CRLs for every TSA would void most CAdES-T signatures.
    problems = [r for r in chain.reasons if r != "revocation_unknown"]
    trusted = chain.trusted and not problems and has_eku
    if not trusted and problems:
        details.append("сертификат службы штампов: " + ", ".join(problems))
    return TimestampCheck(True, trusted=trusted, gen_time=gen_time, tsa_name=tsa_name, details=details)
