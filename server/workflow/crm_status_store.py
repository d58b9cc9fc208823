"""SQL for the CRM status field and the automation triggers (issue 17, :mod:`.crm_status`).

Tables: ``crm_status_fields`` and ``crm_status_values`` (the field on each CRM kind and the enumeration item of
each document state, as the portal numbered them at install) and ``crm_trigger_fires`` (one row per document and
trigger event: whether ``crm.automation.trigger.execute`` may still be called for it). Reads ``documents`` and
``outbox`` to find a card's latest document and a card's waiting status message.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

import msgspec
from sqlite_utils import Database

from server.db import outbox


class StatusField(msgspec.Struct, frozen=True):
    entity_type: str
    field_name: str
    items: dict[str, int]  # document state -> enumeration item id


class TriggerFire(msgspec.Struct, frozen=True):
    document_id: int
    event: str
    code: str
    owner_type_id: int
    owner_id: int
    state: str


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="microseconds")


# -- the field ----------------------------------------------------------------------------------------------


def save_field(db: Database, entity_type: str, field_id: int, field_name: str, items: dict[str, int]) -> None:
    """What the portal answered at install: replaces the kind's earlier mapping (a re-install may add items)."""
    db.execute(
        "INSERT INTO crm_status_fields (entity_type, field_id, field_name, updated_at) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(entity_type) DO UPDATE SET field_id = excluded.field_id, field_name = excluded.field_name,"
        " updated_at = excluded.updated_at",
        [entity_type, field_id, field_name, _now()],
    )
    db.execute("DELETE FROM crm_status_values WHERE entity_type = ?", [entity_type])
    for state, item_id in items.items():
        db.execute(
            "INSERT INTO crm_status_values (entity_type, state, item_id) VALUES (?, ?, ?)",
            [entity_type, state, item_id],
        )


def fields(db: Database) -> dict[str, StatusField]:
    """entity_type -> its field, for the kinds whose field exists."""
    found: dict[str, StatusField] = {}
    for entity_type, field_name in db.execute("SELECT entity_type, field_name FROM crm_status_fields").fetchall():
        items = {
            str(state): int(item_id)
            for state, item_id in db.execute(
                "SELECT state, item_id FROM crm_status_values WHERE entity_type = ?", [entity_type]
            ).fetchall()
        }
        found[str(entity_type)] = StatusField(str(entity_type), str(field_name), items)
    return found


def latest_states(db: Database, cards: Iterable[tuple[str, int]], shown: Sequence[str]) -> dict[tuple[str, int], str]:
    """Each card's newest document (by id) among those in a ``shown`` state; a card with none is left out."""
    marks = ",".join("?" * len(shown))
    found: dict[tuple[str, int], str] = {}
    for entity_type, entity_id in dict.fromkeys(cards):
        row = db.execute(
            f"SELECT state FROM documents WHERE entity_type = ? AND entity_id = ? AND state IN ({marks})"
            " ORDER BY id DESC LIMIT 1",
            [entity_type, entity_id, *shown],
        ).fetchone()
        if row is not None:
            found[(entity_type, entity_id)] = str(row[0])
    return found


def status_waiting(db: Database, kind: str, entity_type: str, entity_id: int) -> bool:
    """Whether a status message for this card is enqueued and not yet claimed: it will read the card's state when
    it is delivered, so a second one would only repeat it."""
    row = db.execute(
        "SELECT 1 FROM outbox WHERE kind = ? AND status = 'pending'"
        " AND json_extract(payload, '$.entity_type') = ? AND json_extract(payload, '$.entity_id') = ? LIMIT 1",
        [kind, entity_type, entity_id],
    ).fetchone()
    return row is not None


def enqueue_status(db: Database, kind: str, entity_type: str, entity_id: int) -> None:
    if status_waiting(db, kind, entity_type, entity_id):
        return
    outbox.enqueue(db, kind, {"entity_type": entity_type, "entity_id": entity_id})


def enqueue_all(db: Database, kind: str, entity_type: str, shown: Sequence[str]) -> int:
    """A status message for every card of ``entity_type`` with a document in a ``shown`` state (after install:
    documents made before the field existed, or while the application was removed). Returns how many cards."""
    marks = ",".join("?" * len(shown))
    cards = db.execute(
        f"SELECT DISTINCT entity_id FROM documents WHERE entity_type = ? AND state IN ({marks}) ORDER BY entity_id",
        [entity_type, *shown],
    ).fetchall()
    for (entity_id,) in cards:
        enqueue_status(db, kind, entity_type, int(entity_id))
    return len(cards)


# -- triggers -----------------------------------------------------------------------------------------------


def record_fire(db: Database, *, document_id: int, event: str, code: str, owner_type_id: int, owner_id: int) -> bool:
    """A trigger event of a document, once: False when it was recorded before (the event happens once)."""
    cur = db.execute(
        "INSERT INTO crm_trigger_fires (document_id, event, code, owner_type_id, owner_id, updated_at)"
        " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
        [document_id, event, code, owner_type_id, owner_id, _now()],
    )
    return bool(cur.rowcount)


def claim_fires(db: Database, keys: Iterable[tuple[int, str]]) -> set[tuple[int, str]]:
    """Inside the outbox claim: pending -> sending. Returns the keys this claim may send; a key already
    ``sending`` (claimed before a crash), ``sent`` or ``unknown`` is not sent again."""
    mine: set[tuple[int, str]] = set()
    for document_id, event in keys:
        cur = db.execute(
            "UPDATE crm_trigger_fires SET state = 'sending', updated_at = ?"
            " WHERE document_id = ? AND event = ? AND state = 'pending'",
            [_now(), document_id, event],
        )
        if cur.rowcount:
            mine.add((document_id, event))
    return mine


def fire_state(db: Database, document_id: int, event: str) -> TriggerFire | None:
    row = db.execute(
        "SELECT document_id, event, code, owner_type_id, owner_id, state FROM crm_trigger_fires"
        " WHERE document_id = ? AND event = ?",
        [document_id, event],
    ).fetchone()
    return TriggerFire(int(row[0]), str(row[1]), str(row[2]), int(row[3]), int(row[4]), str(row[5])) if row else None


def settle_fire(db: Database, document_id: int, event: str, state: str, error: str = "") -> None:
    """After the call: ``sent``; ``pending`` again when the portal refused it (it did not run, a retry is safe);
    ``unknown`` when the answer was lost (it may have run: never again)."""
    db.execute(
        "UPDATE crm_trigger_fires SET state = ?, last_error = ?, updated_at = ? WHERE document_id = ? AND event = ?",
        [state, error[:500], _now(), document_id, event],
    )
