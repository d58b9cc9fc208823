"""The offer to bind a certificate, made when an internal signature was refused because its certificate is bound
to nobody.

A signer who has not bound their certificate yet signs a document and is refused «сертификат не зарегистрирован».
That signature already shows what a registration challenge would: it verifies over the document's bytes with
the certificate's key and was presented by this user, on their own signing step. So instead of only refusing,
acceptance keeps an offer (one-time token, an hour, this user only, the CMS kept) and the refusal carries it;
accepting it (:mod:`.offer_acceptance`) binds the certificate with proof "signature" and accepts the kept
signature, so the signer does not sign twice.

An uploaded signature's refusal carries the offer (token included) straight to the page. An agent's or CryptoARM's
refusal goes back to the device, which must never hold the token: there the offer is kept without a token anyone
knows, and the page that waits on the job gets its token once, from the job's progress (:func:`hand_out`, for the
job's own user only). No offer is made when the certificate has any row already (someone else's,
or waiting for an admin, refused or revoked by one: binding would be refused or would go round the admin), when
the CMS does not carry the certificate, or when its signing time is older than the document (an old signature of
these same bytes, made by somebody else for another purpose, proves nothing about who holds the key now).
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime, timedelta
from typing import Any

from asn1crypto import x509
from sqlite_utils import Database

from cades.certs import CertInfo, cert_info
from cades.result import SignatureResult

from . import certificate_offer_store, certificates
from .model import DocumentRow
from .store import now_iso

OFFER_TTL = timedelta(hours=1)
CLOCK_SLACK = timedelta(minutes=10)  # the signer's clock may run a little behind the server's


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def describe(info: CertInfo) -> str:
    """The certificate as the refusal names it: owner, organisation, ИНН, СНИЛС, valid until."""
    who = info.identity
    name = who.get("common_name") or " ".join(p for p in (who.get("surname"), who.get("given_name")) if p)
    parts: list[str] = [name or "без имени"] if who else []
    organization = who.get("organization")
    if organization and organization != who.get("common_name"):
        parts.append(organization)
    if who.get("innle") or who.get("inn"):
        parts.append(f"ИНН {who.get('innle') or who.get('inn')}")
    if who.get("snils"):
        parts.append(f"СНИЛС {who['snils']}")
    if info.not_after is not None:
        parts.append(f"действует до {info.not_after.astimezone(UTC):%d.%m.%Y}")
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
    (certificate, expires_at, and the token for an upload only), or None when there is nothing to offer. Runs
    inside a write."""
    if source != "upload" and job_id is None:
        return None  # a device's refusal with no job: no page waits on it
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
    now = datetime.now(UTC)
    expires_at = (now + OFFER_TTL).isoformat(timespec="seconds")
    to_caller = source == "upload"
    token = secrets.token_urlsafe(32)
    certificate_offer_store.add(
        db,
        certificate_offer_store.NewOffer(
            # A job's offer waits for its page with a placeholder no token hashes to (see hand_out).
            token_hash=token_hash(token) if to_caller else certificate_offer_store.unhanded_placeholder(),
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
    offer: dict[str, Any] = {"certificate": describe(info), "expires_at": expires_at}
    if to_caller:
        offer["token"] = token
    return offer


def waiting(db: Database, user_id: int, job_ids: list[int]) -> bool:
    """Whether any of these jobs of this user has an offer no page has got yet (so the poll writes only then)."""
    return bool(certificate_offer_store.unhanded(db, user_id=user_id, job_ids=job_ids, now=now_iso()))


def hand_out(db: Database, *, user_id: int, job_ids: list[int]) -> dict[int, dict[str, Any]]:
    """The offers made for these jobs of this user (agent, CryptoARM) that no page has got yet: each gets its
    token now, once; answers job id -> what the upload's refusal carries (token, certificate, expires_at).
    Runs inside a write; the token is only ever in this answer, the row keeps its hash."""
    handed: dict[int, dict[str, Any]] = {}
    for offer_id, job_id, der, expires_at in certificate_offer_store.unhanded(
        db, user_id=user_id, job_ids=job_ids, now=now_iso()
    ):
        if job_id in handed:
            continue
        try:
            description = describe(cert_info(x509.Certificate.load(der)))
        except Exception:
            description = "сертификат без имени владельца"
        token = secrets.token_urlsafe(32)
        if certificate_offer_store.hand_out(db, offer_id=offer_id, token_hash=token_hash(token)):
            handed[job_id] = {"token": token, "certificate": description, "expires_at": expires_at}
    return handed
