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

import base64
import os
import re
import threading
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from asn1crypto import core

from cades.gost import ec_python
from cades.gost.curves import ALL_CURVES, CURVES_BY_OID, Curve

__all__ = [
    "ALL_CURVES", "Curve", "PublicKey", "UnsupportedAlgorithm", "backend_detail", "backend_name", "curve_by_oid",
    "private_key_from_pem", "public_key_from_private", "sign", "verify",
    "KEY_OID_2001", "KEY_OID_2012_256", "KEY_OID_2012_512",
]

KEY_OID_2012_256: Final = "1.2.643.7.1.1.1.1"
KEY_OID_2012_512: Final = "1.2.643.7.1.1.1.2"
KEY_OID_2001: Final = "1.2.643.2.2.19"
_KEY_OIDS: Final = {KEY_OID_2012_256: 256, KEY_OID_2012_512: 512, KEY_OID_2001: 256}

DIGEST_OID_STREEBOG256: Final = "1.2.643.7.1.1.2.2"
DIGEST_OID_GOST94_CRYPTOPRO: Final = "1.2.643.2.2.30.1"  # GOST R 34.11-94 CryptoPro parameter set

BACKEND_ENV: Final = "KLIKDOK_GOST_BACKEND"


class UnsupportedAlgorithm(ValueError):
    """A key algorithm or curve parameter set this module does not implement."""


def curve_by_oid(oid: str) -> Curve:
    """The parameter set named by ``oid`` (aliases such as CryptoPro XchA or TC 26 256-B included)."""
    try:
        return CURVES_BY_OID[oid]
    except KeyError:
        raise UnsupportedAlgorithm(f"unknown GOST R 34.10 parameter set {oid}") from None


# --- ASN.1 shapes (asn1crypto's own PublicKeyInfo does not know the GOST OIDs) -------------------

class _GostKeyParams(core.Sequence):
    _fields = [
        ("public_key_param_set", core.ObjectIdentifier),
        ("digest_param_set", core.ObjectIdentifier, {"optional": True}),
        ("encryption_param_set", core.ObjectIdentifier, {"optional": True}),
    ]


class _AlgorithmIdentifier(core.Sequence):
    _fields = [("algorithm", core.ObjectIdentifier), ("parameters", core.Any, {"optional": True})]


class _SubjectPublicKeyInfo(core.Sequence):
    _fields = [("algorithm", _AlgorithmIdentifier), ("public_key", core.OctetBitString)]


class _PrivateKeyInfo(core.Sequence):
    _fields = [
        ("version", core.Integer),
        ("private_key_algorithm", _AlgorithmIdentifier),
        ("private_key", core.OctetString),
        ("attributes", core.Any, {"implicit": 0, "optional": True}),
    ]


def _parse_algorithm(alg: _AlgorithmIdentifier) -> tuple[str, Curve, str | None]:
    key_oid = alg["algorithm"].dotted
    if key_oid not in _KEY_OIDS:
        raise UnsupportedAlgorithm(f"not a GOST R 34.10 key algorithm: {key_oid}")
    raw_params = alg["parameters"]
    if raw_params.native is None:
        raise UnsupportedAlgorithm("GOST key without parameters (the parameter set must be named)")
    try:
        params = _GostKeyParams.load(raw_params.dump(), strict=True)
        curve_oid = params["public_key_param_set"].dotted
        digest = params["digest_param_set"]
        digest_oid = None if isinstance(digest, core.Void) or digest.native is None else digest.dotted
    except (ValueError, TypeError) as exc:
        raise UnsupportedAlgorithm(f"unreadable GOST key parameters: {exc}") from None
    curve = curve_by_oid(curve_oid)
    if curve.bits != _KEY_OIDS[key_oid]:
        raise UnsupportedAlgorithm(f"parameter set {curve_oid} does not fit key algorithm {key_oid}")
    return key_oid, curve, digest_oid


@dataclass(frozen=True, slots=True)
class PublicKey:
    """A GOST R 34.10 public key Q = (x, y) on ``curve``; ``param_oid`` keeps the set's name as written."""

    curve: Curve
    x: int
    y: int
    key_oid: str = ""  # empty: the 2012 key OID that fits the curve size
    digest_oid: str | None = None
    param_oid: str | None = field(default=None)

    def __post_init__(self) -> None:
        if not self.key_oid:
            object.__setattr__(self, "key_oid", KEY_OID_2012_256 if self.curve.bits == 256 else KEY_OID_2012_512)

    @property
    def bits(self) -> int:
        return self.curve.bits

    @classmethod
    def from_spki(cls, der: bytes) -> PublicKey:
        """Read a DER SubjectPublicKeyInfo; raises UnsupportedAlgorithm for non-GOST or malformed keys."""
        try:
            spki = _SubjectPublicKeyInfo.load(bytes(der), strict=True)
            alg = spki["algorithm"]
            alg["algorithm"].dotted  # noqa: B018 - forces parsing so errors surface here
        except (ValueError, TypeError) as exc:
            raise UnsupportedAlgorithm(f"unreadable SubjectPublicKeyInfo: {exc}") from None
        key_oid, curve, digest_oid = _parse_algorithm(alg)
        param_oid = _GostKeyParams.load(alg["parameters"].dump())["public_key_param_set"].dotted
        try:
            octets = core.OctetString.load(spki["public_key"].native, strict=True).native
        except (ValueError, TypeError) as exc:
            raise UnsupportedAlgorithm(f"GOST public key is not a DER OCTET STRING: {exc}") from None
        size = curve.size
        if len(octets) != 2 * size:
            raise UnsupportedAlgorithm(f"GOST public key has {len(octets)} bytes, expected {2 * size}")
        x = int.from_bytes(octets[:size], "little")
        y = int.from_bytes(octets[size:], "little")
        return cls(curve=curve, x=x, y=y, key_oid=key_oid, digest_oid=digest_oid, param_oid=param_oid)

    def to_spki(self) -> bytes:
        """DER SubjectPublicKeyInfo, the form d2i_PUBKEY and certificates use (cached per key)."""
        return _spki_der(self)

    def _encode_spki(self) -> bytes:
        size = self.curve.size
        point = self.x.to_bytes(size, "little") + self.y.to_bytes(size, "little")
        params = _GostKeyParams({"public_key_param_set": self.param_oid or self.curve.oid})
        if self.digest_oid:
            params["digest_param_set"] = self.digest_oid
        spki = _SubjectPublicKeyInfo({
            "algorithm": _AlgorithmIdentifier({"algorithm": self.key_oid, "parameters": params}),
            "public_key": core.OctetString(point).dump(),
        })
        return spki.dump()

    def is_valid(self) -> bool:
        """Q lies on the curve (a cheap check done before every verification)."""
        c = self.curve
        return 0 <= self.x < c.p and 0 <= self.y < c.p and (
            self.y * self.y - (self.x * self.x + c.a) * self.x - c.b) % c.p == 0


