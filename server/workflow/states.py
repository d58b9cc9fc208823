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

import msgspec
from sqlite_utils import Database

from server.db import audit

from . import effects, job_store, signature_store, store
from .docstate import TRANSITIONS, DocState
from .listeners import NO_LISTENERS, TransitionListeners
from .model import DocumentRow, RouteStep
from .store import document_row, now_iso


class TransitionRefused(Exception):
    """The document is not in a state that allows this, or the request is malformed; ``code`` says which.

    The HTTP status is the edge's business (``server.routes.errors``).
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _doc(db: Database, document_id: int) -> DocumentRow:
    doc = document_row(db, document_id)
    if doc is None or doc.state == DocState.DELETED:
        raise TransitionRefused("not_found", "Документ не найден.")
    return doc


def _check(doc: DocumentRow, transition: str) -> DocState:
    allowed, target = TRANSITIONS[transition]
    if doc.state not in allowed:
        label = doc.state.label
        raise TransitionRefused("wrong_state", f"Действие недоступно: документ в статусе «{label}».")
    return target


def _set_state(db: Database, doc: DocumentRow, state: DocState, now: str, **extra: Any) -> DocumentRow:
    """Write the new state (and ``extra`` columns); returns the row as it now is."""
    state = DocState(state)  # the database no longer checks the value (migration 0009); this does
    store.update_document(db, doc.id, {"state": state, "updated_at": now, **extra})
    return msgspec.structs.replace(doc, state=state, updated_at=now, **extra)


def _audit(db: Database, actor: str, action: str, doc: DocumentRow, **details: Any) -> None:
    audit.append(
        db,
        actor=actor,
        action=action,
        object_type="document",
        object_id=doc.id,
        details={"title": doc.title, "state": doc.state, **details},
    )


def _title(doc: DocumentRow) -> str:
    return f"«{doc.title}»"


def search_text(*parts: str) -> str:
    return " ".join(p.lower() for p in parts if p)


# -- draft ------------------------------------------------------------------------------------------------


def create_draft(
    db: Database,
    *,
    title: str,
    entity_type: str,
    entity_id: int,
    company_id: int | None,
    author_id: int,
    author_name: str,
    department_id: int | None,
    files: list[dict[str, Any]],
    signers: list[tuple[int, str]],
    counterparty: dict[str, str],
    disk_folder_id: int | None,
    due_at: str | None = None,
    message: str = "",
    contact: tuple[int, str] | None = None,
) -> int:
    """Insert a draft with its files and route; returns the document id. ``due_at`` is the deadline the author
    picked (:mod:`.deadlines`), ``contact`` the CRM contact person (id, name) the invitation goes to."""
    now = now_iso()
    doc_id = store.insert_document(
        db,
        title=title,
        entity_type=entity_type,
        entity_id=entity_id,
        company_id=company_id,
        author_id=author_id,
        author_name=author_name,
        department_id=department_id,
        now=now,
        counterparty_name=counterparty.get("name", ""),
        counterparty_inn=counterparty.get("inn", ""),
        counterparty_ogrn=counterparty.get("ogrn", ""),
        counterparty_email=counterparty.get("email", ""),
        disk_folder_id=disk_folder_id,
        search=search_text(title, author_name, counterparty.get("name", ""), *(f["name"] for f in files)),
        due_at=due_at,
        message=message,
        contact_id=contact[0] if contact else None,
        contact_name=contact[1] if contact else "",
    )
    for position, f in enumerate(files, start=1):
        store.insert_file(
            db,
            document_id=doc_id,
            position=position,
            name=f["name"],
            size=f["size"],
            content_type=f["content_type"],
            streebog256=f["streebog256"],
            streebog512=f["streebog512"],
            disk_file_id=f.get("disk_file_id"),
        )
    _write_route(db, doc_id, signers)
    doc = _doc(db, doc_id)
    _audit(
        db,
        f"user:{author_id}",
        "document.created",
        doc,
        entity=f"{entity_type}:{entity_id}",
        files=[{"name": f["name"], "size": f["size"], "streebog256": f["streebog256"]} for f in files],
        signers=[uid for uid, _ in signers],
    )
    return doc_id


def _write_route(db: Database, doc_id: int, signers: list[tuple[int, str]]) -> None:
    store.replace_route(db, doc_id, signers)


def set_route(
    db: Database,
    document_id: int,
    *,
    actor_id: int,
    signers: list[tuple[int, str]],
    counterparty_email: str | None = None,
) -> None:
    doc = _doc(db, document_id)
    if "route" not in doc.state.info.author_actions:
        raise TransitionRefused("wrong_state", "Маршрут меняется только у черновика или документа на доработке.")
    _write_route(db, document_id, signers)
    if counterparty_email is not None:
        store.update_document(db, document_id, {"counterparty_email": counterparty_email, "updated_at": now_iso()})
    _audit(db, f"user:{actor_id}", "document.route_set", doc, signers=[uid for uid, _ in signers])


# -- transitions ------------------------------------------------------------------------------------------


def send(
    db: Database,
    document_id: int,
    *,
    actor_id: int,
    counterparty_days: int,
    listeners: TransitionListeners = NO_LISTENERS,
) -> None:
    """The author sends the draft (or the returned document) to its signers. A document with approvers goes to
    согласование instead: callers send through :func:`.approval.send`, which picks (issue 17)."""
    doc = _doc(db, document_id)
    check_sendable(db, document_id)
    start_signing(db, doc, "send", actor=f"user:{actor_id}", counterparty_days=counterparty_days, listeners=listeners)


def check_sendable(db: Database, document_id: int) -> None:
    """What a document needs before it is sent (to approvers or to signers): a company signer and a file."""
    if not [s for s in store.route(db, document_id) if s.kind == "internal"]:
        raise TransitionRefused("no_signers", "Выберите хотя бы одного подписанта от компании.")
    if not store.has_files(db, document_id):
        raise TransitionRefused("no_files", "В документе нет файлов.")


def start_signing(
    db: Database,
    doc: DocumentRow,
    transition: str,
    *,
    actor: str,
    counterparty_days: int,
    listeners: TransitionListeners = NO_LISTENERS,
) -> None:
    """The signers' route starts: the first internal signer is current and notified (``send`` by the author, or
    ``approved`` when the last approver approves)."""
    document_id = doc.id
    target = _check(doc, transition)
    steps = [s for s in store.route(db, document_id) if s.kind == "internal"]
    if not steps:
        raise TransitionRefused("no_signers", "Выберите хотя бы одного подписанта от компании.")
    now = now_iso()
    # The day the author picked, unless it has passed while the document sat as a draft: then the default.
    deadline = doc.due_at if doc.due_at and doc.due_at > now else None
    deadline = deadline or (datetime.now(UTC) + timedelta(days=counterparty_days)).isoformat(timespec="seconds")
    first = steps[0]
    first_id, first_pos, first_user, first_name = first.id, first.position, first.user_id, first.display_name
    store.make_step_current(db, first_id)
    doc = _set_state(db, doc, target, now, sent_at=now, current_step=first_pos, deadline=deadline)
    _audit(db, actor, "document.sent", doc, signer=first_user, deadline=deadline)
    effects.notify_signer(
        db,
        first_user,
        f"Документ {_title(doc)} ждёт вашей подписи (от {doc.author_name}).",
        doc=doc,
        key=f"doc:{document_id}:sign-request:{first_id}",
    )
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} отправлен на подпись: {first_name}.",
        key=f"doc:{document_id}:timeline:sent",
    )
    listeners.fire(transition, db, doc)


def signature_recorded(
    db: Database,
    doc: DocumentRow,
    step: RouteStep,
    *,
    actor: str,
    listeners: TransitionListeners = NO_LISTENERS,
) -> bool:
    """After a signature row is inserted: close the step once every file carries its signature.

    Returns True when the step completed (and the document moved on). When the company's part is complete the
    ``internal_signed`` listeners run here (the counterparty exchange issues the invitation link).
    """
    if signature_store.unsigned_files_on_step(db, doc.id, step.id):
        return False
    now = now_iso()
    store.close_step(db, step.id, state="signed", now=now)
    job_store.done_for_step(db, step.id, now)
    if step.kind == "counterparty":
        target = _check(doc, "counterparty_signed")
        doc = _set_state(db, doc, target, now, finished_at=now)
        _audit(db, actor, "document.completed", doc, step=step.position)
        effects.notify(
            db,
            doc.author_id,
            f"Контрагент подписал документ {_title(doc)}. Документ подписан обеими сторонами.",
            doc=doc,
            key=f"doc:{doc.id}:completed",
        )
        effects.timeline(
            db,
            doc,
            f"KlikDok: контрагент подписал документ {_title(doc)}. Документ подписан обеими сторонами.",
            key=f"doc:{doc.id}:timeline:completed",
        )
        listeners.fire("counterparty_signed", db, doc)
        return True
    nxt = store.next_step(db, doc.id, step.position)
    signer_name = step.display_name
    _audit(db, actor, "step.signed", doc, step=step.position, signer=step.user_id)
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} подписан — {signer_name}.",
        key=f"doc:{doc.id}:timeline:signed:{step.id}",
    )
    assert nxt is not None, "a route always ends with the counterparty step"
    next_id, next_pos, next_kind, next_user = nxt.id, nxt.position, nxt.kind, nxt.user_id
    store.make_step_current(db, next_id)
    if next_kind == "internal":
        store.update_document(db, doc.id, {"current_step": next_pos, "updated_at": now})
        effects.notify_signer(
            db,
            next_user,
            f"Документ {_title(doc)} ждёт вашей подписи (от {doc.author_name}).",
            doc=doc,
            key=f"doc:{doc.id}:sign-request:{next_id}",
        )
        return True
    target = _check(doc, "internal_signed")
    doc = _set_state(db, doc, target, now, current_step=next_pos)
    _audit(db, actor, "document.internal_completed", doc)
    effects.notify(
        db,
        doc.author_id,
        f"Документ {_title(doc)} подписан компанией и ждёт подписи контрагента.",
        doc=doc,
        key=f"doc:{doc.id}:internal-completed",
    )
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} подписан компанией, ожидается подпись контрагента.",
        key=f"doc:{doc.id}:timeline:internal-completed",
    )
    listeners.fire("internal_signed", db, doc)
    return True


def reject(
    db: Database,
    document_id: int,
    *,
    step_id: int,
    actor: str,
    reason: str,
    listeners: TransitionListeners = NO_LISTENERS,
) -> None:
    """The current step's signer (internal or the counterparty) declines, with a reason."""
    doc = _doc(db, document_id)
    step = store.step(db, document_id, step_id)
    if step is None or step.state != "current":
        raise TransitionRefused("not_current_step", "Этот шаг маршрута сейчас не активен.")
    reason = reason.strip()
    if not reason:
        raise TransitionRefused("reason_required", "Укажите причину отказа.")
    transition = "counterparty_rejected" if step.kind == "counterparty" else "internal_rejected"
    target = _check(doc, transition)
    now = now_iso()
    store.close_step(db, step_id, state="rejected", now=now, reason=reason)
    store.cancel_steps(db, document_id, ("waiting",))
    job_store.cancel_open_of_document(db, document_id, now)
    doc = _set_state(db, doc, target, now, finished_at=now, reason=reason)
    who = step.display_name or "Контрагент"
    _audit(db, actor, "document.rejected", doc, step=step.position, reason=reason)
    effects.notify(
        db,
        doc.author_id,
        f"Документ {_title(doc)} отклонён — {who}. Причина: {reason}",
        doc=doc,
        key=f"doc:{document_id}:rejected",
    )
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} отклонён — {who}. Причина: {reason}",
        key=f"doc:{document_id}:timeline:rejected",
    )
    listeners.fire(transition, db, doc)


