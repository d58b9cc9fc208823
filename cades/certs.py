"""Qualified-certificate identity (ИНН, ОГРН, СНИЛС...) and small certificate facts, read defensively.

Russian CAs are not uniform: ИНН may be a NumericString, PrintableString or UTF8String, names may be
BMPString, and test CAs leave fields out.  Every reader here tolerates that and never raises.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Final

from asn1crypto import x509

from . import asn1 as _asn1  # noqa: F401  (OID registration must precede any parsing)
from .exclusive import exclusively

__all__ = [
    "CertInfo",
    "IDENTITY_FIELDS",
    "cert_info",
    "identity",
    "name_text",
    "name_key",
    "names_equal",
]

# Name attribute OID -> identity key.  Order is the order shown in reports.
IDENTITY_FIELDS: Final = {
    "2.5.4.3": "common_name",
    "2.5.4.4": "surname",
    "2.5.4.42": "given_name",
    "2.5.4.12": "title",
    "2.5.4.10": "organization",
    "2.5.4.11": "organizational_unit",
    "1.2.643.3.131.1.1": "inn",
    "1.2.643.100.4": "innle",
    "1.2.643.100.1": "ogrn",
    "1.2.643.100.5": "ogrnip",
    "1.2.643.100.3": "snils",
    "1.2.840.113549.1.9.1": "email",
    "2.5.4.6": "country",
    "2.5.4.8": "region",
    "2.5.4.7": "locality",
    "2.5.4.9": "street",
}

# Short labels for a one-line distinguished name, in the style of CryptoPro and OpenSSL.
_SHORT: Final = {
    "2.5.4.3": "CN",
    "2.5.4.4": "SN",
    "2.5.4.42": "G",
    "2.5.4.12": "T",
    "2.5.4.10": "O",
    "2.5.4.11": "OU",
    "2.5.4.6": "C",
    "2.5.4.8": "ST",
    "2.5.4.7": "L",
    "2.5.4.9": "street",
    "2.5.4.5": "serialNumber",
    "1.2.840.113549.1.9.1": "E",
    "1.2.840.113549.1.9.2": "unstructuredName",
    "1.2.643.3.131.1.1": "INN",
    "1.2.643.100.4": "INNLE",
    "1.2.643.100.1": "OGRN",
    "1.2.643.100.5": "OGRNIP",
    "1.2.643.100.3": "SNILS",
}


def _value_text(value: object) -> str | None:
    try:
        native = value.native  # type: ignore[attr-defined]  # any asn1crypto value; others fail below
    except Exception:
        return None
    if isinstance(native, str):
        return native.strip()
    if isinstance(native, bytes):
        try:
            return native.decode("utf-8").strip()
        except UnicodeDecodeError:
            return native.hex()
    if native is None:
        return None
    return str(native)


def _pairs(name: x509.Name) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    try:
        for rdn in name.chosen:
            for atv in rdn:
                text = _value_text(atv["value"])
                if text is not None:
                    out.append((atv["type"].dotted, text))
    except Exception:
        return out
    return out


def identity(name: x509.Name) -> dict[str, str]:
    """Identity fields of a subject name, keyed as in :data:`IDENTITY_FIELDS`; first value wins."""
    fields: dict[str, str] = {}
    for oid, text in _pairs(name):
        key = IDENTITY_FIELDS.get(oid)
        if key is not None and key not in fields:
            fields[key] = text
    return fields


def name_text(name: x509.Name) -> str:
    """A one-line distinguished name (``CN=..., O=..., INN=...``) for people, not for comparison."""
    return ", ".join(f"{_SHORT.get(oid, oid)}={text}" for oid, text in _pairs(name))


_NAME_MEMO: dict[tuple[bytes, bytes], bool] = {}
_NAME_KEYS: dict[bytes, str] = {}


def name_key(name: x509.Name) -> str:
    """A dictionary key equal for names that RFC 5280 calls equal (asn1crypto's ``hashable``), memoised by the
    encoded name: indexes of thousands of CA certificates (the accredited list) are looked up by it."""
    raw = _name_bytes(name)
    key = _NAME_KEYS.get(raw)
    if key is None:
        try:
            key = name.hashable
        except Exception:
            key = "raw:" + raw.hex()
        if len(_NAME_KEYS) > 8192:
            _NAME_KEYS.clear()
        _NAME_KEYS[raw] = key
    return key


def _name_bytes(name: x509.Name) -> bytes:
    # The RDNSequence contents: independent of any explicit tag around the Name (GeneralName [4]).
    return name.chosen.contents or b""


@exclusively
def names_equal(a: x509.Name, b: x509.Name) -> bool:
    """Byte-identical names first (the common case, and cheap), then RFC 5280 comparison, memoised.

    The RFC 5280 path (case folding, whitespace, string prep) costs about a millisecond in asn1crypto,
    and chain building compares the same few CA names again and again.
    """
    try:
        ka, kb = _name_bytes(a), _name_bytes(b)
        if ka == kb:
            return True
        key = (ka, kb) if ka < kb else (kb, ka)
        hit = _NAME_MEMO.get(key)
        if hit is None:
            hit = bool(a == b)
            if len(_NAME_MEMO) > 4096:
                _NAME_MEMO.clear()
            _NAME_MEMO[key] = hit
        return hit
    except Exception:
        return False


def _extension(cert: x509.Certificate, oid: str) -> object | None:
    try:
        for ext in cert["tbs_certificate"]["extensions"]:
            if ext["extn_id"].dotted == oid:
                return ext["extn_value"].parsed
    except Exception:
        return None
    return None


@dataclass(frozen=True, slots=True)
class CertInfo:
    """What a report shows about one certificate."""

    serial: str
    subject: str
    issuer: str
    not_before: dt.datetime | None
    not_after: dt.datetime | None
    identity: dict[str, str]
    subject_sign_tool: str | None
    issuer_sign_tool: list[str] | None


@exclusively
def cert_info(cert: x509.Certificate) -> CertInfo:
    """Collect report-facing facts of a certificate without ``.native`` on the whole structure."""
    tbs = cert["tbs_certificate"]
    try:
        serial = format(tbs["serial_number"].native, "x")
    except Exception:
        serial = ""
    try:
        validity = tbs["validity"]
        not_before = validity["not_before"].chosen.native
        not_after = validity["not_after"].chosen.native
    except Exception:
        not_before = not_after = None
    sst = _extension(cert, "1.2.643.100.111")
    ist = _extension(cert, "1.2.643.100.112")
    subject_tool = _value_text(sst) if sst is not None else None
    issuer_tool: list[str] | None = None
    if ist is not None:
        try:
            issuer_tool = [str(v) for v in ist.native.values()]  # type: ignore[attr-defined]  # an asn1crypto Sequence
        except Exception:
            issuer_tool = None
    return CertInfo(
        serial=serial,
        subject=name_text(tbs["subject"]),
        issuer=name_text(tbs["issuer"]),
        not_before=not_before,
        not_after=not_after,
        identity=identity(tbs["subject"]),
        subject_sign_tool=subject_tool,
        issuer_sign_tool=issuer_tool,
    )


@dataclass(frozen=True, slots=True)
class CertFacts:
    """Everything validation and reports read from a certificate, extracted once per distinct DER.

    Signer and CA certificates recur across verifications (the same CA issues thousands of signer
    certificates), so parsing their extensions once pays off; the key is the whole DER, so a changed
    byte is a different certificate.
    """

    info: CertInfo
    ski: bytes | None
    aki: bytes | None
    key_usage: frozenset[str] | None
    is_ca: bool
    has_basic_constraints: bool
    crl_urls: tuple[str, ...]
    ok: bool
    ocsp_urls: tuple[str, ...] = ()  # AIA id-ad-ocsp
    ca_issuer_urls: tuple[str, ...] = ()  # AIA id-ad-caIssuers
    delta_crl_urls: tuple[str, ...] = ()  # freshestCRL (delta CRL distribution points)


_FACTS: dict[bytes, CertFacts] = {}


def der_of(cert: x509.Certificate) -> bytes:
    """The certificate's DER, remembered on the object.

    asn1crypto's ``dump()`` walks the whole parsed tree to check for mutation on every call, and chain
    building asks for the same certificate's bytes many times; certificates are never mutated here.
    """
    der = cert.__dict__.get("_klikdok_der")
    if der is None:
        der = cert.dump()
        cert.__dict__["_klikdok_der"] = der
    return der


@exclusively
def facts(cert: x509.Certificate) -> CertFacts:
    der = der_of(cert)
    hit = _FACTS.get(der)
    if hit is not None:
        return hit
    ok = True
    try:
        ski = cert.key_identifier
    except Exception:
        ski = None
    try:
        aki = cert.authority_key_identifier
    except Exception:
        aki = None
    key_usage: frozenset[str] | None = None
    is_ca = has_bc = False
    try:
        usage = cert.key_usage_value
        key_usage = frozenset(usage.native) if usage is not None else None
        bc = cert.basic_constraints_value
        has_bc = bc is not None
        is_ca = bool(bc["ca"].native) if bc is not None else False
    except Exception:
        ok = False
    ocsp: list[str] = []
    ca_issuers: list[str] = []
    try:
        for access in cert.authority_information_access_value or []:
            location = access["access_location"]
            if location.name != "uniform_resource_identifier":
                continue
            method = access["access_method"].native
            if method == "ocsp":
                ocsp.append(location.native)
            elif method == "ca_issuers":
                ca_issuers.append(location.native)
    except Exception:
        pass
    result = CertFacts(
        cert_info(cert),
        ski,
        aki,
        key_usage,
        is_ca,
        has_bc,
        _point_urls(cert, "crl_distribution_points_value"),
        ok,
        ocsp_urls=tuple(ocsp),
        ca_issuer_urls=tuple(ca_issuers),
        delta_crl_urls=_point_urls(cert, "freshest_crl_value"),
    )
    if len(_FACTS) > 2048:
        _FACTS.clear()
    _FACTS[der] = result
    return result


def _point_urls(cert: x509.Certificate, attribute: str) -> tuple[str, ...]:
    """The URIs of a CRLDistributionPoints-shaped extension (cRLDistributionPoints or freshestCRL)."""
    urls: list[str] = []
    try:
        for dp in getattr(cert, attribute) or []:
            point = dp["distribution_point"]
            if point.name == "full_name":
                urls.extend(n.native for n in point.chosen if n.name == "uniform_resource_identifier")
    except Exception:
        pass
    return tuple(urls)


def clear_caches() -> None:
    """Forget memoised certificate facts and name comparisons (benchmarks measure the cold path)."""
    _FACTS.clear()
    _NAME_MEMO.clear()
    _NAME_KEYS.clear()
