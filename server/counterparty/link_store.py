"""SQL for the ``counterparty_links`` table (the rules about links are in :mod:`.links`).

Rows come back as plain dicts of every column: the pages, the mail worker and the API read many of them, and a
link row never leaves the server.
"""

from __future__ import annotations

from typing import Any

from sqlite_utils import Database

from server.db import inserted_id


def _row(db: Database, sql: str, params: list[Any]) -> dict[str, Any] | None:
    cur = db.execute(sql, params)
    row = cur.fetchone()
    return dict(zip([c[0] for c in cur.description], row, strict=True)) if row else None


def by_id(db: Database, link_id: int) -> dict[str, Any] | None:
    return _row(db, "SELECT * FROM counterparty_links WHERE id = ?", [link_id])


def by_token_hash(db: Database, token_hash: str) -> dict[str, Any] | None:
    return _row(db, "SELECT * FROM counterparty_links WHERE token_hash = ?", [token_hash])


def alive(db: Database, document_id: int) -> dict[str, Any] | None:
    """The document's link that is not revoked (there is at most one)."""
    return _row(db, "SELECT * FROM counterparty_links WHERE document_id = ? AND revoked_at IS NULL", [document_id])


def latest(db: Database, document_id: int) -> dict[str, Any] | None:
    """The live link, or else the one issued last."""
    return _row(
        db,
        "SELECT * FROM counterparty_links WHERE document_id = ? ORDER BY revoked_at IS NULL DESC, id DESC LIMIT 1",
        [document_id],
    )


def insert(
    db: Database,
    *,
    document_id: int,
    step_id: int | None,
    token_hash: str,
    nonce: str,
    recipient_email: str,
    recipient_name: str,
    created_by: str,
    created_at: str,
    expires_at: str,
) -> int:
    cur = db.execute(
        "INSERT INTO counterparty_links (document_id, step_id, token_hash, nonce, recipient_email, recipient_name,"
        " created_by, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [document_id, step_id, token_hash, nonce, recipient_email, recipient_name, created_by, created_at, expires_at],
    )
    return inserted_id(cur)


def revoke(db: Database, link_id: int, *, reason: str, now: str) -> None:
    db.execute("UPDATE counterparty_links SET revoked_at = ?, revoked_reason = ? WHERE id = ?", [now, reason, link_id])


def mark_opened(db: Database, link_id: int, now: str) -> None:
    db.execute(
        "UPDATE counterparty_links SET first_opened_at = coalesce(first_opened_at, ?), last_opened_at = ?,"
        " opened_count = opened_count + 1 WHERE id = ?",
        [now, now, link_id],
    )


def mark_answered(db: Database, link_id: int, answer: str, now: str) -> None:
    db.execute("UPDATE counterparty_links SET answered_at = ?, answer = ? WHERE id = ?", [now, answer, link_id])


def mark_mail_sent(db: Database, link_id: int, now: str) -> None:
    db.execute(
        "UPDATE counterparty_links SET mail_status = 'sent', mail_error = '', mail_sent_at = ? WHERE id = ?",
        [now, link_id],
    )


def mark_mail_retrying(db: Database, link_id: int, error: str) -> None:
    db.execute(
        "UPDATE counterparty_links SET mail_status = 'retrying', mail_error = ? WHERE id = ?", [error[:500], link_id]
    )


def mark_mail_failed(db: Database, link_id: int, error: str) -> None:
    db.execute(
        "UPDATE counterparty_links SET mail_status = 'failed', mail_error = ? WHERE id = ?", [error[:500], link_id]
    )


# A link was already issued for the document's current counterparty step (a new version has a new step).
_HAS_LINK_FOR_CURRENT_STEP = (
    "EXISTS (SELECT 1 FROM counterparty_links l WHERE l.document_id = d.id AND l.step_id IS"
    " (SELECT s.id FROM route_steps s WHERE s.document_id = d.id AND s.kind = 'counterparty'"
    " ORDER BY s.position DESC LIMIT 1))"
)


def has_link_for_current_step(db: Database, document_id: int) -> bool:
    return bool(
        db.execute(f"SELECT {_HAS_LINK_FOR_CURRENT_STEP} FROM documents d WHERE d.id = ?", [document_id]).fetchone()[0]
    )


def unanswered(db: Database, document_state: str) -> list[tuple[int, int, str, str, str | None]]:
    """(link id, document id, created_at, expires_at, document deadline) of the live, unanswered links of
    documents in ``document_state``."""
    return [
        (r[0], r[1], r[2], r[3], r[4])
        for r in db.execute(
            "SELECT l.id, l.document_id, l.created_at, l.expires_at, d.deadline FROM counterparty_links l"
            " JOIN documents d ON d.id = l.document_id WHERE l.revoked_at IS NULL AND l.answered_at IS NULL"
            " AND d.state = ?",
            [document_state],
        ).fetchall()
    ]


def of_document(db: Database, document_id: int) -> list[dict[str, Any]]:
    cur = db.execute("SELECT * FROM counterparty_links WHERE document_id = ? ORDER BY id DESC", [document_id])
    names = [c[0] for c in cur.description]
    return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
