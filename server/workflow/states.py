"""The document state machine: the only code that changes ``documents.state`` and ``route_steps.state``.

The states, their labels and the allowed transitions are in :mod:`.docstate` (its docstring has the diagram).

Every function here runs inside the writer's transaction (``await db.write(fn)``) and writes, together, the new
state, its audit row and its outbox messages, so a transition either happens with all of them or not at all.
Each one re-reads the document first: under BEGIN IMMEDIATE that read is the truth, whatever a caller saw before.
Each one ends by firing the listeners registered for it (:mod:`.listeners`), still inside the transaction.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlite_utils import Database

from server.db import audit, inserted_id

from . import effects
from .docstate import TRANSITIONS, DocState
from .listeners import NO_LISTENERS, TransitionListeners
from .store import document_row, now_iso


class TransitionRefused(Exception):
    """The document is not in a state that allows this (HTTP 409), or the request is malformed (400)."""

    def __init__(self, code: str, message: str, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status


def _doc(db: Database, document_id: int) -> dict[str, Any]:
    doc = document_row(db, document_id)
    if doc is None or doc["state"] == DocState.DELETED:
        raise TransitionRefused("not_found", "Документ не найден.", 404)
    return doc


def _check(doc: dict[str, Any], transition: str) -> DocState:
    allowed, target = TRANSITIONS[transition]
    if doc["state"] not in allowed:
        label = DocState(doc["state"]).label
        raise TransitionRefused("wrong_state", f"Действие недоступно: документ в статусе «{label}».")
    return target


def _set_state(db: Database, doc: dict[str, Any], state: DocState, now: str, **extra: Any) -> None:
    state = DocState(state)  # the database no longer checks the value (migration 0009); this does
    sets = ", ".join(["state = ?", "updated_at = ?", *(f"{k} = ?" for k in extra)])
    db.execute(f"UPDATE documents SET {sets} WHERE id = ?", [state, now, *extra.values(), doc["id"]])
    doc.update(state=state, updated_at=now, **extra)


def _audit(db: Database, actor: str, action: str, doc: dict[str, Any], **details: Any) -> None:
    audit.append(db, actor=actor, action=action, object_type="document", object_id=doc["id"],
                 details={"title": doc["title"], "state": doc["state"], **details})


def _title(doc: dict[str, Any]) -> str:
    return f"«{doc['title']}»"


def search_text(*parts: str) -> str:
    return " ".join(p.lower() for p in parts if p)


# -- draft ------------------------------------------------------------------------------------------------


def create_draft(db: Database, *, title: str, entity_type: str, entity_id: int, company_id: int | None,
                 author_id: int, author_name: str, department_id: int | None, files: list[dict[str, Any]],
                 signers: list[tuple[int, str]], counterparty: dict[str, str], disk_folder_id: int | None) -> int:
    """Insert a draft with its files and route; returns the document id."""
    now = now_iso()
    cur = db.execute(
        "INSERT INTO documents (title, entity_type, entity_id, company_id, author_id, author_name, department_id,"
        " created_at, updated_at, counterparty_name, counterparty_inn, counterparty_ogrn, counterparty_email,"
        " disk_folder_id, search) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [title, entity_type, entity_id, company_id, author_id, author_name, department_id, now, now,
         counterparty.get("name", ""), counterparty.get("inn", ""), counterparty.get("ogrn", ""),
         counterparty.get("email", ""), disk_folder_id,
         search_text(title, author_name, counterparty.get("name", ""), *(f["name"] for f in files))])
    doc_id = inserted_id(cur)
    for position, f in enumerate(files, start=1):
        db.execute("INSERT INTO document_files (document_id, position, name, size, content_type, streebog256,"
                   " streebog512, disk_file_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                   [doc_id, position, f["name"], f["size"], f["content_type"], f["streebog256"], f["streebog512"],
                    f.get("disk_file_id")])
    _write_route(db, doc_id, signers)
    doc = _doc(db, doc_id)
    _audit(db, f"user:{author_id}", "document.created", doc, entity=f"{entity_type}:{entity_id}",
           files=[{"name": f["name"], "size": f["size"], "streebog256": f["streebog256"]} for f in files],
           signers=[uid for uid, _ in signers])
    return doc_id


def _write_route(db: Database, doc_id: int, signers: list[tuple[int, str]]) -> None:
    db.execute("DELETE FROM route_steps WHERE document_id = ?", [doc_id])
    position = 0
    for position, (user_id, name) in enumerate(signers, start=1):
        db.execute("INSERT INTO route_steps (document_id, position, kind, user_id, display_name) VALUES (?, ?, ?, ?, ?)",
                   [doc_id, position, "internal", user_id, name])
    db.execute("INSERT INTO route_steps (document_id, position, kind, display_name) VALUES (?, ?, 'counterparty', ?)",
               [doc_id, position + 1, "Контрагент"])


def set_route(db: Database, document_id: int, *, actor_id: int, signers: list[tuple[int, str]],
              counterparty_email: str | None = None) -> None:
    doc = _doc(db, document_id)
    if doc["state"] != DocState.DRAFT:
        raise TransitionRefused("wrong_state", "Маршрут меняется только у черновика.")
    _write_route(db, document_id, signers)
    if counterparty_email is not None:
        db.execute("UPDATE documents SET counterparty_email = ?, updated_at = ? WHERE id = ?",
                   [counterparty_email, now_iso(), document_id])
    _audit(db, f"user:{actor_id}", "document.route_set", doc, signers=[uid for uid, _ in signers])


# -- transitions ------------------------------------------------------------------------------------------


def send(db: Database, document_id: int, *, actor_id: int, counterparty_days: int,
         listeners: TransitionListeners = NO_LISTENERS) -> None:
    doc = _doc(db, document_id)
    target = _check(doc, "send")
    steps = db.execute("SELECT id, position, user_id, display_name FROM route_steps WHERE document_id = ? AND"
                       " kind = 'internal' ORDER BY position", [document_id]).fetchall()
    if not steps:
        raise TransitionRefused("no_signers", "Выберите хотя бы одного подписанта от компании.", 400)
    if not db.execute("SELECT 1 FROM document_files WHERE document_id = ?", [document_id]).fetchone():
        raise TransitionRefused("no_files", "В документе нет файлов.", 400)
    now = now_iso()
    deadline = (datetime.now(UTC) + timedelta(days=counterparty_days)).isoformat(timespec="seconds")
    first_id, first_pos, first_user, first_name = steps[0]
    db.execute("UPDATE route_steps SET state = 'current' WHERE id = ?", [first_id])
    _set_state(db, doc, target, now, sent_at=now, current_step=first_pos, deadline=deadline)
    _audit(db, f"user:{actor_id}", "document.sent", doc, signer=first_user, deadline=deadline)
    effects.notify(db, first_user, f"Документ {_title(doc)} ждёт вашей подписи (от {doc['author_name']}).",
                   doc=doc, key=f"doc:{document_id}:sign-request:{first_id}")
    effects.timeline(db, doc, f"KlikDok: документ {_title(doc)} отправлен на подпись: {first_name}.",
                     key=f"doc:{document_id}:timeline:sent")
    listeners.fire("send", db, doc)


def signature_recorded(db: Database, doc: dict[str, Any], step: dict[str, Any], *, actor: str,
                       listeners: TransitionListeners = NO_LISTENERS) -> bool:
    """After a signature row is inserted: close the step once every file carries its signature.

    Returns True when the step completed (and the document moved on). When the company's part is complete the
    ``internal_signed`` listeners run here (the counterparty exchange issues the invitation link).
    """
    missing = db.execute("SELECT count(*) FROM document_files f WHERE f.document_id = ? AND NOT EXISTS"
                         " (SELECT 1 FROM signatures s WHERE s.file_id = f.id AND s.step_id = ?)",
                         [doc["id"], step["id"]]).fetchone()[0]
    if missing:
        return False
    now = now_iso()
    db.execute("UPDATE route_steps SET state = 'signed', acted_at = ? WHERE id = ?", [now, step["id"]])
    db.execute("UPDATE jobs SET status = 'done', updated_at = ? WHERE step_id = ? AND status IN ('pending', 'delivered')",
               [now, step["id"]])
    if step["kind"] == "counterparty":
        target = _check(doc, "counterparty_signed")
        _set_state(db, doc, target, now, finished_at=now)
        _audit(db, actor, "document.completed", doc, step=step["position"])
        effects.notify(db, doc["author_id"], f"Контрагент подписал документ {_title(doc)}. Документ подписан обеими "
                       "сторонами.", doc=doc, key=f"doc:{doc['id']}:completed")
        effects.timeline(db, doc, f"KlikDok: контрагент подписал документ {_title(doc)}. Документ подписан обеими "
                         "сторонами.", key=f"doc:{doc['id']}:timeline:completed")
        listeners.fire("counterparty_signed", db, doc)
        return True
    nxt = db.execute("SELECT id, position, kind, user_id, display_name FROM route_steps WHERE document_id = ? AND"
                     " position > ? ORDER BY position LIMIT 1", [doc["id"], step["position"]]).fetchone()
    signer_name = step["display_name"]
    _audit(db, actor, "step.signed", doc, step=step["position"], signer=step["user_id"])
    effects.timeline(db, doc, f"KlikDok: {signer_name} подписал(а) документ {_title(doc)}.",
                     key=f"doc:{doc['id']}:timeline:signed:{step['id']}")
    assert nxt is not None, "a route always ends with the counterparty step"
    next_id, next_pos, next_kind, next_user, next_name = nxt
    db.execute("UPDATE route_steps SET state = 'current' WHERE id = ?", [next_id])
    if next_kind == "internal":
        db.execute("UPDATE documents SET current_step = ?, updated_at = ? WHERE id = ?", [next_pos, now, doc["id"]])
        effects.notify(db, next_user, f"Документ {_title(doc)} ждёт вашей подписи (от {doc['author_name']}).",
                       doc=doc, key=f"doc:{doc['id']}:sign-request:{next_id}")
        return True
    target = _check(doc, "internal_signed")
    _set_state(db, doc, target, now, current_step=next_pos)
    _audit(db, actor, "document.internal_completed", doc)
    effects.notify(db, doc["author_id"], f"Документ {_title(doc)} подписан компанией и ждёт подписи контрагента.",
                   doc=doc, key=f"doc:{doc['id']}:internal-completed")
    effects.timeline(db, doc, f"KlikDok: документ {_title(doc)} подписан компанией, ожидается подпись контрагента.",
                     key=f"doc:{doc['id']}:timeline:internal-completed")
    listeners.fire("internal_signed", db, doc)
    return True


def reject(db: Database, document_id: int, *, step_id: int, actor: str, reason: str,
           listeners: TransitionListeners = NO_LISTENERS) -> None:
    """The current step's signer (internal or the counterparty) declines, with a reason."""
    doc = _doc(db, document_id)
    step = db.execute("SELECT id, position, kind, user_id, display_name, state FROM route_steps WHERE id = ? AND"
                      " document_id = ?", [step_id, document_id]).fetchone()
    if step is None or step[5] != "current":
        raise TransitionRefused("not_current_step", "Этот шаг маршрута сейчас не активен.")
    reason = reason.strip()
    if not reason:
        raise TransitionRefused("reason_required", "Укажите причину отказа.", 400)
    transition = "counterparty_rejected" if step[2] == "counterparty" else "internal_rejected"
    target = _check(doc, transition)
    now = now_iso()
    db.execute("UPDATE route_steps SET state = 'rejected', acted_at = ?, reason = ? WHERE id = ?", [now, reason, step_id])
    db.execute("UPDATE route_steps SET state = 'cancelled' WHERE document_id = ? AND state = 'waiting'", [document_id])
    db.execute("UPDATE jobs SET status = 'cancelled', updated_at = ? WHERE document_id = ? AND status IN"
               " ('pending', 'delivered')", [now, document_id])
    _set_state(db, doc, target, now, finished_at=now, reason=reason)
    who = step[4] or "Контрагент"
    _audit(db, actor, "document.rejected", doc, step=step[1], reason=reason)
    effects.notify(db, doc["author_id"], f"{who} отклонил(а) документ {_title(doc)}. Причина: {reason}", doc=doc,
                   key=f"doc:{document_id}:rejected")
    effects.timeline(db, doc, f"KlikDok: {who} отклонил(а) документ {_title(doc)}. Причина: {reason}",
                     key=f"doc:{document_id}:timeline:rejected")
    listeners.fire(transition, db, doc)


