"""SQL for the offers to bind a certificate made when a document signature by an unbound certificate was refused."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

OfferState = Literal["ok", "unknown", "expired", "used"]
PER_USER = 20


@dataclass(frozen=True)
class Offer:
    id: int
    user_id: int
    issuer: str
    serial: str
    subject: str
    der: bytes
    document_id: int
    file_id: int
    step_id: int
    job_id: int | None
    source: str
    cms: bytes
    expires_at: str


@dataclass(frozen=True)
class NewOffer:
    token_hash: str
    user_id: int
    issuer: str
    serial: str
    subject: str
    der: bytes
    document_id: int
    file_id: int
    step_id: int
    job_id: int | None
    source: str
    cms: bytes
    created_at: str
    expires_at: str


def bound_to_anyone(db: Database, *, issuer: str, serial: str) -> bool:
    """Whether any user has a row for this certificate, whatever its status: bound to someone else, waiting for
    an admin, refused or revoked by one. Then there is nothing to offer (binding would be refused, or would go
    round the admin's decision)."""
    row = db.execute(
        "SELECT 1 FROM signer_certificates WHERE issuer = ? AND lower(serial) = ? LIMIT 1", [issuer, serial.lower()]
    ).fetchone()
    return row is not None


def add(db: Database, offer: NewOffer) -> None:
    """Record an offer; expired and used ones are forgotten on the way, and a user keeps at most
    :data:`PER_USER` (refused signatures again and again cannot fill the table with kept CMS)."""
    db.execute("DELETE FROM certificate_offers WHERE expires_at < ? OR used_at IS NOT NULL", [offer.created_at])
    db.execute(
        "DELETE FROM certificate_offers WHERE user_id = ? AND id NOT IN (SELECT id FROM"
        " certificate_offers WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
        [offer.user_id, offer.user_id, PER_USER - 1],
    )
    db.execute(
        "INSERT INTO certificate_offers (token_hash, user_id, issuer, serial, subject, der, document_id, file_id,"
        " step_id, job_id, source, cms, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            offer.token_hash,
            offer.user_id,
            offer.issuer,
            offer.serial.lower(),
            offer.subject,
            offer.der,
            offer.document_id,
            offer.file_id,
            offer.step_id,
            offer.job_id,
            offer.source,
            offer.cms,
            offer.created_at,
            offer.expires_at,
        ],
    )


def take(db: Database, *, token_hash: str, user_id: int, now: str) -> tuple[OfferState, Offer | None]:
    """Spend the user's offer (once, whatever happens next). Another user's token is "unknown" here and stays
    untouched, so nobody can burn or take someone else's offer."""
    row = db.execute(
        "SELECT id, user_id, issuer, serial, subject, der, document_id, file_id, step_id, job_id, source, cms,"
        " expires_at, used_at FROM certificate_offers WHERE token_hash = ? AND user_id = ?",
        [token_hash, user_id],
    ).fetchone()
    if row is None:
        return "unknown", None
    if row[13] is not None:
        return "used", None
    db.execute("UPDATE certificate_offers SET used_at = ? WHERE id = ?", [now, row[0]])
    if row[12] <= now:
        return "expired", None
    return "ok", Offer(*row[:13])