@lru_cache(maxsize=512)
def _spki_der(key: PublicKey) -> bytes:
    """Encoding costs ~75 us with asn1crypto, a third of an OpenSSL verification; keys repeat a lot."""
    return key._encode_spki()


def default_digest_oid(curve: Curve, key_oid: str) -> str | None:
    """The digest parameter OpenSSL writes next to a parameter set (absent for TC 26 sets and 512 bits)."""
    if key_oid == KEY_OID_2001:
        return DIGEST_OID_GOST94_CRYPTOPRO
    if key_oid == KEY_OID_2012_256 and curve.oid.startswith("1.2.643.2.2."):
        return DIGEST_OID_STREEBOG256
    return None


def public_key_from_private(curve: Curve, private_key: int, key_oid: str | None = None) -> PublicKey:
    """Q = d * G as a PublicKey with the key OID that fits the curve size (2012 by default)."""
    x, y = ec_python.public_key(curve, private_key)
    oid = key_oid or (KEY_OID_2012_256 if curve.bits == 256 else KEY_OID_2012_512)
    return PublicKey(curve=curve, x=x, y=y, key_oid=oid, digest_oid=default_digest_oid(curve, oid))


_PEM_RE = re.compile(rb"-----BEGIN PRIVATE KEY-----(.+?)-----END PRIVATE KEY-----", re.S)


def private_key_from_pem(pem: bytes) -> tuple[Curve, int]:
    """Read an unencrypted PKCS#8 GOST key as ``openssl genpkey`` writes it.

    The private key OCTET STRING holds the little-endian scalar; other writers wrap it once more in an
    OCTET STRING (also little-endian) or an INTEGER (big-endian), and both are accepted.
    """
    match = _PEM_RE.search(pem)
    if not match:
        raise ValueError("no unencrypted PKCS#8 'PRIVATE KEY' block found")
    der = base64.b64decode(b"".join(match.group(1).split()), validate=True)
    info = _PrivateKeyInfo.load(der, strict=True)
    _, curve, _ = _parse_algorithm(info["private_key_algorithm"])
    raw = info["private_key"].native
    if len(raw) == curve.size:
        d = int.from_bytes(raw, "little")
    else:
        try:
            inner = core.load(raw, strict=True)
        except ValueError:
            raise UnsupportedAlgorithm("GOST private key in an unknown form (masked keys are not supported)") from None
        if isinstance(inner, core.OctetString) and len(inner.native) == curve.size:
            d = int.from_bytes(inner.native, "little")
        elif isinstance(inner, core.Integer):
            d = inner.native
        else:
            raise UnsupportedAlgorithm("GOST private key in an unknown form (masked keys are not supported)")
    d %= curve.q
    if not d:
        raise ValueError("GOST private key is zero")
    return curve, d


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
                from cades.gost import ec_openssl

                ok = ec_openssl.available()
                if choice == "openssl" and not ok:
                    raise UnsupportedAlgorithm(
                        f"{BACKEND_ENV}=openssl, but the OpenSSL gost engine is unusable: "
                        f"{ec_openssl.unavailable_reason()}")
                _backend = "openssl" if ok else "python"
    return _backend


def backend_name() -> str:
    """"openssl" or "python": which implementation ``verify`` uses (for ``klikdok doctor``)."""
    return _select_backend()


def backend_detail() -> str:
    """One line for ``klikdok doctor``: the implementation, its version, and why OpenSSL is not used."""
    if _select_backend() == "openssl":
        from cades.gost import ec_openssl

        return f"OpenSSL gost engine via ctypes ({ec_openssl.version()})"
    arithmetic = (f"gmpy2 {ec_python._gmpy2.version()}" if ec_python.use_gmpy2_default()  # type: ignore[union-attr]
                  else "Python integers")
    detail = f"pure Python ({arithmetic})"
    if os.environ.get(BACKEND_ENV, "").strip().lower() == "python":
        return detail + f", forced by {BACKEND_ENV}=python"
    from cades.gost import ec_openssl

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
        from cades.gost import ec_openssl

        return ec_openssl.verify(key, bytes(digest), bytes(signature))
    return ec_python.verify(curve, key.x, key.y, bytes(digest), bytes(signature))


def sign(curve: Curve, private_key: int, digest: bytes, k: int | None = None) -> bytes:
    """GOST R 34.10 signature s||r (big-endian halves) of a digest given in natural byte order."""
    if CURVES_BY_OID.get(curve.oid) != curve:
        raise UnsupportedAlgorithm(f"unknown curve {curve!r}")
    return ec_python.sign(curve, private_key, bytes(digest), k)