def withdraw(db: Database, document_id: int, *, actor_id: int, reason: str,
             listeners: TransitionListeners = NO_LISTENERS) -> None:
    doc = _doc(db, document_id)
    target = _check(doc, "withdraw")
    now = now_iso()
    current = db.execute("SELECT user_id FROM route_steps WHERE document_id = ? AND state = 'current' AND"
                         " kind = 'internal'", [document_id]).fetchone()
    db.execute("UPDATE route_steps SET state = 'cancelled' WHERE document_id = ? AND state IN ('waiting', 'current')",
               [document_id])
    db.execute("UPDATE jobs SET status = 'cancelled', updated_at = ? WHERE document_id = ? AND status IN"
               " ('pending', 'delivered')", [now, document_id])
    was_sent = doc["state"] != DocState.DRAFT
    _set_state(db, doc, target, now, finished_at=now, reason=reason.strip())
    _audit(db, f"user:{actor_id}", "document.withdrawn", doc, reason=reason.strip())
    if current:
        effects.notify(db, current[0], f"Документ {_title(doc)} отозван автором, подписывать его больше не нужно.",
                       doc=doc, key=f"doc:{document_id}:withdrawn")
    if was_sent:
        effects.timeline(db, doc, f"KlikDok: документ {_title(doc)} отозван." + (f" Причина: {reason.strip()}"
                                                                                if reason.strip() else ""),
                         key=f"doc:{document_id}:timeline:withdrawn")
    listeners.fire("withdraw", db, doc)


