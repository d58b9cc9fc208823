"""GOST R 34.10 keys: their ASN.1 shapes, parsing, and the public key value both backends verify with.

Below the backends (``ec_openssl`` takes a :class:`PublicKey` and builds one in its self-test) and below
:mod:`cades.gost`, which picks the backend, so neither has to import the package that imports it.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from asn1crypto import core

from cades.gost import ec_python
from cades.gost.curves import CURVES_BY_OID, Curve

__all__ = [
    "KEY_OID_2001",
    "KEY_OID_2012_256",
    "KEY_OID_2012_512",
    "PublicKey",
    "UnsupportedAlgorithm",
    "curve_by_oid",
    "private_key_from_pem",
    "public_key_from_private",
]

KEY_OID_2012_256: Final = "1.2.643.7.1.1.1.1"
KEY_OID_2012_512: Final = "1.2.643.7.1.1.1.2"
KEY_OID_2001: Final = "1.2.643.2.2.19"
_KEY_OIDS: Final = {KEY_OID_2012_256: 256, KEY_OID_2012_512: 512, KEY_OID_2001: 256}

DIGEST_OID_STREEBOG256: Final = "1.2.643.7.1.1.2.2"
DIGEST_OID_GOST94_CRYPTOPRO: Final = "1.2.643.2.2.30.1"  # GOST R 34.11-94 CryptoPro parameter set


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
        spki = _SubjectPublicKeyInfo(
            {
                "algorithm": _AlgorithmIdentifier({"algorithm": self.key_oid, "parameters": params}),
                "public_key": core.OctetString(point).dump(),
            }
        )
        return spki.dump()

    def is_valid(self) -> bool:
        """Q lies on the curve (a cheap check done before every verification)."""
        c = self.curve
        return (
            0 <= self.x < c.p
            and 0 <= self.y < c.p
            and (self.y * self.y - (self.x * self.x + c.a) * self.x - c.b) % c.p == 0
        )


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
