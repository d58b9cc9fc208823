"""SQL for the ``counterparty_links`` table (the rules about links are in :mod:`.links`).

Rows come back as :class:`LinkRow`, every column: the pages, the mail worker and the API read many of them, and
a link row never leaves the server as it is (the manager's API picks its fields, never the token's parts).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from sqlite_utils import Database

from server.db import inserted_id

MailStatus = Literal["pending", "sent", "retrying", "failed"]


class LinkRow(msgspec.Struct, kw_only=True, frozen=True):
    """One row of ``counterparty_links``. ``answer``: '' | 'signed' | 'rejected'; ``revoked_reason``: '' or why
    (``replaced``, ``resent``, ``withdrawn``, ...)."""

    id: int
    document_id: int
    step_id: int | None
    token_hash: str
    nonce: str
    recipient_email: str
    recipient_name: str
    created_by: str
    created_at: str
    expires_at: str
    revoked_at: str | None
    revoked_reason: str
    first_opened_at: str | None
    last_opened_at: str | None
    opened_count: int
    answered_at: str | None
    answer: str
    mail_status: MailStatus
    mail_error: str
    mail_sent_at: str | None


# Named, not ``*``: a column the table lacks fails here at once (the foundation test compares both with the
# migrated table).
_FIELDS = LinkRow.__struct_fields__
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM counterparty_links"


def _rows(db: Database, where: str, params: list[Any]) -> list[LinkRow]:
    return [LinkRow(**dict(zip(_FIELDS, r, strict=True))) for r in db.execute(f"{_SELECT} {where}", params)]


def _row(db: Database, where: str, params: list[Any]) -> LinkRow | None:
    found = _rows(db, where, params)
    return found[0] if found else None


def by_id(db: Database, link_id: int) -> LinkRow | None:
    return _row(db, "WHERE id = ?", [link_id])


def by_token_hash(db: Database, token_hash: str) -> LinkRow | None:
    return _row(db, "WHERE token_hash = ?", [token_hash])


def alive(db: Database, document_id: int) -> LinkRow | None:
    """The document's link that is not revoked (there is at most one)."""
    return _row(db, "WHERE document_id = ? AND revoked_at IS NULL", [document_id])


def latest(db: Database, document_id: int) -> LinkRow | None:
    """The live link, or else the one issued last."""
    return _row(db, "WHERE document_id = ? ORDER BY revoked_at IS NULL DESC, id DESC LIMIT 1", [document_id])


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


def of_document(db: Database, document_id: int) -> list[LinkRow]:
    return _rows(db, "WHERE document_id = ? ORDER BY id DESC", [document_id])
