"""SQL for registering signing certificates and for the challenges that prove the registrant holds the key."""

from __future__ import annotations

from typing import Any, Literal

from sqlite_utils import Database

ChallengeState = Literal["ok", "unknown", "expired", "used"]
PER_USER = 20


def issue_challenge(
    db: Database, *, user_id: int, challenge_hash: str, now: str, expires_at: str, keep_until: str
) -> None:
    """Record a new challenge; spent or expired ones older than ``keep_until`` are forgotten on the way, and a
    user keeps at most :data:`PER_USER` (asking again and again cannot fill the table)."""
    db.execute("DELETE FROM certificate_challenges WHERE expires_at < ?", [keep_until])
    db.execute(
        "DELETE FROM certificate_challenges WHERE user_id = ? AND id NOT IN (SELECT id FROM"
        " certificate_challenges WHERE user_id = ? ORDER BY id DESC LIMIT ?)",
        [user_id, user_id, PER_USER - 1],
    )
    db.execute(
        "INSERT INTO certificate_challenges (user_id, challenge_hash, created_at, expires_at) VALUES (?, ?, ?, ?)",
        [user_id, challenge_hash, now, expires_at],
    )


def spend_challenge(db: Database, *, user_id: int, challenge_hash: str, now: str) -> ChallengeState:
    """Spend the user's challenge (once, whatever happens next). Another user's challenge is "unknown" here
    and stays untouched, so nobody can burn someone else's."""
    row = db.execute(
        "SELECT id, expires_at, used_at FROM certificate_challenges WHERE challenge_hash = ? AND user_id = ?",
        [challenge_hash, user_id],
    ).fetchone()
    if row is None:
        return "unknown"
    if row[2] is not None:
        return "used"
    db.execute("UPDATE certificate_challenges SET used_at = ? WHERE id = ?", [now, row[0]])
    return "expired" if row[1] <= now else "ok"


def other_owner(db: Database, *, issuer: str, serial: str, user_id: int) -> int | None:
    """The user (other than ``user_id``) who holds this certificate, if any."""
    row = db.execute(
        "SELECT user_id FROM signer_certificates WHERE issuer = ? AND lower(serial) = ? AND"
        " revoked_at IS NULL AND user_id != ?",
        [issuer, serial.lower(), user_id],
    ).fetchone()
    return int(row[0]) if row else None


def register(db: Database, *, user_id: int, info: dict[str, Any], der: bytes, now: str) -> None:
    db.execute(
        "INSERT INTO signer_certificates (user_id, issuer, serial, subject, inn, snils, not_after, der,"
        " registered_by, registered_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(user_id, issuer, serial) DO UPDATE SET revoked_at = NULL",
        [
            user_id,
            info["issuer"],
            info["serial"].lower(),
            info["subject"],
            info["inn"],
            info["snils"],
            info["not_after"],
            der,
            user_id,
            now,
        ],
    )


def owners(db: Database, *, issuer: str, serial: str) -> list[int]:
    """Every user this certificate is registered for (normally one)."""
    return [
        int(r[0])
        for r in db.execute(
            "SELECT user_id FROM signer_certificates WHERE issuer = ? AND lower(serial) = ? AND revoked_at IS NULL",
            [issuer, serial],
        ).fetchall()
    ]


def registered_count(db: Database, user_id: int) -> int:
    return int(
        db.execute(
            "SELECT count(*) FROM signer_certificates WHERE user_id = ? AND revoked_at IS NULL", [user_id]
        ).fetchone()[0]
    )


def active_expiries(db: Database) -> list[tuple[int, str, str]]:
    """(user id, subject, not_after) of every registered certificate that names its expiry (doctor's check)."""
    return [
        (r[0], r[1], r[2])
        for r in db.execute(
            "SELECT user_id, subject, not_after FROM signer_certificates"
            " WHERE revoked_at IS NULL AND not_after IS NOT NULL"
        ).fetchall()
    ]
