"""SQL for registering signing certificates and for the challenges that prove the registrant holds the key."""

from __future__ import annotations

from typing import Any, Literal, NamedTuple

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
    """The user (other than ``user_id``) who holds this certificate, active or waiting for the admin, if any."""
    row = db.execute(
        "SELECT user_id FROM signer_certificates WHERE issuer = ? AND lower(serial) = ? AND"
        " status IN ('active', 'pending') AND user_id != ?",
        [issuer, serial.lower(), user_id],
    ).fetchone()
    return int(row[0]) if row else None


class Holding(NamedTuple):
    """One user's row for a certificate: its status and the admin's reason, if any."""

    user_id: int
    status: str
    reason: str


def holdings(db: Database, *, issuer: str, serial: str) -> list[Holding]:
    """Every user's row for this certificate, whatever its status (identity checks explain a non-active one)."""
    return [
        Holding(int(r[0]), str(r[1]), str(r[2]))
        for r in db.execute(
            "SELECT user_id, status, reason FROM signer_certificates WHERE issuer = ? AND lower(serial) = ?"
            " ORDER BY id",
            [issuer, serial.lower()],
        ).fetchall()
    ]


def status_of(db: Database, *, user_id: int, issuer: str, serial: str) -> str | None:
    """The status of this user's row for the certificate, or None when they never registered it."""
    row = db.execute(
        "SELECT status FROM signer_certificates WHERE user_id = ? AND issuer = ? AND lower(serial) = ?",
        [user_id, issuer, serial.lower()],
    ).fetchone()
    return str(row[0]) if row else None


def renews(db: Database, *, user_id: int, snils: str) -> bool:
    """Whether this user has a certificate with this СНИЛС that was active (auto or approved), expired or not:
    a new one with the same СНИЛС is its renewal. A refused or revoked one does not count."""
    if not snils:
        return False
    row = db.execute(
        "SELECT 1 FROM signer_certificates WHERE user_id = ? AND snils = ? AND status = 'active' LIMIT 1",
        [user_id, snils],
    ).fetchone()
    return row is not None


def register(
    db: Database,
    *,
    user_id: int,
    info: dict[str, Any],
    der: bytes,
    now: str,
    status: str,
    proof: str,
    why_pending: str,
) -> None:
    """Record the certificate for the user, or redo the decision of their pending row for it (a row an admin has
    settled is not overwritten: :mod:`.registration` refuses those before it gets here)."""
    db.execute(
        "INSERT INTO signer_certificates (user_id, issuer, serial, subject, inn, snils, not_after, der,"
        " registered_by, registered_at, status, proof, why_pending) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        " ON CONFLICT(user_id, issuer, serial) DO UPDATE SET status = excluded.status, proof = excluded.proof,"
        " why_pending = excluded.why_pending WHERE signer_certificates.status = 'pending'",
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
            status,
            proof,
            why_pending,
        ],
    )


def owners(db: Database, *, issuer: str, serial: str) -> list[int]:
    """Every user this certificate is bound to and active for (normally one)."""
    return [
        int(r[0])
        for r in db.execute(
            "SELECT user_id FROM signer_certificates WHERE issuer = ? AND lower(serial) = ? AND status = 'active'",
            [issuer, serial.lower()],
        ).fetchall()
    ]


def registered_count(db: Database, user_id: int) -> int:
    """How many active certificates the user has (pending, refused and revoked ones do not bind them)."""
    return int(
        db.execute(
            "SELECT count(*) FROM signer_certificates WHERE user_id = ? AND status = 'active'", [user_id]
        ).fetchone()[0]
    )


_LISTED = (
    "id, user_id, issuer, serial, subject, inn, snils, not_after, der, registered_at, status, proof, why_pending,"
    " decided_by, decided_at, reason"
)


def _rows(cur: Any) -> list[dict[str, Any]]:
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]


def of_user(db: Database, user_id: int) -> list[dict[str, Any]]:
    """Every certificate the user registered, newest first (with the DER: the page shows what is inside)."""
    return _rows(db.execute(f"SELECT {_LISTED} FROM signer_certificates WHERE user_id = ? ORDER BY id DESC", [user_id]))


def for_admin(db: Database, *, pending_only: bool, limit: int = 500) -> list[dict[str, Any]]:
    """The admin's list: pending ones first (oldest first: they have waited longest), then the rest, newest first."""
    where = "WHERE status = 'pending'" if pending_only else ""
    return _rows(
        db.execute(
            f"SELECT {_LISTED} FROM signer_certificates {where}"
            " ORDER BY status != 'pending', CASE WHEN status = 'pending' THEN id ELSE -id END LIMIT ?",
            [limit],
        )
    )


def one(db: Database, certificate_id: int) -> dict[str, Any] | None:
    rows = _rows(db.execute(f"SELECT {_LISTED} FROM signer_certificates WHERE id = ?", [certificate_id]))
    return rows[0] if rows else None


def decide(db: Database, certificate_id: int, *, status: str, by: int, at: str, reason: str, expected: str) -> bool:
    """Set an admin's decision if the row is still in ``expected`` (a race with another admin loses cleanly).
    A revocation also stamps ``revoked_at``, which older readers of the table still look at."""
    cur = db.execute(
        "UPDATE signer_certificates SET status = ?, decided_by = ?, decided_at = ?, reason = ?,"
        " revoked_at = CASE WHEN ? = 'revoked' THEN ? ELSE revoked_at END WHERE id = ? AND status = ?",
        [status, by, at, reason, status, at, certificate_id, expected],
    )
    return cur.rowcount == 1


def active_expiries(db: Database) -> list[tuple[int, str, str]]:
    """(user id, subject, not_after) of every active certificate that names its expiry (doctor's check)."""
    return [
        (r[0], r[1], r[2])
        for r in db.execute(
            "SELECT user_id, subject, not_after FROM signer_certificates"
            " WHERE status = 'active' AND not_after IS NOT NULL"
        ).fetchall()
    ]
