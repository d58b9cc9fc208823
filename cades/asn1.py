"""ASN.1 plumbing for GOST CMS: OID registration with asn1crypto, strict input loading, BER to DER.

asn1crypto does not know the GOST OIDs: touching a GOST public key or calling ``.native`` on a structure
holding one raises ``KeyError``.  Importing this module registers them once, so every other module (and
other packages that import ``cades``) can use asn1crypto normally.  Input from outside is loaded strictly:
one ASN.1 value, no trailing garbage, a size limit, in any of the armours Russian tools produce.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from typing import Any, Final

from asn1crypto import algos, cms, core, keys, x509
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import tsp as asn1_tsp  # noqa: F401  (registers signingCertificate[V2] and TSTInfo)

__all__ = [
    "DIGEST_OIDS",
    "GOST_KEY_OIDS",
    "MAX_INPUT_SIZE",
    "MalformedInput",
    "SIGNATURE_OIDS",
    "ber_to_der",
    "decode_armour",
    "load_certificate",
    "load_content_info",
    "load_crl",
]

MAX_INPUT_SIZE: Final = 256 * 1024 * 1024
"""Upper bound for one CMS or certificate blob; attached signatures carry the document itself."""


class MalformedInput(ValueError):
    """The only exception the verifier raises for bad input: the bytes are not the expected ASN.1 at all.

    Everything that parses but does not verify is reported as a result value instead.
    """


# --- OIDs ---------------------------------------------------------------------------------------------

GOST_KEY_OIDS: Final = {
    "1.2.643.7.1.1.1.1": "gost3410_2012_256",
    "1.2.643.7.1.1.1.2": "gost3410_2012_512",
    "1.2.643.2.2.19": "gost3410_2001",
}

DIGEST_OIDS: Final = {
    "1.2.643.7.1.1.2.2": "streebog256",
    "1.2.643.7.1.1.2.3": "streebog512",
    "1.2.643.2.2.9": "gost94",
}

# Signature OID -> digest name it implies (certificate and CRL signatures carry only this OID).
SIGNATURE_OIDS: Final = {
    "1.2.643.7.1.1.3.2": "streebog256",
    "1.2.643.7.1.1.3.3": "streebog512",
    "1.2.643.2.2.3": "gost94",
}
SIGNATURE_OID_NAMES: Final = {
    "1.2.643.7.1.1.3.2": "gost3410_2012_256_streebog256",
    "1.2.643.7.1.1.3.3": "gost3410_2012_512_streebog512",
    "1.2.643.2.2.3": "gost3410_2001_gost94",
}

NAME_OIDS: Final = {
    "1.2.643.3.131.1.1": "inn",
    "1.2.643.100.1": "ogrn",
    "1.2.643.100.3": "snils",
    "1.2.643.100.4": "innle",
    "1.2.643.100.5": "ogrnip",
}

EXTENSION_OIDS: Final = {
    "1.2.643.100.111": "subject_sign_tool",
    "1.2.643.100.112": "issuer_sign_tool",
    "1.2.643.100.114": "identification_kind",
}

# CAdES (ETSI EN 319 122 / RFC 5126) unsigned attributes.
CERT_VALUES_OID: Final = "1.2.840.113549.1.9.16.2.23"
REVOCATION_VALUES_OID: Final = "1.2.840.113549.1.9.16.2.24"
ESC_TIMESTAMP_OID: Final = "1.2.840.113549.1.9.16.2.25"


class IssuerSignTool(core.Sequence):
    """issuerSignTool (1.2.643.100.112): the CA's crypto tool and its certificates of conformity."""

    _fields = [
        ("sign_tool", core.UTF8String),
        ("ca_tool", core.UTF8String),
        ("sign_tool_cert", core.UTF8String),
        ("ca_tool_cert", core.UTF8String),
    ]


class CertificateValues(core.SequenceOf):
    _child_spec = x509.Certificate


class SetOfCertificateValues(core.SetOf):
    _child_spec = CertificateValues


class CrlValues(core.SequenceOf):
    _child_spec = asn1_crl.CertificateList


class OcspValues(core.SequenceOf):
    _child_spec = asn1_ocsp.BasicOCSPResponse


class RevocationValues(core.Sequence):
    _fields = [
        ("crl_vals", CrlValues, {"explicit": 0, "optional": True}),
        ("ocsp_vals", OcspValues, {"explicit": 1, "optional": True}),
        ("other_rev_vals", core.Any, {"explicit": 2, "optional": True}),
    ]


