"""SQL for ``paper_copies``: the stamped copies and the protocol of a completed document on their way to Disk.

A copy's bytes are kept from the moment it is made until the portal has it, because a PDF made again would carry
another creation time: only the very bytes the portal may already hold let a repeated upload recognise its file
(server.workflow.outbox_worker). Once the Disk id is recorded the bytes are dropped (Disk has them).
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
from sqlite_utils import Database

from .store import now_iso


class MadeCopy(msgspec.Struct, frozen=True, kw_only=True):
    """A copy as it is recorded: what it is, its bytes and their Streebog-256 digest."""

    kind: str  # "stamped" | "protocol"
    file_id: int | None
    name: str
    data: bytes
    streebog256: str


class PendingCopy(msgspec.Struct, frozen=True, kw_only=True):
    """A recorded copy the portal has not confirmed yet."""

    id: int
    name: str
    size: int
    streebog256: str
    data: bytes


def made(db: Database, document_id: int) -> bool:
    """Whether the document's copies were made (and recorded) already."""
    row = db.execute("SELECT 1 FROM paper_copies WHERE document_id = ? LIMIT 1", [document_id]).fetchone()
    return row is not None


def record(db: Database, document_id: int, copies: Sequence[MadeCopy]) -> None:
    """Record the copies once: a second delivery that made them again keeps the first ones (and their bytes)."""
    if made(db, document_id):
        return
    now = now_iso()
    for position, c in enumerate(copies):
        db.execute(
            "INSERT INTO paper_copies (document_id, kind, file_id, position, name, size, streebog256, data,"
            " created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [document_id, c.kind, c.file_id, position, c.name, len(c.data), c.streebog256, c.data, now],
        )


def pending(db: Database, document_id: int) -> list[PendingCopy]:
    """The document's copies without a Disk id yet, in their order."""
    rows = db.execute(
        "SELECT id, name, size, streebog256, data FROM paper_copies"
        " WHERE document_id = ? AND disk_file_id IS NULL ORDER BY position",
        [document_id],
    ).fetchall()
    return [PendingCopy(id=r[0], name=r[1], size=r[2], streebog256=r[3], data=bytes(r[4] or b"")) for r in rows]


def set_on_disk(db: Database, copy_id: int, disk_file_id: int) -> None:
    db.execute("UPDATE paper_copies SET disk_file_id = ?, data = NULL WHERE id = ?", [disk_file_id, copy_id])