def withdraw(
    db: Database, document_id: int, *, actor_id: int, reason: str, listeners: TransitionListeners = NO_LISTENERS
) -> None:
    doc = _doc(db, document_id)
    target = _check(doc, "withdraw")
    now = now_iso()
    current = store.current_step(db, document_id)
    if current is not None and current.kind != "internal":
        current = None
    store.cancel_steps(db, document_id, ("waiting", "current"))
    job_store.cancel_open_of_document(db, document_id, now)
    was_sent = doc.state != DocState.DRAFT
    doc = _set_state(db, doc, target, now, finished_at=now, reason=reason.strip())
    _audit(db, f"user:{actor_id}", "document.withdrawn", doc, reason=reason.strip())
    if current:
        effects.notify(
            db,
            current.user_id,
            f"Документ {_title(doc)} отозван автором, подписывать его больше не нужно.",
            doc=doc,
            key=f"doc:{document_id}:withdrawn",
        )
    if was_sent:
        effects.timeline(
            db,
            doc,
            f"KlikDok: документ {_title(doc)} отозван." + (f" Причина: {reason.strip()}" if reason.strip() else ""),
            key=f"doc:{document_id}:timeline:withdrawn",
        )
    listeners.fire("withdraw", db, doc)


def delete(db: Database, document_id: int, *, actor_id: int, listeners: TransitionListeners = NO_LISTENERS) -> None:
    doc = _doc(db, document_id)
    target = _check(doc, "delete")
    doc = _set_state(db, doc, target, now_iso())
    _audit(db, f"user:{actor_id}", "document.deleted", doc)
    listeners.fire("delete", db, doc)


