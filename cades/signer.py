"""One SignerInfo's math: its certificate, digest, signed attributes and signature value, before any policy.

Both the signature verdict (:mod:`cades.verify`) and the time-stamp check (:mod:`cades.tsp`) need it, and
a time-stamp token is checked while a signature is verified, so it lives below both of them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from asn1crypto import x509

from . import hashing
from .asn1 import DIGEST_OIDS
from .certs import der_of, names_equal
from .cms import DATA_OID, SHA1_OID, SHA256_OID, ParsedSignedData, ParsedSigner
from .exclusive import exclusively
from .gost import UnsupportedAlgorithm
from .gost import verify as gost_verify
from .signatures import is_gost_key, public_key

__all__ = ["DigestSource", "SignerMath", "bytes_source", "check_signer", "digest_source", "find_signer_certificate"]

# A digest name -> the content's digest under it, or None when the content is not at hand.
DigestSource = Callable[[str], bytes | None]


def bytes_source(data: bytes) -> DigestSource:
    memo: dict[str, bytes] = {}

    def source(name: str) -> bytes | None:
        value = memo.get(name)
        if value is None:
            value = memo[name] = hashing.digest(name, data)
        return value

    return source


def digest_source(digests: bytes | Mapping[str, bytes]) -> DigestSource:
    table = {"streebog256": bytes(digests)} if isinstance(digests, bytes | bytearray) else dict(digests)
    return table.get


@dataclass
class SignerMath:
    """What the signature math says about one SignerInfo, before any certificate policy."""

    cert: x509.Certificate | None
    signature_valid: bool | None
    digest_valid: bool | None
    reasons: list[str]
    warnings: list[str]
    details: list[str]


@exclusively
def find_signer_certificate(signer: ParsedSigner, pool: Iterable[x509.Certificate]) -> x509.Certificate | None:
    """The certificate named by the SignerIdentifier: issuer+serial, or subjectKeyIdentifier."""
    for cert in pool:
        tbs = cert["tbs_certificate"]
        if signer.sid_ski is not None:
            try:
                if cert.key_identifier == signer.sid_ski:
                    return cert
            except Exception:
                continue
        elif signer.sid_serial is not None and signer.sid_issuer is not None:
            if tbs["serial_number"].native == signer.sid_serial and names_equal(tbs["issuer"], signer.sid_issuer):
                return cert
    return None


def _hash_any(oid: str, data: bytes) -> bytes | None:
    name = DIGEST_OIDS.get(oid)
    if name is not None:
        return hashing.digest(name, data)
    if oid == SHA1_OID:
        return hashlib.sha1(data).digest()
    if oid == SHA256_OID:
        return hashlib.sha256(data).digest()
    return None


# (certificate DER, signingCertificate value DER) -> whether the value names the certificate: the same pair comes
# with every signature one person makes, and both sides are immutable bytes.
_ESS_MATCHES: dict[tuple[bytes, bytes], bool | None] = {}


def _ess_matches(signer: ParsedSigner, cert: x509.Certificate) -> bool | None:
    """signingCertificate(V2): the first ESSCertID must name the signer's certificate (RFC 5035)."""
    if not signer.ess_cert_ids:
        return None
    if not signer.ess_der:
        return _ess_matches_uncached(signer, cert)
    key = (der_of(cert), signer.ess_der)
    if key not in _ESS_MATCHES:
        if len(_ESS_MATCHES) > 1024:
            _ESS_MATCHES.clear()
        _ESS_MATCHES[key] = _ess_matches_uncached(signer, cert)
    return _ESS_MATCHES[key]


def _ess_matches_uncached(signer: ParsedSigner, cert: x509.Certificate) -> bool | None:
    assert signer.ess_cert_ids
    first = signer.ess_cert_ids[0]
    digest = _hash_any(first.hash_oid, der_of(cert))
    if digest is None:
        return None
    if not hmac.compare_digest(digest, first.cert_hash):
        return False
    if first.serial is not None:
        tbs = cert["tbs_certificate"]
        if first.serial != tbs["serial_number"].native:
            return False
        if first.issuer_names and not any(names_equal(n, tbs["issuer"]) for n in first.issuer_names):
            return False
    return True


@exclusively
def check_signer(
    parsed: ParsedSignedData,
    signer: ParsedSigner,
    source: DigestSource,
    pool: Sequence[x509.Certificate],
) -> SignerMath:
    """Check digest, signed attributes and the signature value of one signer against the content."""
    math = SignerMath(None, None, None, [], [], [])
    reasons = math.reasons
    if signer.error is not None:
        reasons.append("malformed")
        math.details.append(f"SignerInfo #{signer.index + 1}: {signer.error}")
        return math
    for problem in signer.attribute_problems:
        if "repeated" in problem:
            reasons.append("malformed")
        else:
            math.warnings.append("attribute_problem")
        math.details.append(problem)
    digest_name = signer.digest_name
    if digest_name is None or not signer.signature_supported:
        reasons.append("unsupported_algorithm")
        math.details.append(f"алгоритмы {signer.digest_oid} / {signer.signature_oid}")
    if parsed.digest_algorithms and signer.digest_oid not in parsed.digest_algorithms:
        math.warnings.append("digest_algorithms_mismatch")
    math.cert = cert = find_signer_certificate(signer, pool)
    if cert is None:
        reasons.append("no_signer_certificate")
    content_digest = source(digest_name) if digest_name is not None else None

    to_check: Iterable[bytes] = ()
    if signer.has_signed_attrs:
        if signer.message_digest is None:
            reasons.append("malformed")
            math.details.append("в подписанных атрибутах нет messageDigest")
        elif content_digest is not None:
            math.digest_valid = hmac.compare_digest(signer.message_digest, content_digest)
            if not math.digest_valid:
                reasons.append("digest_mismatch")
        if signer.content_type_attr is None:
            reasons.append("malformed")
            math.details.append("в подписанных атрибутах нет contentType")
        elif signer.content_type_attr != parsed.content_type:
            reasons.append("content_type_mismatch")
        if digest_name is not None:
            name = digest_name
            to_check = (hashing.digest(name, der) for der in signer.signed_attrs_encodings())
    else:
        # RFC 5652 §5.3: the signature then covers the content alone, not its type, so any type but
        # id-data is a relabelling nobody signed.
        if parsed.content_type != DATA_OID:
            reasons.append("content_type_not_data")
            math.details.append(f"тип содержимого {parsed.content_type} без подписанных атрибутов")
        if content_digest is not None:
            to_check = (content_digest,)
    if content_digest is None and digest_name is not None:
        reasons.append("no_content")

    if (
        cert is not None
        and (signer.has_signed_attrs or content_digest is not None)
        and (digest_name is not None and "unsupported_algorithm" not in reasons)
    ):
        if not is_gost_key(cert):
            reasons.append("unsupported_algorithm")
        else:
            try:
                key = public_key(cert)
                math.signature_valid = any(gost_verify(key, d, signer.signature) for d in to_check)
            except UnsupportedAlgorithm:
                reasons.append("unsupported_algorithm")
            except Exception as exc:  # a corrupt key or signature length: the signature does not verify
                math.signature_valid = False
                math.details.append(f"ключ или подпись повреждены: {type(exc).__name__}")
            if math.signature_valid is False:
                reasons.append("bad_signature")
    if not signer.has_signed_attrs and math.signature_valid is not None:
        math.digest_valid = math.signature_valid  # the signature is made directly over the content digest
    if cert is not None and signer.ess_cert_ids:
        if _ess_matches(signer, cert) is False:
            reasons.append("cert_hash_mismatch")
    return math