def delete(db: Database, document_id: int, *, actor_id: int, listeners: TransitionListeners = NO_LISTENERS) -> None:
    doc = _doc(db, document_id)
    target = _check(doc, "delete")
    _set_state(db, doc, target, now_iso())
    _audit(db, f"user:{actor_id}", "document.deleted", doc)
    listeners.fire("delete", db, doc)


def expire_due(db: Database, now: str | None = None, *, listeners: TransitionListeners = NO_LISTENERS) -> list[int]:
    """Documents whose counterparty deadline has passed become ``expired`` (run periodically)."""
    now = now or now_iso()
    ids = [r[0] for r in db.execute("SELECT id FROM documents WHERE state = ? AND deadline < ?",
                                    [DocState.AWAITING_COUNTERPARTY.value, now]).fetchall()]
    for doc_id in ids:
        doc = _doc(db, doc_id)
        target = _check(doc, "expire")
        db.execute("UPDATE route_steps SET state = 'cancelled' WHERE document_id = ? AND state = 'current'", [doc_id])
        _set_state(db, doc, target, now, finished_at=now)
        _audit(db, "system", "document.expired", doc)
        effects.notify(db, doc["author_id"], f"Срок подписания документа {_title(doc)} контрагентом истёк.", doc=doc,
                       key=f"doc:{doc_id}:expired")
        effects.timeline(db, doc, f"KlikDok: срок подписания документа {_title(doc)} контрагентом истёк.",
                         key=f"doc:{doc_id}:timeline:expired")
        listeners.fire("expire", db, doc)
    return ids


