"""GOST R 34.10-2012 / 34.10-2001 public keys, signatures and curve parameter sets.

``verify`` is what the CMS layer calls for every SignerInfo: it takes the digest exactly as computed and
stored (natural byte order) and the signature exactly as carried in CMS (s || r, big-endian halves), and
answers True/False; it raises only for a curve it does not know (``UnsupportedAlgorithm``), so a verifier
can tell "bad signature" from "cannot check".

Backends: OpenSSL's gost engine through ctypes (``ec_openssl``) when it loads and passes its self-test,
otherwise pure Python (``ec_python``).  ``KLIKDOK_GOST_BACKEND=python`` forces pure Python (the same knob
as ``cades.hashing``); ``=openssl`` requires OpenSSL and fails closed without it.
"""

from __future__ import annotations

import os
import threading
from typing import Final

from cades.gost import ec_openssl, ec_python
from cades.gost.curves import ALL_CURVES, CURVES_BY_OID, Curve
from cades.gost.keys import (
    KEY_OID_2001,
    KEY_OID_2012_256,
    KEY_OID_2012_512,
    PublicKey,
    UnsupportedAlgorithm,
    curve_by_oid,
    private_key_from_pem,
    public_key_from_private,
)

__all__ = [
    "ALL_CURVES",
    "Curve",
    "PublicKey",
    "UnsupportedAlgorithm",
    "backend_detail",
    "backend_name",
    "curve_by_oid",
    "private_key_from_pem",
    "public_key_from_private",
    "sign",
    "verify",
    "KEY_OID_2001",
    "KEY_OID_2012_256",
    "KEY_OID_2012_512",
]

BACKEND_ENV: Final = "KLIKDOK_GOST_BACKEND"


# --- backend selection ---------------------------------------------------------------------------

_backend_lock = threading.Lock()
_backend: str | None = None


def _select_backend() -> str:
    global _backend
    if _backend is not None:
        return _backend
    with _backend_lock:
        if _backend is None:
            choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
            if choice == "python":
                _backend = "python"
            else:
                ok = ec_openssl.available()
                if choice == "openssl" and not ok:
                    raise UnsupportedAlgorithm(
                        f"{BACKEND_ENV}=openssl, but the OpenSSL gost engine is unusable: "
                        f"{ec_openssl.unavailable_reason()}"
                    )
                _backend = "openssl" if ok else "python"
    return _backend


def backend_name() -> str:
    """ "openssl" or "python": which implementation ``verify`` uses (for ``klikdok doctor``)."""
    return _select_backend()


def backend_detail() -> str:
    """One line for ``klikdok doctor``: the implementation, its version, and why OpenSSL is not used."""
    if _select_backend() == "openssl":
        return f"OpenSSL gost engine via ctypes ({ec_openssl.version()})"
    gmpy2_version = ec_python.gmpy2_version()
    arithmetic = f"gmpy2 {gmpy2_version}" if gmpy2_version and ec_python.use_gmpy2_default() else "Python integers"
    detail = f"pure Python ({arithmetic})"
    if os.environ.get(BACKEND_ENV, "").strip().lower() == "python":
        return detail + f", forced by {BACKEND_ENV}=python"
    return detail + f"; OpenSSL engine unusable: {ec_openssl.unavailable_reason()}"


def _reset_backend_for_tests() -> None:
    """Forget the selection so a test can change KLIKDOK_GOST_BACKEND."""
    global _backend
    with _backend_lock:
        _backend = None


def verify(key: PublicKey, digest: bytes, signature: bytes) -> bool:
    """True only for a valid signature s||r of ``digest`` under ``key``.

    ``digest`` is the hash in natural byte order (as stored in messageDigest); e is its little-endian
    value mod q.  It must be as long as the key (32 bytes for 256-bit keys, 64 for 512-bit keys).
    Wrong lengths, r or s outside (0, q) and keys off the curve give False, not an error.
    """
    curve = key.curve
    if not isinstance(curve, Curve) or CURVES_BY_OID.get(curve.oid) != curve:
        raise UnsupportedAlgorithm(f"unknown curve {curve!r}")
    if len(signature) != 2 * curve.size or len(digest) != curve.size or not key.is_valid():
        return False
    if _select_backend() == "openssl":
        return ec_openssl.verify(key, bytes(digest), bytes(signature))
    return ec_python.verify(curve, key.x, key.y, bytes(digest), bytes(signature))


def sign(curve: Curve, private_key: int, digest: bytes, k: int | None = None) -> bytes:
    """GOST R 34.10 signature s||r (big-endian halves) of a digest given in natural byte order."""
    if CURVES_BY_OID.get(curve.oid) != curve:
        raise UnsupportedAlgorithm(f"unknown curve {curve!r}")
    return ec_python.sign(curve, private_key, bytes(digest), k)
