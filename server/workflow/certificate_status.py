"""The one vocabulary of a bound signing certificate's status and of the ways its key was proven.

The store keeps ``active | pending | refused | revoked``; "expired" is not stored: it is what an active or
pending certificate reads as once its ``not_after`` has passed (the page and the admin see it, signing refuses
it anyway through validation). Labels are the Russian words the pages, the admin page and the audit show.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class CertStatus(StrEnum):
    ACTIVE = "active"  # signatures by it are accepted for its user
    PENDING = "pending"  # proven, but the organisation or the name does not match: waits for an admin
    REFUSED = "refused"  # an admin refused it (with a reason)
    REVOKED = "revoked"  # an admin revoked it after it was active


EXPIRED = "expired"  # shown, never stored

LABELS: dict[str, str] = {
    CertStatus.ACTIVE: "Действует",
    CertStatus.PENDING: "Ждёт одобрения администратора",
    CertStatus.REFUSED: "Отклонён администратором",
    CertStatus.REVOKED: "Отозван администратором",
    EXPIRED: "Срок действия истёк",
}

# How possession of the key was shown: a challenge signed by the agent, in CryptoARM, a .sig uploaded on the
# page (or POSTed to the API), or the signature under a document that the signer then chose to bind.
Proof = Literal["challenge", "agent", "cryptoarm", "sig", "signature"]
PROOF_LABELS: dict[str, str] = {
    "challenge": "подпись кода подтверждения",
    "agent": "агент подписи",
    "cryptoarm": "КриптоАРМ ГОСТ",
    "sig": "загруженный файл .sig",
    "signature": "подпись под документом",
}


def shown(status: str, not_after: str | None, now_iso: str) -> str:
    """The status a person sees: a stored one, or "expired" for a usable one whose time is over."""
    if status in (CertStatus.ACTIVE, CertStatus.PENDING) and not_after and not_after < now_iso:
        return EXPIRED
    return status
