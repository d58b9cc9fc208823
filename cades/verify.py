"""Verify a CMS/CAdES signature: math, signed attributes, certificate path, time stamps -> a result value.

The public entry points never raise for a bad signature; only input that is not a CMS SignedData at all
raises :class:`~cades.asn1.MalformedInput`.  The content to check against can be the bytes, a digest the
caller already holds (the server keeps the Streebog-256 of every document), or a file streamed from disk.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

from asn1crypto import x509

from . import hashing
from .asn1 import (
    DIGEST_OIDS,
    GOST_KEY_OIDS,
    MAX_INPUT_SIZE,
    SIGNATURE_OID_NAMES,
    MalformedInput,
    load_certificate,
)
from .certs import facts
from .cms import ParsedSignedData, ParsedSigner, parse_signed_data
from .exclusive import exclusively
from .result import (
    CertificateInfo,
    ChainEntry,
    SignatureResult,
    SignerIdentity,
    VerificationResult,
    overall_status,
    status_for,
)
from .signer import DigestSource, SignerMath, bytes_source, check_signer, digest_source, find_signer_certificate
from .tsp import verify_timestamp
from .validation import ValidationContext, validate_chain

# SignerMath, check_signer and find_signer_certificate live in cades.signer; they stay importable from here.
__all__ = [
    "MalformedInput",
    "SignerMath",
    "check_signer",
    "find_signer_certificate",
    "verify_cms",
    "verify_cms_file",
    "verify_cms_stream",
]

_CHUNK = 1024 * 1024


def verify_cms(
    cms_bytes: bytes,
    content: bytes | None = None,
    *,
    content_digest: bytes | Mapping[str, bytes] | None = None,
    context: ValidationContext | None = None,
    certificates: Sequence[x509.Certificate | bytes] = (),
    max_size: int = MAX_INPUT_SIZE,
) -> VerificationResult:
    """Verify every signer of ``cms_bytes`` (DER, BER, PEM or base64).

    What the signatures must cover, in order of precedence: ``content`` (bytes), ``content_digest``
    (bytes = Streebog-256 of the document, or a mapping digest name -> digest), the content embedded in
    an attached signature.  Caller-supplied content wins over embedded content on purpose: the question
    asked is always "does this signature cover *this* document".
    """
    parsed = parse_signed_data(cms_bytes, max_size=max_size)
    if content is not None:
        source = bytes_source(content)
        size: int | None = len(content)
    elif content_digest is not None:
        source = digest_source(content_digest)
        size = None
    elif parsed.content is not None:
        source = bytes_source(parsed.content)
        size = len(parsed.content)
    else:
        source = digest_source({})
        size = None
    return _verify_parsed(parsed, source, size, context or ValidationContext(), certificates)


def verify_cms_file(
    cms_path: str | Path,
    content_path: str | Path | None = None,
    *,
    context: ValidationContext | None = None,
    certificates: Sequence[x509.Certificate | bytes] = (),
) -> VerificationResult:
    """Like :func:`verify_cms`, but hash a detached document from disk in constant memory.

    Each digest algorithm the signers use is computed in the same single pass over the file.
    """
    cms_bytes = Path(cms_path).read_bytes()
    if content_path is None:
        return verify_cms(cms_bytes, context=context, certificates=certificates)
    with open(content_path, "rb") as fh:
        return verify_cms_stream(cms_bytes, fh, context=context, certificates=certificates)


def verify_cms_stream(
    cms_bytes: bytes,
    content: IO[bytes],
    *,
    context: ValidationContext | None = None,
    certificates: Sequence[x509.Certificate | bytes] = (),
) -> VerificationResult:
    """Like :func:`verify_cms` for a detached document read from a stream (a file, a ZIP member) in constant
    memory: each digest algorithm the signers use is computed in the same single pass."""
    parsed = parse_signed_data(cms_bytes)
    names = {s.digest_name for s in parsed.signers if s.digest_name is not None}
    names.add("streebog256")
    hashers = {name: hashing.new(name) for name in names}
    size = 0
    while chunk := content.read(_CHUNK):
        size += len(chunk)
        for h in hashers.values():
            h.update(chunk)
    digests = {name: h.digest() for name, h in hashers.items()}
    return _verify_parsed(parsed, digest_source(digests), size, context or ValidationContext(), certificates)


@exclusively
def _verify_parsed(
    parsed: ParsedSignedData,
    source: DigestSource,
    size: int | None,
    context: ValidationContext,
    certificates: Sequence[x509.Certificate | bytes],
) -> VerificationResult:
    supplied = [c if isinstance(c, x509.Certificate) else load_certificate(c) for c in certificates]
    now = dt.datetime.now(dt.UTC)
    results = [_verify_signer(parsed, signer, source, context, supplied, now) for signer in parsed.signers]
    streebog = source("streebog256")
    return VerificationResult(
        status=overall_status([r.status for r in results]),
        signatures=results,
        attached=parsed.content is not None,
        content_size=size,
        content_type=parsed.content_type,
        content_digest_streebog256=streebog.hex() if streebog is not None else None,
        verified_at=now,
    )


# --- one signer: the whole verdict --------------------------------------------------------------------


def _verify_signer(
    parsed: ParsedSignedData,
    signer: ParsedSigner,
    source: DigestSource,
    context: ValidationContext,
    supplied: Sequence[x509.Certificate],
    now: dt.datetime,
) -> SignatureResult:
    """One signer's verdict; a structure too corrupt to evaluate is a ``malformed`` result, not a crash.

    asn1crypto parses lazily, so damage deep inside a certificate of the bag can surface anywhere
    below; hostile input must still end as a value.
    """
    try:
        return _verify_signer_unguarded(parsed, signer, source, context, supplied, now)
    except Exception as exc:
        return SignatureResult(
            index=signer.index,
            status="invalid",
            intact=False,
            reasons=["malformed"],
            details=[f"повреждённая структура подписи или сертификата: {type(exc).__name__}"],
            validation_time=now,
        )


def _verify_signer_unguarded(
    parsed: ParsedSignedData,
    signer: ParsedSigner,
    source: DigestSource,
    context: ValidationContext,
    supplied: Sequence[x509.Certificate],
    now: dt.datetime,
) -> SignatureResult:
    own = [*parsed.certificates, *signer.certificate_values, *supplied]
    # The signer's certificate is nearly always in the signature; the context's come last, for the rest.
    pool = [*own, *context.intermediates, *context.trust_roots]
    math = check_signer(parsed, signer, source, pool)
    reasons, warnings, details = math.reasons, math.warnings, math.details
    soft: set[str] = set()

    ts_time = None
    tsa_name = None
    if signer.timestamp_tokens and signer.error is None:
        for token in signer.timestamp_tokens:
            check = verify_timestamp(token, signer.signature, context=context, extra_certs=own, now=now)
            details.extend(check.details)
            if not check.ok:
                reasons.append("bad_timestamp")
                continue
            if not check.trusted:
                warnings.append("timestamp_untrusted")
                continue
            if check.gen_time is None:  # a token that verified always carries its genTime
                continue
            if ts_time is None or check.gen_time < ts_time:
                ts_time, tsa_name = check.gen_time, check.tsa_name

    # The validation time: the auditor's --at, else the trusted CAdES-T time, else the signer's claimed
    # signingTime (nothing confirms it), else now.
    time_claimed = False
    if context.at is not None:
        at, time_trusted = context.at, True
    elif ts_time is not None:
        at, time_trusted = ts_time, True
    elif signer.signing_time is not None and math.signature_valid:  # a claim only once the signature holds
        at, time_trusted, time_claimed = signer.signing_time, False, True
    else:
        at, time_trusted = now, False

    certificate = None
    identity = None
    cert = math.cert
    if cert is not None:
        chain = validate_chain(
            cert,
            context=context,
            at=at,
            extra_certs=own,
            extra_crls=[*parsed.crls, *signer.crl_values],
            extra_ocsp=signer.ocsp_values,
            time_trusted=time_trusted,
            time_claimed=time_claimed,
            now=now,
        )
        reasons.extend(chain.reasons)
        warnings.extend(chain.warnings)
        details.extend(chain.details)
        soft |= chain.soft
        info = facts(cert).info
        identity = SignerIdentity(
            **info.identity,
            subject_sign_tool=info.subject_sign_tool,
            issuer_sign_tool=info.issuer_sign_tool,
        )
        entries = []
        for c, rev in zip(chain.chain, chain.revocations, strict=True):
            ci = facts(c).info
            entries.append(
                ChainEntry(
                    subject=ci.subject,
                    issuer=ci.issuer,
                    serial=ci.serial,
                    not_before=ci.not_before,
                    not_after=ci.not_after,
                    trusted=context.is_anchor(c),
                    revocation=rev.status,
                    revocation_source=rev.source,
                )
            )
        certificate = CertificateInfo(
            serial=info.serial,
            issuer=info.issuer,
            subject=info.subject,
            not_before=info.not_before,
            not_after=info.not_after,
            chain=entries,
            revocation=chain.revocation,
            revocation_time=chain.revocation_time,
            revocation_source=chain.revocations[0].source,
        )

    reasons = list(dict.fromkeys(reasons))
    warnings = list(dict.fromkeys(warnings))
    intact = bool(math.signature_valid) and math.digest_valid is True
    if ts_time is not None:
        signing_time, time_source = ts_time, "timestamp"
    elif signer.signing_time is not None and math.signature_valid:  # a claim only once the signature holds
        signing_time, time_source = signer.signing_time, "signed_attribute"
    else:
        signing_time, time_source = None, "none"
    return SignatureResult(
        index=signer.index,
        status=status_for(reasons, soft),
        intact=intact,
        signature_valid=math.signature_valid,
        digest_valid=math.digest_valid,
        reasons=reasons,
        warnings=warnings,
        details=details,
        signer=identity,
        certificate=certificate,
        signing_time=signing_time,
        signing_time_source=time_source,  # type: ignore[arg-type]  # set only from TimeSource words above
        claimed_signing_time=signer.signing_time,
        validation_time=at,
        digest_algorithm=DIGEST_OIDS.get(signer.digest_oid, signer.digest_oid or None),
        signature_algorithm=GOST_KEY_OIDS.get(signer.signature_oid)
        or SIGNATURE_OID_NAMES.get(signer.signature_oid)
        or signer.signature_oid
        or None,
        timestamp_authority=tsa_name,
    )