class SetOfRevocationValues(core.SetOf):
    _child_spec = RevocationValues


_registered = False


def _gost_public_key_spec(original: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """Wrap asn1crypto's key-spec callback so GOST keys parse as an opaque BIT STRING."""

    def spec(self: Any) -> Any:
        if self["algorithm"]["algorithm"].dotted in GOST_KEY_OIDS:
            return (core.OctetBitString, None)
        return original(self)

    return spec


def register_oids() -> None:
    """Teach asn1crypto the GOST and Russian qualified-certificate OIDs; idempotent."""
    global _registered
    if _registered:
        return
    keys.PublicKeyAlgorithmId._map.update(GOST_KEY_OIDS)
    callbacks = dict(keys.PublicKeyInfo._spec_callbacks or {})
    callbacks["public_key"] = _gost_public_key_spec(keys.PublicKeyInfo._public_key_spec)
    keys.PublicKeyInfo._spec_callbacks = callbacks
    algos.DigestAlgorithmId._map.update(DIGEST_OIDS)
    algos.SignedDigestAlgorithmId._map.update(SIGNATURE_OID_NAMES)
    x509.NameType._map.update(NAME_OIDS)
    x509.ExtensionId._map.update(EXTENSION_OIDS)
    x509.Extension._oid_specs["subject_sign_tool"] = core.UTF8String
    x509.Extension._oid_specs["issuer_sign_tool"] = IssuerSignTool
    cms.CMSAttributeType._map[CERT_VALUES_OID] = "certificate_values"
    cms.CMSAttributeType._map[REVOCATION_VALUES_OID] = "revocation_values"
    cms.CMSAttributeType._map[ESC_TIMESTAMP_OID] = "esc_time_stamp"
    cms.CMSAttribute._oid_specs["certificate_values"] = SetOfCertificateValues
    cms.CMSAttribute._oid_specs["revocation_values"] = SetOfRevocationValues
    cms.CMSAttribute._oid_specs["esc_time_stamp"] = cms.SetOfContentInfo
    for oid_class in (
        keys.PublicKeyAlgorithmId,
        algos.DigestAlgorithmId,
        algos.SignedDigestAlgorithmId,
        x509.NameType,
        x509.ExtensionId,
        cms.CMSAttributeType,
    ):
        oid_class._reverse_map = None  # built once from _map; rebuilt with our names on the next use
    for constructed in (core.Sequence, core.SequenceOf):
        constructed.dump = _definite_dump(constructed.dump)
    _registered = True


def _definite_dump(original: Callable[..., bytes]) -> Callable[..., bytes]:
    """asn1crypto's ``dump()`` of a SEQUENCE takes any header ending in byte 0x80 for an indefinite length and
    re-encodes the value, but ``30 81 80`` or ``30 82 02 80`` are definite lengths (128, 640: every length whose
    low byte is 0x80). Re-encoding changes the bytes a signature was made over (and fails on names asn1crypto
    cannot map back to OIDs), so a certificate, CRL or OCSP answer of such a length would not verify. A value read
    with a definite length and not changed since is dumped as the bytes that were read."""

    def dump(self: Any, force: bool = False) -> bytes:
        header = self._header
        if (
            not force
            and header is not None
            and header[-1:] == b"\x80"
            and not _indefinite_header(header)
            and not self._trailer
            and self.contents is not None
            and not self._is_mutated()
        ):
            return bytes(header + self.contents)
        return original(self, force)

    return dump


def _indefinite_header(header: bytes) -> bool:
    """Whether an identifier+length header says "indefinite length": its first length octet is exactly 0x80."""
    position = 1
    if header[0] & 0x1F == 0x1F:  # high tag number: the tag continues while bit 8 is set
        while position < len(header) and header[position] & 0x80:
            position += 1
        position += 1
    return position < len(header) and header[position] == 0x80


register_oids()


# --- armour -------------------------------------------------------------------------------------------

_PEM_RE: Final = re.compile(rb"-----BEGIN ([A-Z0-9 #]+)-----(.*?)-----END \1-----", re.S)
_B64_CHARS: Final = re.compile(rb"^[A-Za-z0-9+/=_\-\s]+$")


def decode_armour(data: bytes, *, max_size: int = MAX_INPUT_SIZE) -> bytes:
    """Return the DER/BER bytes inside ``data``: raw binary, PEM (any label) or bare base64 text.

    Why all three: CryptoPro writes DER or base64, OpenSSL PEM, Rosreestr base64 without armour.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise MalformedInput("входные данные должны быть байтами")
    data = bytes(data)
    if len(data) > max_size:
        raise MalformedInput(f"слишком большой объём данных: {len(data)} байт (предел {max_size})")
    if not data:
        raise MalformedInput("пустые входные данные")
    if data[0] == 0x30:  # SEQUENCE: binary DER/BER
        return data
    stripped = data.strip()
    if stripped.startswith(b"\xef\xbb\xbf"):
        stripped = stripped[3:].strip()
    match = _PEM_RE.search(stripped)
    if match is not None:
        if stripped[: match.start()].strip() or stripped[match.end() :].strip():
            raise MalformedInput("посторонние данные вокруг PEM-блока")
        body = match.group(2)
        # RFC 7468 permits headers (Proc-Type and the like) only in legacy PEM; drop lines with ':'.
        body = b"\n".join(line for line in body.splitlines() if b":" not in line)
        return _b64decode(body)
    if _B64_CHARS.match(stripped):
        return _b64decode(stripped)
    raise MalformedInput("данные не похожи ни на DER/BER, ни на PEM, ни на base64")


def _b64decode(text: bytes) -> bytes:
    compact = re.sub(rb"\s+", b"", text)
    if b"-" in compact or b"_" in compact:
        compact = compact.replace(b"-", b"+").replace(b"_", b"/")
    compact += b"=" * (-len(compact) % 4)
    try:
        out = base64.b64decode(compact, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedInput("неверная кодировка base64") from exc
    if not out:
        raise MalformedInput("пустые данные после декодирования base64")
    return out


# --- strict loaders -----------------------------------------------------------------------------------


def load_content_info(data: bytes, *, max_size: int = MAX_INPUT_SIZE) -> cms.ContentInfo:
    """Parse a CMS ContentInfo strictly (one value, no trailing bytes)."""
    der = decode_armour(data, max_size=max_size)
    try:
        info = cms.ContentInfo.load(der, strict=True)
        info["content_type"].dotted  # noqa: B018  (forces the lazy parse of the header fields)
    except Exception as exc:  # asn1crypto raises ValueError, TypeError, KeyError... on corrupt input
        raise MalformedInput(f"не удалось разобрать CMS: {_short(exc)}") from exc
    return info


def load_certificate(data: bytes, *, max_size: int = 1024 * 1024) -> x509.Certificate:
    """Parse one X.509 certificate (DER, PEM or base64) strictly."""
    der = decode_armour(data, max_size=max_size)
    try:
        cert = x509.Certificate.load(der, strict=True)
        touch_certificate(cert)
        remember_der(cert)
    except Exception as exc:
        raise MalformedInput(f"не удалось разобрать сертификат: {_short(exc)}") from exc
    return cert


def touch_certificate(cert: x509.Certificate) -> None:
    """Force the lazy parse of every field validation reads, so damage shows up here and not later.

    Cheaper than ``.native`` on the whole certificate (which the hot path cannot afford).
    """
    tbs = cert["tbs_certificate"]
    tbs["serial_number"].native  # noqa: B018 - the read forces the lazy parse
    # The names are parsed lazily, attribute by attribute: reading every attribute's type and value (as reports,
    # name comparison and validation messages do) is what shows one that is not a SEQUENCE or a string that is not
    # in its encoding. The parsed attributes stay on the name, so the verifier's own reads cost nothing more (about
    # 1 % of loading and indexing a certificate; ``human_friendly`` here cost 7 %).
    for name in (tbs["issuer"], tbs["subject"]):
        for rdn in name.chosen:
            for attribute in rdn:
                attribute["type"].dotted  # noqa: B018 - the read forces the lazy parse
                attribute["value"].native  # noqa: B018 - the read forces the lazy parse
    spki = tbs["subject_public_key_info"]
    spki["algorithm"]["algorithm"].dotted  # noqa: B018 - the read forces the lazy parse
    spki.dump()
    validity = tbs["validity"]
    validity["not_before"].native  # noqa: B018 - the read forces the lazy parse
    validity["not_after"].native  # noqa: B018 - the read forces the lazy parse
    cert["signature_algorithm"]["algorithm"].dotted  # noqa: B018 - the read forces the lazy parse
    cert["signature_value"].native  # noqa: B018 - the read forces the lazy parse


def remember_der(value: core.Asn1Value) -> None:
    """For a value read in BER (an indefinite length): encode it once now and keep the bytes where
    ``certs.der_of`` and the CRL index look for them.

    asn1crypto's ``dump()`` re-encodes such a value, parsing every lazy child the loader did not touch; damage there
    must be the loader's MalformedInput, not a ValueError at the first use. A value read with a definite length
    dumps as the bytes that were read, which cannot fail, so it is left alone (the usual case costs nothing)."""
    header = value._header
    if header is not None and _indefinite_header(header):
        value.__dict__["_klikdok_der"] = value.dump()


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate in a file: one DER, or several concatenated PEM blocks (a CA bundle)."""
    if b"-----BEGIN" in data:
        blocks = [m.group(0) for m in _PEM_RE.finditer(data) if b"CERTIFICATE" in m.group(1)]
        if not blocks:
            raise MalformedInput("в файле нет PEM-блоков CERTIFICATE")
        return [load_certificate(block) for block in blocks]
    return [load_certificate(data)]


def load_crl(data: bytes, *, max_size: int = 64 * 1024 * 1024) -> asn1_crl.CertificateList:
    """Parse one CRL (DER, PEM or base64) strictly."""
    der = decode_armour(data, max_size=max_size)
    try:
        crl = asn1_crl.CertificateList.load(der, strict=True)
        crl["tbs_cert_list"]["issuer"].contents  # noqa: B018 - the read forces the lazy parse
        remember_der(crl)
    except Exception as exc:
        raise MalformedInput(f"не удалось разобрать CRL: {_short(exc)}") from exc
    return crl


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:200]