def remind(db: Database, document_id: int, *, actor_id: int, per_day: int) -> int | None:
    """A manual reminder to the current internal signer (not a state change, but audited and rate-limited)."""
    doc = _doc(db, document_id)
    if doc["state"] != DocState.AWAITING_INTERNAL:
        raise TransitionRefused("wrong_state", "Напоминание отправляется, пока документ на подписи в компании.")
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="microseconds")
    sent = db.execute("SELECT count(*) FROM audit_log WHERE object_type = 'document' AND object_id = ? AND"
                      " action = 'document.reminded' AND at > ?", [str(document_id), since]).fetchone()[0]
    if sent >= per_day:
        raise TransitionRefused("too_many_reminders", f"Сегодня уже отправлено напоминаний: {sent}. Попробуйте завтра.",
                                429)
    step = db.execute("SELECT id, user_id FROM route_steps WHERE document_id = ? AND state = 'current'",
                      [document_id]).fetchone()
    _audit(db, f"user:{actor_id}", "document.reminded", doc, signer=step[1], number=sent + 1)
    effects.notify(db, step[1], f"Напоминание: документ {_title(doc)} ждёт вашей подписи.", doc=doc,
                   key=f"doc:{document_id}:remind:{sent + 1}:{now_iso()}")
    return int(step[1])


def add_warning(db: Database, doc: dict[str, Any], warning: str) -> None:
    """A signature accepted despite an identity mismatch (policy "warn"): shown on every view of the document."""
    warnings = json.loads(doc.get("warnings") or "[]")
    warnings.append(warning)
    db.execute("UPDATE documents SET warnings = ? WHERE id = ?", [json.dumps(warnings, ensure_ascii=False), doc["id"]])
    doc["warnings"] = json.dumps(warnings, ensure_ascii=False)
