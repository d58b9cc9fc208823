"""GOST signatures over DER (certificates, CRLs, OCSP responses), shared by path validation and OCSP.

One place parses public keys (memoised per SubjectPublicKeyInfo) and maps a signature OID to its digest, so
:mod:`cades.validation` and :mod:`cades.ocsp` check signatures the same way without importing each other.
"""

from __future__ import annotations

import threading

from asn1crypto import x509

from . import hashing
from .asn1 import GOST_KEY_OIDS, SIGNATURE_OIDS
from .certs import der_of
from .gost import PublicKey
from .gost import verify as gost_verify

__all__ = ["cert_signed_by", "is_gost_key", "public_key", "signature_ok"]

_KEY_CACHE: dict[bytes, PublicKey] = {}
_KEY_CACHE_LOCK = threading.Lock()


def public_key(cert: x509.Certificate) -> PublicKey:
    """The certificate's GOST public key, parsed once per distinct SubjectPublicKeyInfo."""
    spki = cert["tbs_certificate"]["subject_public_key_info"].dump()
    key = _KEY_CACHE.get(spki)
    if key is None:
        key = PublicKey.from_spki(spki)
        with _KEY_CACHE_LOCK:
            if len(_KEY_CACHE) > 4096:
                _KEY_CACHE.clear()
            _KEY_CACHE[spki] = key
    return key


def is_gost_key(cert: x509.Certificate) -> bool:
    try:
        return cert["tbs_certificate"]["subject_public_key_info"]["algorithm"]["algorithm"].dotted in GOST_KEY_OIDS
    except Exception:
        return False


def signature_ok(signed_der: bytes, sig_oid: str, signature: bytes, issuer: x509.Certificate) -> bool | None:
    """Check a GOST signature over DER bytes (a tbsCertificate, tbsCertList, ResponseData); None if unsupported."""
    digest_name = SIGNATURE_OIDS.get(sig_oid)
    if digest_name is None or not is_gost_key(issuer):
        return None
    try:
        key = public_key(issuer)
    except Exception:
        return None
    try:
        return bool(gost_verify(key, hashing.digest(digest_name, signed_der), signature))
    except Exception:
        return False


# (certificate DER, issuer SubjectPublicKeyInfo DER) -> the verdict of the GOST check. The same few signer and CA
# certificates come back in every verification; the answer depends on nothing but these bytes, so a repeat costs
# a dictionary look-up instead of an elliptic-curve verification.
_CERT_SIGNATURES: dict[tuple[bytes, bytes], bool | None] = {}


def cert_signed_by(cert: x509.Certificate, issuer: x509.Certificate) -> bool | None:
    """Whether ``issuer``'s key signed ``cert`` (False for a damaged certificate, None if unsupported)."""
    try:
        key = (der_of(cert), issuer["tbs_certificate"]["subject_public_key_info"].dump())
    except Exception:
        return False
    if key in _CERT_SIGNATURES:
        return _CERT_SIGNATURES[key]
    try:
        tbs = cert["tbs_certificate"].dump()
        sig_oid = cert["signature_algorithm"]["algorithm"].dotted
        sig = cert["signature_value"].native
    except Exception:
        return False
    verdict = signature_ok(tbs, sig_oid, sig, issuer)
    with _KEY_CACHE_LOCK:
        if len(_CERT_SIGNATURES) > 4096:
            _CERT_SIGNATURES.clear()
        _CERT_SIGNATURES[key] = verdict
    return verdict


def clear_caches() -> None:
    """Forget parsed keys and certificate-signature verdicts (benchmarks measure the cold path)."""
    with _KEY_CACHE_LOCK:
        _KEY_CACHE.clear()
        _CERT_SIGNATURES.clear()
