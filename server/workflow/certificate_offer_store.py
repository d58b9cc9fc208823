"""SQL for the offers to bind a certificate made when a document signature by an unbound certificate was refused."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from sqlite_utils import Database

OfferState = Literal["ok", "unknown", "expired", "used"]
PER_USER = 20
UNHANDED = "unhanded:"  # token_hash of a job's offer no page has got yet: no SHA-256 hex starts so


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


def unhanded_placeholder() -> str:
    return UNHANDED + secrets.token_hex(16)


def unhanded(db: Database, *, user_id: int, job_ids: list[int], now: str) -> list[tuple[int, int, bytes, str]]:
    """(offer id, job id, certificate DER, expires_at) of the user's live offers for these jobs that no page has
    got yet, newest first. Offers older than one already handed out for the same job are left out: they are the
    other files of that same result, which accepting the handed one takes along (:func:`take_siblings`)."""
    if not job_ids:
        return []
    marks = ",".join("?" * len(job_ids))
    rows = db.execute(
        "SELECT c.id, c.job_id, c.der, c.expires_at FROM certificate_offers c WHERE c.user_id = ? AND c.job_id IN"
        f" ({marks}) AND substr(c.token_hash, 1, ?) = ? AND c.used_at IS NULL AND c.expires_at > ? AND c.id >"
        " (SELECT coalesce(max(o.id), 0) FROM certificate_offers o WHERE o.user_id = c.user_id AND o.job_id ="
        " c.job_id AND substr(o.token_hash, 1, ?) != ?) ORDER BY c.id DESC",
        [user_id, *job_ids, len(UNHANDED), UNHANDED, now, len(UNHANDED), UNHANDED],
    ).fetchall()
    return [(int(r[0]), int(r[1]), bytes(r[2]), str(r[3])) for r in rows]


def hand_out(db: Database, *, offer_id: int, token_hash: str) -> bool:
    """Give a job's offer its token (its hash): once, so only the first page that asks gets it."""
    return (
        db.execute(
            "UPDATE certificate_offers SET token_hash = ? WHERE id = ? AND substr(token_hash, 1, ?) = ?",
            [token_hash, offer_id, len(UNHANDED), UNHANDED],
        ).rowcount
        == 1
    )


def take_siblings(db: Database, *, offer: Offer, now: str) -> list[Offer]:
    """Spend the live offers kept for the other files of the same job's result (same user, step and certificate)
    and answer them: one acceptance signs the whole job."""
    if offer.job_id is None:
        return []
    rows = db.execute(
        "SELECT id, user_id, issuer, serial, subject, der, document_id, file_id, step_id, job_id, source, cms,"
        " expires_at FROM certificate_offers WHERE user_id = ? AND job_id = ? AND step_id = ? AND issuer = ? AND"
        " serial = ? AND id != ? AND used_at IS NULL AND expires_at > ? ORDER BY id",
        [offer.user_id, offer.job_id, offer.step_id, offer.issuer, offer.serial, offer.id, now],
    ).fetchall()
    siblings: dict[int, Offer] = {}
    for row in rows:
        if row[7] != offer.file_id:
            siblings[row[7]] = Offer(*row)  # the newest per file
    for sibling in siblings.values():
        db.execute("UPDATE certificate_offers SET used_at = ? WHERE id = ?", [now, sibling.id])
    return list(siblings.values())
