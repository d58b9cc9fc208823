"""SQL for the internal signers' automatic deadline reminders (issue 17, :mod:`.reminders`)."""

from __future__ import annotations

from typing import NamedTuple

from sqlite_utils import Database

from .docstate import DocState


class Waiting(NamedTuple):
    """A document waiting for an internal signature, its deadline and whose turn it is."""

    document_id: int
    deadline: str
    step_id: int
    user_id: int


def waiting_internal(db: Database, document_id: int | None = None) -> list[Waiting]:
    """Every document (or just ``document_id``) waiting for a company signer, with its current internal step."""
    only = " AND d.id = ?" if document_id is not None else ""
    rows = db.execute(
        "SELECT d.id, d.deadline, s.id, s.user_id FROM documents d"
        " JOIN route_steps s ON s.document_id = d.id AND s.state = 'current' AND s.kind = 'internal'"
        f" WHERE d.state = ? AND d.deadline IS NOT NULL AND s.user_id IS NOT NULL{only} ORDER BY d.id",
        [DocState.AWAITING_INTERNAL.value, *([document_id] if document_id is not None else [])],
    ).fetchall()
    return [Waiting(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]
