"""A user registers their own signing certificate: challenge issued, proof of the key checked, the row recorded.

It changes when the registration flow changes (the onboarding issue replaces the challenge with another proof,
a registration needs an approval, the refusals are audited differently). The proof itself, a CMS signature over
the challenge made with the certificate's key, is :mod:`.certificates`'; the SQL is :mod:`.certificate_store`'s.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import x509

from cades.asn1 import load_certificate
from cades.certs import CertInfo, cert_info
from server.db import Database, audit

from . import certificate_store, certificates, store
from .certificate_status import LABELS, CertStatus, Proof
from .permissions import PermissionDenied, Viewer
from .states import TransitionRefused


class CertificateRegistration:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def challenge(self, viewer: Viewer) -> certificates.Challenge:
        """A fresh challenge for this user to sign with the certificate they are about to register."""
        challenge = certificates.new_challenge(viewer.user_id)
        now = datetime.now(UTC)
        await self.db.write(
            lambda d: certificate_store.issue_challenge(
                d,
                user_id=viewer.user_id,
                challenge_hash=challenge.hash,
                now=now.isoformat(timespec="seconds"),
                expires_at=challenge.expires_at,
                keep_until=(now - timedelta(days=1)).isoformat(timespec="seconds"),
            )
        )
        return challenge

    async def register(
        self,
        viewer: Viewer,
        der_or_pem: bytes,
        *,
        challenge: str,
        signature: bytes,
        proof: Proof = "challenge",
    ) -> dict[str, Any]:
        """A user registers their own signing certificate (audited); signatures for them must use it.

        The registration must prove possession of the key: ``signature`` is a CMS signature over ``challenge``
        (issued to this user by :meth:`challenge`, unexpired, unused) made with this certificate. The challenge
        is spent by this attempt whatever its outcome; refusals are PermissionDenied, which the API audits.
        ``proof`` names the channel that made the signature (stored and audited).

        The answer: serial, subject, issuer, ``status`` (a :class:`CertStatus`: active, or pending when an admin
        must approve it) and ``message``, the Russian sentence the page shows.
        """
        if not der_or_pem:
            carried = certificates.carried_certificate(signature)
            if carried is None:
                raise TransitionRefused(
                    "certificate_required",
                    "В файле подписи нет сертификата подписанта. Приложите и сам сертификат (файл .cer) "
                    "или подпишите код так, чтобы сертификат был включён в подпись.",
                )
            der_or_pem = carried.dump()
        cert, info, data = _loaded(der_or_pem)
        now = store.now_iso()
        state = await self.db.write(
            lambda d: certificate_store.spend_challenge(
                d, user_id=viewer.user_id, challenge_hash=certificates.challenge_hash(challenge), now=now
            )
        )

        async def refuse(code: str, message: str, why: str) -> None:
            details = {
                "serial": info.serial.lower(),
                "issuer": info.issuer,
                "subject": info.subject,
                "code": code,
                "why": why,
            }
            await self.db.write(
                lambda d: audit.append(
                    d,
                    actor=f"user:{viewer.user_id}",
                    action="certificate.refused",
                    object_type="user",
                    object_id=viewer.user_id,
                    details=details,
                )
            )
            raise PermissionDenied(code, message)

        if state != "ok":
            why = {"used": "уже использован", "expired": "просрочен"}.get(state, "не выдавался вам")
            await refuse(
                "bad_challenge",
                f"Код подтверждения {why}. Запросите новый код, подпишите его этим "
                "сертификатом и повторите регистрацию.",
                f"challenge {state}",
            )
        if not await asyncio.to_thread(certificates.proves_possession, signature, challenge, cert):
            await refuse(
                "no_proof",
                "Подпись под кодом подтверждения не сделана ключом этого сертификата. "
                "Зарегистрировать можно только свой сертификат: подпишите код тем ключом, которому он "
                "выдан.",
                "signature does not verify with this certificate",
            )
        return await self._bind(viewer, info, data, proof=proof, now=now)

    async def register_proven(self, viewer: Viewer, der: bytes, *, proof: Proof = "signature") -> dict[str, Any]:
        """Bind a certificate whose key the caller has already seen at work for this user, with no challenge.

        The one caller so far is the offer made when a document signature was refused for an unbound certificate
        (:mod:`.bind_offers`): that signature, verified over the document's bytes on the user's own signing
        step, is the proof. The decision and the audit are :meth:`register`'s, the same code.
        """
        _cert, info, data = _loaded(der)
        return await self._bind(viewer, info, data, proof=proof, now=store.now_iso())

    async def _bind(self, viewer: Viewer, info: CertInfo, data: bytes, *, proof: Proof, now: str) -> dict[str, Any]:
        """The certificate proven to be this user's: decided (active or pending), recorded, audited."""
        row = {
            "issuer": info.issuer,
            "serial": info.serial,
            "subject": info.subject,
            "inn": info.identity.get("inn") or info.identity.get("innle") or "",
            "snils": info.identity.get("snils", ""),
            "not_after": info.not_after.isoformat() if info.not_after else None,
        }

        def write(d: Any) -> None:
            if certificate_store.other_owner(d, issuer=info.issuer, serial=info.serial, user_id=viewer.user_id):
                raise PermissionDenied(
                    "certificate_taken", "Этот сертификат уже зарегистрирован за другим сотрудником."
                )
            certificate_store.register(d, user_id=viewer.user_id, info=row, der=data, now=now)
            audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="certificate.registered",
                object_type="user",
                object_id=viewer.user_id,
                details={"serial": info.serial, "subject": info.subject, "proof": proof, "status": status},
            )

        status = CertStatus.ACTIVE  # the onboarding decision (company ИНН, name, СНИЛС renewal) replaces this
        await self.db.write(write)
        return {
            "serial": info.serial.lower(),
            "subject": info.subject,
            "issuer": info.issuer,
            "status": str(status),
            "message": f"Сертификат привязан к вам: {LABELS[status].lower()}.",
        }


def _loaded(der_or_pem: bytes) -> tuple[x509.Certificate, CertInfo, bytes]:
    """(certificate, its cert_info, its DER) or TransitionRefused when the bytes are not a usable certificate."""
    try:
        cert = load_certificate(der_or_pem)
        info = cert_info(cert)
        data = cert.dump()
    except Exception:
        raise TransitionRefused("bad_certificate", "Файл не является сертификатом X.509 (DER или PEM).") from None
    if not info.serial:
        raise TransitionRefused("bad_certificate", "В сертификате нет серийного номера.")
    return cert, info, data
