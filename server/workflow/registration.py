"""A user registers their own signing certificate: challenge issued, proof of the key checked, the row recorded
active or pending (issue 14), and an admin later approves, refuses or revokes it.

It changes when the registration flow changes (another proof, another approval step, refusals audited
differently). The proof itself, a CMS signature over the challenge made with the certificate's key, is
:mod:`.certificates`'; whether a proven certificate is active at once is :mod:`.certificate_policy`'s rule; the
SQL is :mod:`.certificate_store`'s. The facts the rule needs from the portal (the user's name, the ИНН of the
portal's own company) come through :class:`PortalFacts`, which :class:`.directory.PortalDirectory` is.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, NoReturn, Protocol

from asn1crypto import x509

from cades.asn1 import load_certificate
from cades.certs import CertInfo, cert_info
from server.bitrix24 import Bitrix24Error, User
from server.config import PolicySettings
from server.db import Database, audit

from . import certificate_policy, certificate_store, certificates, effects, store
from .certificate_status import LABELS, CertStatus, Proof
from .directory import PortalMissing
from .permissions import PermissionDenied, Viewer
from .states import TransitionRefused

log = logging.getLogger(__name__)

Decision = Literal["approve", "refuse", "revoke"]
MAX_REASON = 500

# What each admin decision needs the certificate to be in, what it makes it, and how the audit names it.
DECISIONS: dict[str, tuple[tuple[str, ...], CertStatus, str]] = {
    "approve": ((CertStatus.PENDING, CertStatus.REFUSED), CertStatus.ACTIVE, "certificate.approved"),
    "refuse": ((CertStatus.PENDING,), CertStatus.REFUSED, "certificate.refused"),
    "revoke": ((CertStatus.ACTIVE,), CertStatus.REVOKED, "certificate.revoked"),
}


class PortalFacts(Protocol):
    """What the onboarding rule asks the portal: the user's record and the ИНН of the portal's own company."""

    async def user(self, user_id: int) -> User | None: ...

    async def own_company_inns(self) -> frozenset[str]: ...


PORTAL_DOWN = (
    "Портал Битрикс24 не ответил, поэтому ИНН организации и ФИО проверить не удалось: сертификат ждёт одобрения "
    "администратора."
)


class CertificateRegistration:
    def __init__(
        self,
        db: Database,
        *,
        policy: PolicySettings,
        portal: PortalFacts,
        wake_outbox: Callable[[], None] | None = None,
    ) -> None:
        self.db = db
        self.policy = policy
        self.portal = portal
        self.wake_outbox = wake_outbox or (lambda: None)

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
        if state != "ok":
            why = {"used": "уже использован", "expired": "просрочен"}.get(state, "не выдавался вам")
            await self._refuse(
                viewer,
                info,
                "bad_challenge",
                f"Код подтверждения {why}. Запросите новый код, подпишите его этим "
                "сертификатом и повторите регистрацию.",
                f"challenge {state}",
            )
        if not await asyncio.to_thread(certificates.proves_possession, signature, challenge, cert):
            await self._refuse(
                viewer,
                info,
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
        (:mod:`.offer_acceptance`): that signature, verified over the document's bytes on the user's own signing
        step, is the proof. The validity check, the decision and the audit are :meth:`register`'s, the same code.
        """
        _cert, info, data = _loaded(der)
        return await self._bind(viewer, info, data, proof=proof, now=store.now_iso())

    async def _refuse(self, viewer: Viewer, info: CertInfo, code: str, message: str, why: str) -> NoReturn:
        """Audit a refused registration and raise it (PermissionDenied, which the API turns into 403)."""
        details = {
            "serial": info.serial.lower(),
            "issuer": info.issuer,
            "subject": info.subject,
            "code": code,
            "why": why,
        }
        await audit_refusal(self.db, viewer.user_id, details)
        raise PermissionDenied(code, message)

    async def _bind(self, viewer: Viewer, info: CertInfo, data: bytes, *, proof: Proof, now: str) -> dict[str, Any]:
        """The certificate proven to be this user's: checked for its dates, decided (active or pending),
        recorded, audited."""
        problem = certificate_policy.validity_problem(info.not_before, info.not_after, datetime.now(UTC))
        if problem:
            await self._refuse(viewer, info, "expired", problem, "outside its validity period")
        status, why_pending = await self._decide(viewer.user_id, info)
        row = {
            "issuer": info.issuer,
            "serial": info.serial,
            "subject": info.subject,
            "inn": info.identity.get("inn") or info.identity.get("innle") or "",
            "snils": info.identity.get("snils", ""),
            "not_after": info.not_after.isoformat() if info.not_after else None,
        }

        def write(d: Any) -> tuple[CertStatus, str] | str:
            """The status recorded; or, nothing written, "taken" (another user holds it) or the status an admin
            already settled this user's row with."""
            if certificate_store.other_owner(d, issuer=info.issuer, serial=info.serial, user_id=viewer.user_id):
                return "taken"
            before = certificate_store.status_of(d, user_id=viewer.user_id, issuer=info.issuer, serial=info.serial)
            if before in (CertStatus.REFUSED, CertStatus.REVOKED):
                return before
            final, why = (CertStatus.ACTIVE, "") if before == CertStatus.ACTIVE else (status, why_pending)
            certificate_store.register(
                d, user_id=viewer.user_id, info=row, der=data, now=now, status=final, proof=proof, why_pending=why
            )
            audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="certificate.registered",
                object_type="user",
                object_id=viewer.user_id,
                details={
                    "serial": info.serial,
                    "subject": info.subject,
                    "proof": proof,
                    "status": str(final),
                    "why_pending": why,
                },
            )
            return final, why

        outcome = await self.db.write(write)
        if outcome == "taken":
            await self._refuse(
                viewer,
                info,
                "certificate_taken",
                "Этот сертификат уже зарегистрирован за другим сотрудником.",
                "active or pending for another user",
            )
        if isinstance(outcome, str):
            await self._refuse(
                viewer,
                info,
                "certificate_settled",
                f"Этот сертификат {LABELS[outcome].lower()}: привязать его снова нельзя. "
                "Обратитесь к администратору портала.",
                f"already {outcome}",
            )
        final, why = outcome
        if final == CertStatus.ACTIVE:
            message = "Сертификат привязан к вам и действует: им можно подписывать документы."
        else:
            message = f"Сертификат привязан, но ждёт одобрения администратора. {why}"
        return {
            "serial": info.serial.lower(),
            "subject": info.subject,
            "issuer": info.issuer,
            "status": str(final),
            "message": message,
        }

    async def _decide(self, user_id: int, info: CertInfo) -> tuple[CertStatus, str]:
        """The onboarding rule with its facts: renewal (the store), the user and the company's ИНН (the portal,
        skipped for the ИНН when ``[policy] company_inn`` already names the certificate's). A portal that does
        not answer leaves the certificate pending, never refuses the registration."""
        snils = info.identity.get("snils", "")
        renewal = await self.db.read(lambda d: certificate_store.renews(d, user_id=user_id, snils=snils))
        if renewal:
            return CertStatus.ACTIVE, ""
        configured = frozenset(i.strip() for i in self.policy.company_inn if i.strip())
        user: User | None = None
        inns = configured
        problem = ""
        try:
            user = await self.portal.user(user_id)
            if certificate_policy.organisation_inn(info.identity) not in configured:
                inns = configured | await self.portal.own_company_inns()
        except (PortalMissing, Bitrix24Error) as exc:
            log.warning("portal unavailable for the certificate onboarding rule: %s", type(exc).__name__)
            problem = PORTAL_DOWN
        decision = certificate_policy.decide(
            info.identity, user=user, company_inns=inns, renewal=False, portal_problem=problem
        )
        return decision.status, decision.why_pending

    async def decide(self, admin_id: int, certificate_id: int, decision: Decision, reason: str = "") -> dict[str, Any]:
        """An admin approves, refuses (with a reason) or revokes a user's certificate; audited, and the owner is
        told in Bitrix24. A decision the certificate's status does not allow is TransitionRefused."""
        allowed, target, action = DECISIONS[decision]
        reason = " ".join(reason.split())
        if decision == "refuse" and not reason:
            raise TransitionRefused("reason_required", "Укажите причину отказа: сотрудник увидит её в списке.")
        if len(reason) > MAX_REASON:
            raise TransitionRefused("reason_too_long", f"Причина длиннее {MAX_REASON} символов: сократите её.")
        now = store.now_iso()

        def write(d: Any) -> dict[str, Any]:
            row = certificate_store.one(d, certificate_id)
            if row is None:
                raise TransitionRefused("not_found", "Такого сертификата нет.")
            if row["status"] not in allowed:
                raise TransitionRefused(
                    "bad_transition",
                    f"Сертификат {LABELS[row['status']].lower()}: это действие к нему неприменимо.",
                )
            if not certificate_store.decide(
                d, certificate_id, status=target, by=admin_id, at=now, reason=reason, expected=row["status"]
            ):
                raise TransitionRefused("bad_transition", "Сертификат только что изменили: обновите список.")
            audit.append(
                d,
                actor=f"user:{admin_id}",
                action=action,
                object_type="user",
                object_id=row["user_id"],
                details={
                    "certificate_id": certificate_id,
                    "serial": row["serial"],
                    "subject": row["subject"],
                    "code": f"admin_{decision}",
                    "from": row["status"],
                    "status": str(target),
                    "reason": reason,
                },
            )
            effects.notify_user(
                d,
                int(row["user_id"]),
                _decision_text(target, row["subject"], reason),
                key=f"certificate:{certificate_id}:{target}:{now}",
            )
            return {**row, "status": str(target), "reason": reason, "decided_by": admin_id, "decided_at": now}

        result = await self.db.write(write)
        self.wake_outbox()
        return result


def _decision_text(status: CertStatus, subject: str, reason: str) -> str:
    what = {
        CertStatus.ACTIVE: "одобрил ваш сертификат: им можно подписывать документы в KlikDok",
        CertStatus.REFUSED: "отклонил ваш сертификат",
        CertStatus.REVOKED: "отозвал ваш сертификат: подписи им больше не принимаются",
    }[status]
    text = f"Администратор {what} ({subject[:200]})."
    return f"{text} Причина: {reason}" if reason else text


async def audit_refusal(db: Database, user_id: int, details: dict[str, Any]) -> None:
    """The one audit row of a refused binding, whichever way it was tried (a registration, an accepted offer)."""
    await db.write(
        lambda d: audit.append(
            d,
            actor=f"user:{user_id}",
            action="certificate.refused",
            object_type="user",
            object_id=user_id,
            details=details,
        )
    )


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
