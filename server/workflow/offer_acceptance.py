"""The signer accepts the offer to bind the certificate of their refused signature (:mod:`.certificate_offers`).

The certificate is bound through the registration's own decision and audit (proof "signature"); if that makes it
active and the signing step the signature was made for is still waiting, the kept signature goes through
acceptance again, so the document is signed without the signer signing twice. An agent's or CryptoARM's
signature goes through with its job, which ends ``done`` as any signed job does; if the job was closed meanwhile
(cancelled, failed) the signature is accepted without it and the job is still closed ``done``, audited
(``job.done``), so the page waiting on it shows the document signed. A job of several files keeps an offer per
file; the page gets one of them, and accepting it accepts the others along. A pending certificate (the
organisation or the name needs an admin) is bound but signs nothing until approved.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database as SqliteDatabase

from server.db import Database, audit

from . import certificate_offer_store, certificate_offers, job_store, store
from .certificate_status import CertStatus
from .permissions import Viewer
from .registration import CertificateRegistration, audit_refusal
from .signatures import AcceptedSignature, SignatureDeps, SignatureRefused, SignerClaim, Source, accept_signature
from .states import TransitionRefused

MAX_TOKEN = 100

_REFUSALS: dict[str, tuple[str, str]] = {
    "unknown": ("offer_unknown", "Предложение привязать сертификат не найдено: оно сделано другому сотруднику или "
                "ссылка неверна."),
    "used": ("offer_used", "Это предложение привязать сертификат уже использовано."),
    "expired": ("offer_expired", "Предложение привязать сертификат истекло (оно действует час). Подпишите документ "
                "ещё раз: сервер предложит привязку снова."),
}  # fmt: skip


class OfferAcceptance:
    def __init__(self, db: Database, registration: CertificateRegistration, signatures: SignatureDeps) -> None:
        self.db = db
        self.registration = registration
        self.signatures = signatures

    async def accept(self, viewer: Viewer, token: str) -> tuple[dict[str, Any], AcceptedSignature | None, str]:
        """(the registration's answer, the signature accepted again or None, the Russian message for the page)."""
        now = store.now_iso()
        if 0 < len(token) <= MAX_TOKEN:
            hashed = certificate_offers.token_hash(token)
            state, offer = await self.db.write(
                lambda d: certificate_offer_store.take(d, token_hash=hashed, user_id=viewer.user_id, now=now)
            )
        else:
            state, offer = "unknown", None
        if offer is None:
            code, message = _REFUSALS[state]
            await audit_refusal(self.db, viewer.user_id, {"code": code})
            raise TransitionRefused(code, message)
        bound = await self.registration.register_proven(viewer, offer.der, proof="signature")
        message = str(bound.get("message") or "")
        if bound.get("status") != CertStatus.ACTIVE:
            return bound, None, message
        current = await self.db.read(lambda d: store.current_step(d, offer.document_id))
        if current is None or current.id != offer.step_id:
            return bound, None, f"{message} Документ уже не ждёт этой подписи: подпишите его заново, если нужно."
        source: Source = (
            "agent" if offer.source == "agent" else "cryptoarm" if offer.source == "cryptoarm" else "upload"
        )
        try:
            accepted = await self._accept_again(viewer, offer, source)
        except SignatureRefused as refusal:
            return bound, None, f"{message} Подпись под документом не принята: {refusal.message}"
        # A job's other files, signed in the same result by the same certificate, are accepted along.
        for sibling in await self.db.write(lambda d: certificate_offer_store.take_siblings(d, offer=offer, now=now)):
            try:
                accepted = await self._accept_again(viewer, sibling, source)
            except SignatureRefused as refusal:
                if refusal.code == "already_signed":
                    continue
                return bound, accepted, f"{message} Подпись под другим файлом документа не принята: {refusal.message}"
        if offer.job_id is not None and accepted.step_completed:
            await self.db.write(lambda d: _close_job(d, offer, accepted, viewer.user_id))
        return bound, accepted, f"{message} Подпись под документом принята."

    async def _accept_again(
        self, viewer: Viewer, offer: certificate_offer_store.Offer, source: Source
    ) -> AcceptedSignature:
        claim = SignerClaim("internal", user_id=viewer.user_id)

        async def present(job_id: int | None) -> AcceptedSignature:
            return await accept_signature(
                self.signatures,
                document_id=offer.document_id,
                file_id=offer.file_id,
                cms=offer.cms,
                claim=claim,
                source=source,
                job_id=job_id,
            )

        try:
            return await present(offer.job_id)
        except SignatureRefused as refusal:
            if offer.job_id is None or refusal.code != "job_not_open":
                raise
        # The agent's job was closed meanwhile (cancelled, or the device gave up); the step still waits for
        # this signer, so the signature is theirs to present directly.
        return await present(None)


def _close_job(
    db: SqliteDatabase, offer: certificate_offer_store.Offer, accepted: AcceptedSignature, user_id: int
) -> None:
    """The offer's job, its step signed by the kept signature, ends ``done`` (acceptance already did that for an
    open job)."""
    assert offer.job_id is not None
    if job_store.close_done(db, offer.job_id, user_id=user_id, step_id=accepted.step_id, now=store.now_iso()):
        audit.append(
            db,
            actor=f"user:{user_id}",
            action="job.done",
            object_type="document",
            object_id=offer.document_id,
            details={"job_id": offer.job_id, "signature_id": accepted.signature_id, "via": "certificate_offer"},
        )
