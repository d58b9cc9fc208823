"""The offer to bind a certificate, made when an internal signature was refused because its certificate is bound
to nobody.

A signer who has not bound their certificate yet signs a document and is refused «сертификат не зарегистрирован».
That signature already shows what a registration challenge would: it verifies over the document's bytes with
the certificate's key and was presented by this user, on their own signing step. So instead of only refusing,
acceptance keeps an offer (one-time token, an hour, this user only, the CMS kept) and the refusal carries it;
accepting it (:mod:`.offer_acceptance`) binds the certificate with proof "signature" and accepts the kept
signature, so the signer does not sign twice.

Offers are made for signatures uploaded from the page only: an agent's or CryptoARM's refusal goes back to the
device, where nobody could accept it. No offer is made when the certificate has any row already (someone else's,
or waiting for an admin, refused or revoked by one: binding would be refused or would go round the admin), when
the CMS does not carry the certificate, or when its signing time is older than the document (an old signature of
these same bytes, made by somebody else for another purpose, proves nothing about who holds the key now).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from cades.certs import cert_info
from cades.result import SignatureResult

from . import certificate_offer_store, certificates
from .model import DocumentRow
from .store import now_iso

OFFER_TTL = timedelta(hours=1)
CLOCK_SLACK = timedelta(minutes=10)  # the signer's clock may run a little behind the server's


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def describe(sig: SignatureResult) -> str:
    """The certificate as the refusal names it: owner, organisation, ИНН, СНИЛС, valid until."""
    s = sig.signer
    parts: list[str] = []
    if s is not None:
        parts.append(s.common_name or " ".join(p for p in (s.surname, s.given_name) if p) or "без имени")
        if s.organization and s.organization != s.common_name:
            parts.append(s.organization)
        if s.innle or s.inn:
            parts.append(f"ИНН {s.innle or s.inn}")
        if s.snils:
            parts.append(f"СНИЛС {s.snils}")
    cert = sig.certificate
    if cert is not None and cert.not_after is not None:
        parts.append(f"действует до {cert.not_after.astimezone(UTC):%d.%m.%Y}")
    return ", ".join(parts) or "сертификат без имени владельца"


def _made_for_this_document(sig: SignatureResult, doc: DocumentRow) -> bool:
    signed = sig.claimed_signing_time or sig.signing_time
    if signed is None:
        return False
    try:
        created = datetime.fromisoformat(doc.created_at)
    except ValueError:
        return False
    if signed.tzinfo is None:
        signed = signed.replace(tzinfo=UTC)
    if created.tzinfo is None:
        created = created.replace(tzinfo=UTC)
    return signed >= created - CLOCK_SLACK


def offer_for(
    db: Database,
    *,
    user_id: int,
    doc: DocumentRow,
    step_id: int,
    file_id: int,
    job_id: int | None,
    source: str,
    cms: bytes,
    sig: SignatureResult,
    max_cms: int,
) -> dict[str, Any] | None:
    """Record an offer to bind the certificate behind a refused signature and answer what the refusal carries
    (token, certificate, expires_at), or None when there is nothing to offer. Runs inside a write."""
    if not _made_for_this_document(sig, doc) or sig.certificate is None:
        return None
    carried = certificates.carried_certificate(cms, max_size=max_cms)
    if carried is None:
        return None
    try:
        info = cert_info(carried)
    except Exception:
        return None
    if (
        not info.serial
        or info.serial.lower() != sig.certificate.serial.lower()
        or info.issuer != sig.certificate.issuer
    ):
        return None
    if certificate_offer_store.bound_to_anyone(db, issuer=info.issuer, serial=info.serial):
        return None
    token = secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    expires_at = (now + OFFER_TTL).isoformat(timespec="seconds")
    description = describe(sig)
    certificate_offer_store.add(
        db,
        certificate_offer_store.NewOffer(
            token_hash=token_hash(token),
            user_id=user_id,
            issuer=info.issuer,
            serial=info.serial,
            subject=info.subject,
            der=carried.dump(),
            document_id=doc.id,
            file_id=file_id,
            step_id=step_id,
            job_id=job_id,
            source=source,
            cms=cms,
            created_at=now_iso(),
            expires_at=expires_at,
        ),
    )
    return {"token": token, "certificate": description, "expires_at": expires_at}
