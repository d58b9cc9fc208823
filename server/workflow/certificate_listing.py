"""What «Мои сертификаты» and the admin's list show about a bound certificate.

Read from the stored DER (not from the columns kept for lookups), so the page shows what is inside the
certificate: the owner, the organisation and its ИНН, the СНИЛС, the dates and the issuer. A stored row whose DER
no longer parses still lists, with what the columns know.
"""

from __future__ import annotations

from typing import Any

import msgspec

from cades.asn1 import load_certificate
from cades.certs import cert_info, identity

from .certificate_policy import certificate_name, organisation_inn
from .certificate_status import LABELS, PROOF_LABELS, shown


class ListedCertificate(msgspec.Struct, kw_only=True):
    id: int
    user_id: int
    owner: str
    organisation: str
    inn: str
    snils: str
    not_before: str | None
    not_after: str | None
    issuer: str
    serial: str
    subject: str  # the whole subject line, as stored
    status: str  # certificate_status.shown(): active | pending | refused | revoked | expired
    status_label: str
    proof_label: str
    why_pending: str
    reason: str
    registered_at: str
    decided_at: str | None
    user_name: str = ""  # the admin's list: who registered it


def listed(row: dict[str, Any], now_iso: str, user_name: str = "") -> ListedCertificate:
    owner, organisation, inn, issuer = "", "", row.get("inn") or "", ""
    not_before: str | None = None
    not_after: str | None = row.get("not_after")
    snils = row.get("snils") or ""
    try:
        cert = load_certificate(bytes(row["der"]))
        info = cert_info(cert)
        subject = info.identity
        owner = certificate_name(subject).shown() or subject.get("common_name", "")
        organisation = subject.get("organization", "")
        inn = organisation_inn(subject) or inn
        snils = subject.get("snils", snils)
        issuer = identity(cert["tbs_certificate"]["issuer"]).get("common_name", "") or info.issuer
        not_before = info.not_before.isoformat() if info.not_before else None
        not_after = info.not_after.isoformat() if info.not_after else not_after
    except Exception:  # a stored row always lists; its DER was parsed once at registration
        owner = owner or str(row.get("subject", ""))
    status = shown(str(row["status"]), not_after, now_iso)
    return ListedCertificate(
        id=int(row["id"]),
        user_id=int(row["user_id"]),
        owner=owner or str(row.get("subject", "")),
        organisation=organisation,
        inn=inn,
        snils=snils,
        not_before=not_before,
        not_after=not_after,
        issuer=issuer,
        serial=str(row["serial"]),
        subject=str(row.get("subject") or ""),
        status=status,
        status_label=LABELS.get(status, status),
        proof_label=PROOF_LABELS.get(str(row.get("proof", "")), str(row.get("proof", ""))),
        why_pending=str(row.get("why_pending") or "") if row["status"] == "pending" else "",
        reason=str(row.get("reason") or ""),
        registered_at=str(row.get("registered_at") or ""),
        decided_at=row.get("decided_at"),
        user_name=user_name,
    )
