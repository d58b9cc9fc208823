"""``/api/v1``: a user's own signing certificates (register with proof, list) and the admin's decisions on them.

Every call carries the page session (``X-KlikDok-Session``). Registration answers ``status`` (active, or pending
when the organisation or the name is not the company's and this user's) and the Russian ``message`` the page
shows. The admin routes are for the portal's administrators on the app page (``session.admin``); a 403 on any
of these routes is audited (``access.denied``), like the workflow's refusals.
"""

from __future__ import annotations

from typing import Literal

import msgspec
from litestar import Controller, Request, get, post

from server.bitrix24 import Bitrix24Error
from server.db import Database
from server.portal.sessions import Session
from server.workflow import certificate_store, certificates, store
from server.workflow.certificate_listing import ListedCertificate, listed
from server.workflow.certificate_status import LABELS
from server.workflow.directory import PortalDirectory, PortalMissing
from server.workflow.permissions import PermissionDenied, Viewer
from server.workflow.registration import CertificateRegistration as RegistrationService
from server.workflow.registration import Decision

from ..errors import ApiProblem
from .documents import audited


class Certificate(msgspec.Struct):
    serial: str
    subject: str
    issuer: str
    status: str = "active"  # server.workflow.certificate_status.CertStatus
    message: str = ""


class CertificateChallenge(msgspec.Struct):
    challenge: str  # sign exactly these bytes (UTF-8), detached, with the certificate's key
    expires_at: str


class CertificateRegistration(msgspec.Struct):
    challenge: str
    signature: str  # detached CMS over the challenge: base64 of the DER, or PEM
    certificate: str = ""  # PEM, or base64 of the DER; may be left out when the signature carries it
    proof: Literal["challenge", "sig"] = "challenge"  # "sig": a .sig file uploaded on the page


class DecisionBody(msgspec.Struct):
    reason: str = ""


class Decided(msgspec.Struct, kw_only=True):
    id: int
    status: str
    status_label: str
    reason: str


def _admin(session: Session) -> None:
    if not session.admin:
        raise PermissionDenied(
            "not_admin",
            "Решать о сертификатах сотрудников может только администратор портала Битрикс24 "
            "(раздел «Администрирование» в приложении).",
        )


ADMIN_AUDIT = {"object_type": "certificate", "object": "certificate_id"}


class CertificatesController(Controller):
    path = "/api/v1"
    tags = ["certificates"]

    @post(
        "/me/certificates/challenge",
        operation_id="certificate_challenge",
        status_code=200,
        summary="A one-time code to sign with the certificate being registered (valid 10 minutes)",
    )
    async def certificate_challenge(self, viewer: Viewer, registration: RegistrationService) -> CertificateChallenge:
        challenge = await registration.challenge(viewer)
        return CertificateChallenge(challenge=challenge.text, expires_at=challenge.expires_at)

    @post(
        "/me/certificates",
        operation_id="register_certificate",
        status_code=201,
        request_max_body_size=256 * 1024,
        summary="Register the session user's signing certificate with proof of its key (JSON: certificate, "
        "challenge, signature = detached CMS over the challenge, base64 or PEM; certificate may be left out "
        "when the signature carries it); status active or pending",
        opt=audited("register_certificate"),
    )
    async def register_certificate(
        self, request: Request, viewer: Viewer, registration: RegistrationService
    ) -> Certificate:
        try:
            data = msgspec.json.decode(await request.body(), type=CertificateRegistration)
            certificate = certificates.decode_certificate(data.certificate) if data.certificate.strip() else b""
            signature = certificates.decode_signature(data.signature)
        except (msgspec.DecodeError, ValueError):
            raise ApiProblem(
                400,
                "proof_required",
                "Для регистрации сертификата нужны код подтверждения (POST "
                "/api/v1/me/certificates/challenge) и отсоединённая подпись этого кода, сделанная ключом "
                "регистрируемого сертификата, и сам сертификат, если подпись его не содержит (JSON: "
                "challenge, signature, certificate; base64 или PEM).",
            ) from None
        info = await registration.register(
            viewer, certificate, challenge=data.challenge, signature=signature, proof=data.proof
        )
        return Certificate(**info)

    @get("/me/certificates", operation_id="my_certificates", summary="The session user's certificates, newest first")
    async def my_certificates(self, session: Session, db: Database) -> list[ListedCertificate]:
        rows = await db.read(lambda d: certificate_store.of_user(d, session.user_id))
        now = store.now_iso()
        return [listed(r, now) for r in rows]

    @get(
        "/admin/certificates",
        operation_id="admin_certificates",
        summary="Every employee's certificates for the portal admin: pending first (status=pending: only those)",
        opt=audited("admin_certificates"),
    )
    async def admin_certificates(
        self, session: Session, db: Database, directory: PortalDirectory, status: Literal["pending", "all"] = "all"
    ) -> list[ListedCertificate]:
        _admin(session)
        rows = await db.read(lambda d: certificate_store.for_admin(d, pending_only=status == "pending"))
        try:
            users = await directory.users({int(r["user_id"]) for r in rows})
            names = {uid: u.full_name for uid, u in users.items()}
        except (PortalMissing, Bitrix24Error):
            names = {}
        now = store.now_iso()
        return [listed(r, now, names.get(int(r["user_id"]), f"Пользователь {r['user_id']}")) for r in rows]

    async def _decide(
        self,
        session: Session,
        registration: RegistrationService,
        certificate_id: int,
        decision: Decision,
        request: Request | None = None,
    ) -> Decided:
        _admin(session)
        reason = ""
        body = await request.body() if request is not None else b""
        if body.strip():
            try:
                reason = msgspec.json.decode(body, type=DecisionBody).reason
            except msgspec.DecodeError:
                raise ApiProblem(400, "bad_request", "Тело запроса: JSON с полем reason (причина).") from None
        row = await registration.decide(session.user_id, certificate_id, decision, reason)
        return Decided(
            id=certificate_id, status=row["status"], status_label=LABELS[row["status"]], reason=row["reason"]
        )

    @post(
        "/admin/certificates/{certificate_id:int}/approve",
        operation_id="admin_certificate_approve",
        status_code=200,
        request_max_body_size=16 * 1024,
        summary="Approve a pending (or refused) certificate: signatures by it are accepted from now on",
        opt=audited("certificate_approve", **ADMIN_AUDIT),
    )
    async def approve(self, session: Session, registration: RegistrationService, certificate_id: int) -> Decided:
        return await self._decide(session, registration, certificate_id, "approve")

    @post(
        "/admin/certificates/{certificate_id:int}/refuse",
        operation_id="admin_certificate_refuse",
        status_code=200,
        request_max_body_size=16 * 1024,
        summary="Refuse a pending certificate (JSON: reason, required; the employee sees it)",
        opt=audited("certificate_refuse", **ADMIN_AUDIT),
    )
    async def refuse(
        self, session: Session, registration: RegistrationService, certificate_id: int, request: Request
    ) -> Decided:
        return await self._decide(session, registration, certificate_id, "refuse", request)

    @post(
        "/admin/certificates/{certificate_id:int}/revoke",
        operation_id="admin_certificate_revoke",
        status_code=200,
        request_max_body_size=16 * 1024,
        summary="Revoke an active certificate (JSON: reason, optional): signatures by it are refused from now on",
        opt=audited("certificate_revoke", **ADMIN_AUDIT),
    )
    async def revoke(
        self, session: Session, registration: RegistrationService, certificate_id: int, request: Request
    ) -> Decided:
        return await self._decide(session, registration, certificate_id, "revoke", request)
