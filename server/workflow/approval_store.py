"""SQL of согласование and observers (migration 0025): the tables ``document_approval``, ``approval_steps`` and
``document_observers``. Only :mod:`.approval` writes through it; the lists and the visibility rule read it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlite_utils import Database

from .model import ApprovalStep, Person

_STEP_COLUMNS = "id, round, position, user_id, display_name, state, acted_at, comment"
LABELS = {
    "waiting": "ожидает очереди",
    "current": "согласует сейчас",
    "approved": "согласовано",
    "sent_back": "возвращено на доработку",
    "cancelled": "не понадобилось",
}
MODE_LABELS = {"sequential": "по очереди", "parallel": "одновременно"}

# The SQL pieces the visibility rule and the lists use (server.workflow.permissions, store.list_documents).
PARTICIPANT_SQL = (
    "d.id IN (SELECT document_id FROM approval_steps WHERE user_id = ?)"
    " OR d.id IN (SELECT document_id FROM document_observers WHERE user_id = ?)"
)
AWAITING_APPROVAL_SQL = "d.id IN (SELECT document_id FROM approval_steps WHERE user_id = ? AND state = 'current')"
# An approver of any round (or of the plan) or an observer: «Мои документы» lists these as the user's too.
PARTICIPANT_SQL = (
    "d.id IN (SELECT document_id FROM approval_steps WHERE user_id = ?"
    " UNION SELECT document_id FROM document_observers WHERE user_id = ?)"
)


def _step(r: Sequence[Any]) -> ApprovalStep:
    return ApprovalStep(
        id=r[0],
        round=r[1],
        position=r[2],
        user_id=r[3],
        display_name=r[4],
        state=r[5],
        label=LABELS.get(r[5], r[5]),
        acted_at=r[6],
        comment=r[7],
    )


def mode(db: Database, document_id: int) -> tuple[str, int] | None:
    """(mode, round) of a document with approvers; None without."""
    row = db.execute("SELECT mode, round FROM document_approval WHERE document_id = ?", [document_id]).fetchone()
    return (str(row[0]), int(row[1])) if row else None


def set_approvers(db: Database, document_id: int, mode_: str, approvers: Sequence[tuple[int, str]]) -> None:
    """The approvers the next round will have (the current round's rows are the past once it is over). Kept as
    round 0 rows until a round starts; no approvers: the document has no согласование."""
    db.execute("DELETE FROM approval_steps WHERE document_id = ? AND round = 0", [document_id])
    if not approvers:
        # A document that had rounds keeps its row (their history); with no planned approvers it is sent as usual.
        db.execute("DELETE FROM document_approval WHERE document_id = ? AND round = 0", [document_id])
        return
    db.execute(
        "INSERT INTO document_approval (document_id, mode, round) VALUES (?, ?, 0)"
        " ON CONFLICT(document_id) DO UPDATE SET mode = excluded.mode",
        [document_id, mode_],
    )
    for position, (user_id, name) in enumerate(approvers, start=1):
        db.execute(
            "INSERT INTO approval_steps (document_id, round, position, user_id, display_name, state)"
            " VALUES (?, 0, ?, ?, ?, 'waiting')",
            [document_id, position, user_id, name],
        )


def planned(db: Database, document_id: int) -> list[tuple[int, str]]:
    """The approvers of the next round (round 0 rows)."""
    rows = db.execute(
        "SELECT user_id, display_name FROM approval_steps WHERE document_id = ? AND round = 0 ORDER BY position",
        [document_id],
    ).fetchall()
    return [(int(r[0]), str(r[1])) for r in rows]


def start_round(db: Database, document_id: int, parallel: bool) -> tuple[int, list[ApprovalStep]]:
    """A new round: copies of the planned approvers, the first (sequential) or all (parallel) current.
    Returns the round and its current steps."""
    round_ = int(db.execute("SELECT round FROM document_approval WHERE document_id = ?", [document_id]).fetchone()[0])
    round_ += 1
    db.execute("UPDATE document_approval SET round = ? WHERE document_id = ?", [round_, document_id])
    for position, (user_id, name) in enumerate(planned(db, document_id), start=1):
        state = "current" if parallel or position == 1 else "waiting"
        db.execute(
            "INSERT INTO approval_steps (document_id, round, position, user_id, display_name, state)"
            " VALUES (?, ?, ?, ?, ?, ?)",
            [document_id, round_, position, user_id, name, state],
        )
    return round_, [s for s in steps(db, document_id, round_) if s.state == "current"]


def steps(db: Database, document_id: int, round_: int | None = None) -> list[ApprovalStep]:
    """The steps of one round, or of every started round (round 0, the plan, is not a round)."""
    if round_ is None:
        rows = db.execute(
            f"SELECT {_STEP_COLUMNS} FROM approval_steps WHERE document_id = ? AND round > 0 ORDER BY round, position",
            [document_id],
        ).fetchall()
    else:
        rows = db.execute(
            f"SELECT {_STEP_COLUMNS} FROM approval_steps WHERE document_id = ? AND round = ? ORDER BY position",
            [document_id, round_],
        ).fetchall()
    return [_step(r) for r in rows]


def close_step(db: Database, step_id: int, state: str, now: str, comment: str = "") -> None:
    db.execute(
        "UPDATE approval_steps SET state = ?, acted_at = ?, comment = ? WHERE id = ?", [state, now, comment, step_id]
    )


def make_current(db: Database, step_id: int) -> None:
    db.execute("UPDATE approval_steps SET state = 'current' WHERE id = ?", [step_id])


def cancel_open(db: Database, document_id: int) -> None:
    db.execute(
        "UPDATE approval_steps SET state = 'cancelled'"
        " WHERE document_id = ? AND round > 0 AND state IN ('waiting', 'current')",
        [document_id],
    )


def set_observers(db: Database, document_id: int, observers: Sequence[tuple[int, str]]) -> None:
    db.execute("DELETE FROM document_observers WHERE document_id = ?", [document_id])
    for user_id, name in observers:
        db.execute(
            "INSERT INTO document_observers (document_id, user_id, display_name) VALUES (?, ?, ?)",
            [document_id, user_id, name],
        )


def observers(db: Database, document_id: int) -> list[Person]:
    rows = db.execute(
        "SELECT user_id, display_name FROM document_observers WHERE document_id = ? ORDER BY rowid", [document_id]
    ).fetchall()
    return [Person(user_id=int(r[0]), display_name=str(r[1])) for r in rows]


def is_participant(db: Database, document_id: int, user_id: int) -> bool:
    """An approver (of any round, or planned) or an observer of the document."""
    return (
        db.execute(
            "SELECT 1 FROM approval_steps WHERE document_id = ? AND user_id = ?"
            " UNION ALL SELECT 1 FROM document_observers WHERE document_id = ? AND user_id = ? LIMIT 1",
            [document_id, user_id, document_id, user_id],
        ).fetchone()
        is not None
    )


def is_current_approver(db: Database, document_id: int, user_id: int) -> bool:
    return (
        db.execute(
            "SELECT 1 FROM approval_steps WHERE document_id = ? AND user_id = ? AND state = 'current' LIMIT 1",
            [document_id, user_id],
        ).fetchone()
        is not None
    )
