"""How a signer sees a certificate: owner, organisation, ИНН, СНИЛС, validity and thumbprint, in Russian.

Backends know certificates differently: the OpenSSL one has the DER, CryptoPro's tools print a one-line
subject (``CN=…, SNILS=…`` in an English locale, ``СНИЛС=…`` in a Russian one, ``OID.1.2.643.100.3=…`` when the
tool does not know the attribute). Both end up as the same identity fields, so ``klikdok-agent certs`` and
``setup`` show one view whatever the backend.
"""

from __future__ import annotations

from typing import Final

from .backends.base import CertificateInfo

__all__ = ["describe", "subject_fields"]

# Attribute labels as CryptoPro, OpenSSL and Windows print them -> identity key (as in cades.certs.IDENTITY_FIELDS).
_LABELS: Final = {
    "cn": "common_name",
    "sn": "surname",
    "g": "given_name",
    "gn": "given_name",
    "givenname": "given_name",
    "t": "title",
    "title": "title",
    "o": "organization",
    "ou": "organizational_unit",
    "e": "email",
    "emailaddress": "email",
    "inn": "inn",
    "инн": "inn",
    "1.2.643.3.131.1.1": "inn",
    "innle": "innle",
    "инн юл": "innle",
    "иннюл": "innle",
    "1.2.643.100.4": "innle",
    "snils": "snils",
    "снилс": "snils",
    "1.2.643.100.3": "snils",
    "ogrn": "ogrn",
    "огрн": "ogrn",
    "1.2.643.100.1": "ogrn",
    "ogrnip": "ogrnip",
    "огрнип": "ogrnip",
    "1.2.643.100.5": "ogrnip",
}


def _split(subject: str) -> list[str]:
    """Split ``K=V, K=V`` at commas outside double quotes; a backslash escapes the next character."""
    parts: list[str] = []
    current: list[str] = []
    quoted = escaped = False
    for ch in subject:
        if escaped:
            current.append(ch)
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            quoted = not quoted
            current.append(ch)
        elif ch in ",;" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(ch)
    parts.append("".join(current))
    return [p.strip() for p in parts if p.strip()]


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = value[1:-1].replace('""', '"')
    return value


def subject_fields(subject: str) -> dict[str, str]:
    """Identity fields of a one-line subject; the first value of each field wins, unknown attributes are ignored."""
    fields: dict[str, str] = {}
    for part in _split(subject):
        label, sep, value = part.partition("=")
        if not sep:
            continue
        key = _LABELS.get(label.strip().lower().removeprefix("oid."))
        if key is not None and key not in fields and _unquote(value):
            fields[key] = _unquote(value)
    return fields


def _snils(value: str) -> str:
    digits = "".join(ch for ch in value if ch.isdigit())
    if len(digits) == 11:
        return f"{digits[:3]}-{digits[3:6]}-{digits[6:9]} {digits[9:]}"
    return value


def _owner(fields: dict[str, str]) -> str:
    person = " ".join(v for v in (fields.get("surname"), fields.get("given_name")) if v)
    return person or fields.get("common_name") or "владелец не указан"


def describe(cert: CertificateInfo, number: int | None = None) -> list[str]:
    """Lines for one certificate: the owner first (what a signer recognises), then the numbers that tell two
    certificates of the same person apart."""
    fields = cert.fields or subject_fields(cert.subject)
    head = _owner(fields)
    if fields.get("title"):
        head += f", {fields['title']}"
    if fields.get("organization"):
        head += f" — {fields['organization']}"
    lines = [f"{number}. {head}" if number is not None else head]
    ids = []
    if fields.get("inn"):
        ids.append(f"ИНН {fields['inn']}")
    if fields.get("innle"):
        ids.append(f"ИНН организации {fields['innle']}")
    if fields.get("ogrn"):
        ids.append(f"ОГРН {fields['ogrn']}")
    if fields.get("snils"):
        ids.append(f"СНИЛС {_snils(fields['snils'])}")
    indent = "   " if number is not None else ""
    if ids:
        lines.append(indent + " · ".join(ids))
    validity = f"действует до {cert.not_after[:10]}" if cert.not_after else "срок действия не известен"
    if cert.not_before:
        validity = f"действует с {cert.not_before[:10]} до {cert.not_after[:10]}"
    issuer = subject_fields(cert.issuer).get("common_name") or cert.issuer
    lines.append(indent + f"{validity[:1].upper()}{validity[1:]}; издатель: {issuer}")
    lines.append(indent + f"Отпечаток: {cert.thumbprint}" + ("" if cert.has_private_key else " (закрытого ключа нет)"))
    return lines
