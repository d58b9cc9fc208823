"""SQL for single «Создать из шаблона» attempts (``template_attempts``): see :mod:`.templates`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlite_utils import Database

from .store import now_iso


@dataclass(frozen=True)
class Attempt:
    id: int
    floor_id: int
    generated_id: int | None


def open_attempt(db: Database, user_id: int, entity_type: str, entity_id: int, template_id: int) -> Attempt | None:
    """The user's unfinished attempt for this card and template, if a crash or a slow PDF left one."""
    row = db.execute(
        "SELECT id, floor_id, generated_id FROM template_attempts WHERE user_id = ? AND entity_type = ?"
        " AND entity_id = ? AND template_id = ? AND document_id IS NULL",
        [user_id, entity_type, entity_id, template_id],
    ).fetchone()
    return None if row is None else Attempt(int(row[0]), int(row[1]), None if row[2] is None else int(row[2]))


def start(db: Database, user_id: int, entity_type: str, entity_id: int, template_id: int, floor_id: int) -> Attempt:
    cursor = db.execute(
        "INSERT INTO template_attempts (user_id, entity_type, entity_id, template_id, floor_id, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        [user_id, entity_type, entity_id, template_id, floor_id, now_iso()],
    )
    assert cursor.lastrowid is not None
    return Attempt(int(cursor.lastrowid), floor_id, None)


def set_generated(db: Database, attempt_id: int, generated_id: int) -> None:
    db.execute(
        "UPDATE template_attempts SET generated_id = ? WHERE id = ? AND generated_id IS NULL",
        [generated_id, attempt_id],
    )


def record_document(db: Database, attempt_id: int, document_id: int) -> None:
    """Inside the transaction that creates the document (:meth:`.intake.Intake.create`'s ``in_transaction``)."""
    changed = db.execute(
        "UPDATE template_attempts SET document_id = ? WHERE id = ? AND document_id IS NULL", [document_id, attempt_id]
    ).rowcount
    if changed != 1:
        raise RuntimeError(f"template attempt {attempt_id} already has its document")