def expire_due(db: Database, now: str | None = None, *, listeners: TransitionListeners = NO_LISTENERS) -> list[int]:
    """Documents whose counterparty deadline has passed become ``expired`` (run periodically)."""
    now = now or now_iso()
    ids = store.past_deadline(db, DocState.AWAITING_COUNTERPARTY, now)
    for doc_id in ids:
        doc = _doc(db, doc_id)
        target = _check(doc, "expire")
        store.cancel_steps(db, doc_id, ("current",))
        doc = _set_state(db, doc, target, now, finished_at=now)
        _audit(db, "system", "document.expired", doc)
        effects.notify(
            db,
            doc.author_id,
            f"Срок подписания документа {_title(doc)} контрагентом истёк.",
            doc=doc,
            key=f"doc:{doc_id}:expired",
        )
        effects.timeline(
            db,
            doc,
            f"KlikDok: срок подписания документа {_title(doc)} контрагентом истёк.",
            key=f"doc:{doc_id}:timeline:expired",
        )
        listeners.fire("expire", db, doc)
    return ids


def remind(db: Database, document_id: int, *, actor_id: int, per_day: int) -> int | None:
    """A manual reminder to the current internal signer (not a state change, but audited and rate-limited)."""
    doc = _doc(db, document_id)
    if doc.state != DocState.AWAITING_INTERNAL:
        raise TransitionRefused("wrong_state", "Напоминание отправляется, пока документ на подписи в компании.")
    since = (datetime.now(UTC) - timedelta(days=1)).isoformat(timespec="microseconds")
    sent = audit.count_since(db, object_type="document", object_id=document_id, action="document.reminded", since=since)
    if sent >= per_day:
        raise TransitionRefused("too_many_reminders", f"Сегодня уже отправлено напоминаний: {sent}. Попробуйте завтра.")
    step = store.current_step(db, document_id)
    assert step is not None and step.user_id is not None, "a document awaiting internal signing has a current signer"
    _audit(db, f"user:{actor_id}", "document.reminded", doc, signer=step.user_id, number=sent + 1)
    effects.notify_signer(
        db,
        step.user_id,
        f"Напоминание: документ {_title(doc)} ждёт вашей подписи.",
        doc=doc,
        key=f"doc:{document_id}:remind:{sent + 1}:{now_iso()}",
    )
    return int(step.user_id)


def add_warning(db: Database, doc: DocumentRow, warning: str) -> DocumentRow:
    """A signature accepted despite an identity mismatch (policy "warn"): shown on every view of the document.

    Returns the row with the warning added."""
    warnings = json.loads(doc.warnings or "[]")
    warnings.append(warning)
    stored = json.dumps(warnings, ensure_ascii=False)
    store.update_document(db, doc.id, {"warnings": stored})
    return msgspec.structs.replace(doc, warnings=stored)