# --- BER -> DER ---------------------------------------------------------------------------------------


def _read_header(buf: bytes, pos: int, end: int) -> tuple[int, int, int, int | None]:
    """Return (tag_end, identifier_first_byte, content_start, length or None for indefinite)."""
    if pos >= end:
        raise ValueError("truncated")
    first = buf[pos]
    p = pos + 1
    if first & 0x1F == 0x1F:
        while True:
            if p >= end:
                raise ValueError("truncated tag")
            b = buf[p]
            p += 1
            if not b & 0x80:
                break
    tag_end = p
    if p >= end:
        raise ValueError("truncated length")
    lb = buf[p]
    p += 1
    if lb == 0x80:
        return tag_end, first, p, None
    if lb & 0x80:
        n = lb & 0x7F
        if n > 8 or p + n > end:
            raise ValueError("bad length")
        length = int.from_bytes(buf[p : p + n], "big")
        p += n
    else:
        length = lb
    if p + length > end:
        raise ValueError("length beyond end")
    return tag_end, first, p, length


def _der_len(n: int) -> bytes:
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def _convert(buf: bytes, pos: int, end: int, depth: int) -> tuple[bytes, int]:
    """Convert one TLV at ``pos`` to DER; return (der, position after the TLV)."""
    if depth > 64:
        raise ValueError("nesting too deep")
    tag_end, first, start, length = _read_header(buf, pos, end)
    tag = buf[pos:tag_end]
    constructed = bool(first & 0x20)
    if not constructed:
        if length is None:
            raise ValueError("indefinite primitive")
        return tag + _der_len(length) + buf[start : start + length], start + length
    children: list[bytes] = []
    p = start
    stop = end if length is None else start + length
    while True:
        if length is None:
            if p + 2 > end:
                raise ValueError("missing end-of-contents")
            if buf[p] == 0 and buf[p + 1] == 0:
                p += 2
                break
        elif p >= stop:
            break
        child, p = _convert(buf, p, stop, depth + 1)
        children.append(child)
    universal = first & 0xC0 == 0
    number = first & 0x1F
    if universal and number in (3, 4, 12, 19, 20, 22, 26, 30):
        # Constructed string (BER chunks): DER wants one primitive string.
        pieces: list[bytes] = []
        for child in children:
            _, _, cstart, clen = _read_header(child, 0, len(child))
            piece = child[cstart : cstart + (clen or 0)]
            if number == 3 and pieces:
                piece = piece[1:]  # only the first BIT STRING chunk keeps its unused-bits octet
            pieces.append(piece)
        body = b"".join(pieces)
        return bytes([number]) + _der_len(len(body)) + body, p
    if first == 0x31:
        children.sort()
    body = b"".join(children)
    return tag + _der_len(len(body)) + body, p


def ber_to_der(data: bytes) -> bytes:
    """Re-encode one BER value as DER: definite lengths, joined string chunks, sorted SET OF.

    Why our own: the bytes a signer hashed are the DER of the signed attributes, while CryptoPro and
    ViPNet transmit them in BER; asn1crypto's forced re-dump can also rewrite times and strings.
    """
    der, end = _convert(data, 0, len(data), 0)
    if end != len(data):
        raise ValueError("trailing data")
    return der
