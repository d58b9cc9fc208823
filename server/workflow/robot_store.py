"""SQL of the automation robots' calls (table ``robot_calls``, migration 0021): see :mod:`.robots` for what a
call is and why its EVENT_TOKEN is the key."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from sqlite_utils import Database

from .docstate import DocState


class RobotCall(msgspec.Struct, frozen=True, kw_only=True):
    id: int
    event_token: str
    code: str
    entity_type: str
    entity_id: int
    user_id: int | None
    properties: dict[str, Any]
    document_id: int | None
    state: str
    answer: dict[str, Any]


_COLUMNS = "id, event_token, code, entity_type, entity_id, user_id, properties, document_id, state, answer"


def _call(row: Any) -> RobotCall:
    return RobotCall(
        id=row[0],
        event_token=row[1],
        code=row[2],
        entity_type=row[3],
        entity_id=row[4],
        user_id=row[5],
        properties=json.loads(row[6] or "{}"),
        document_id=row[7],
        state=row[8],
        answer=json.loads(row[9] or "{}"),
    )


def insert(
    db: Database,
    *,
    event_token: str,
    code: str,
    entity_type: str,
    entity_id: int,
    user_id: int | None,
    properties: dict[str, Any],
    now: str,
) -> tuple[int, bool]:
    """(call id, whether it is new): a repeated POST of the same EVENT_TOKEN finds the first call's row."""
    cur = db.execute(
        "INSERT INTO robot_calls (event_token, code, entity_type, entity_id, user_id, properties, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(event_token) DO NOTHING",
        [event_token, code, entity_type, entity_id, user_id, json.dumps(properties, ensure_ascii=False), now],
    )
    if cur.rowcount:
        return int(cur.lastrowid or 0), True
    row = db.execute("SELECT id FROM robot_calls WHERE event_token = ?", [event_token]).fetchone()
    return int(row[0]), False


def get(db: Database, call_id: int) -> RobotCall | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM robot_calls WHERE id = ?", [call_id]).fetchone()
    return _call(row) if row else None


def set_waiting(db: Database, call_id: int, document_id: int) -> None:
    db.execute(
        "UPDATE robot_calls SET state = 'waiting', document_id = ? WHERE id = ? AND state = 'queued'",
        [document_id, call_id],
    )


def set_answered(db: Database, call_id: int, answer: dict[str, Any], now: str, document_id: int | None) -> bool:
    """Record the answer once: False when the call was answered already (the caller then enqueues nothing)."""
    cur = db.execute(
        "UPDATE robot_calls SET state = 'answered', answer = ?, answered_at = ?,"
        " document_id = COALESCE(?, document_id) WHERE id = ? AND state != 'answered'",
        [json.dumps(answer, ensure_ascii=False), now, document_id, call_id],
    )
    return bool(cur.rowcount)


def waiting_for(db: Database, document_id: int) -> list[RobotCall]:
    rows = db.execute(
        f"SELECT {_COLUMNS} FROM robot_calls WHERE document_id = ? AND state = 'waiting' ORDER BY id", [document_id]
    ).fetchall()
    return [_call(r) for r in rows]


def latest_document(db: Database, entity_type: str, entity_id: int, *, drafts: bool) -> int | None:
    """The card's newest draft (``drafts``), or its newest document sent for signing (any state past the draft)."""
    if drafts:
        where, params = "state = ?", [DocState.DRAFT.value]
    else:
        where, params = "sent_at IS NOT NULL AND state != ?", [DocState.DELETED.value]
    row = db.execute(
        f"SELECT id FROM documents WHERE entity_type = ? AND entity_id = ? AND {where} ORDER BY id DESC LIMIT 1",
        [entity_type, entity_id, *params],
    ).fetchone()
    return int(row[0]) if row else None
