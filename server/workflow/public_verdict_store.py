"""SQL for ``public_verdicts``: the unguessable id a stamped copy's QR code carries, one per document.

A forged id and a missing one take the same path (one lookup on the unique index), so ``/v/<id>`` answers both
in the same time and says nothing about which ids exist.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

from sqlite_utils import Database

from .store import now_iso

# 16 random bytes as 22 URL-safe base64 characters: short enough for a small QR code, 128 bits of guessing.
ID_BYTES: Final = 16
ID_PATTERN: Final = re.compile(r"[A-Za-z0-9_-]{22}")


def id_for(db: Database, document_id: int) -> str:
    """The document's public id, made on first call (inside the writer's transaction)."""
    row = db.execute("SELECT public_id FROM public_verdicts WHERE document_id = ?", [document_id]).fetchone()
    if row is not None:
        return str(row[0])
    public_id = secrets.token_urlsafe(ID_BYTES)
    db.execute(
        "INSERT INTO public_verdicts (document_id, public_id, created_at) VALUES (?, ?, ?)",
        [document_id, public_id, now_iso()],
    )
    return public_id


def existing_id(db: Database, document_id: int) -> str | None:
    """The document's public id if one was made (no write: for readers)."""
    row = db.execute("SELECT public_id FROM public_verdicts WHERE document_id = ?", [document_id]).fetchone()
    return str(row[0]) if row is not None else None


def document_for(db: Database, public_id: str) -> int | None:
    """The document a public id names, or None. A malformed id is looked up like any other, so it costs the same."""
    row = db.execute(
        "SELECT document_id FROM public_verdicts WHERE public_id = ?",
        [public_id if ID_PATTERN.fullmatch(public_id) else ""],
    ).fetchone()
    return int(row[0]) if row is not None else None
