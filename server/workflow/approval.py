"""Согласование before signing, and observers («копия») (issue 17).

Why a step of its own before the route: a contract is read by a lawyer or a head before anyone signs it with a
qualified signature, and what they say goes back to the author inside the portal, not by mail. Approvers act
without a signature: «Согласовать» or «Вернуть на доработку» with a comment. In ``sequential`` order they act
one after another, in ``parallel`` all at once; the signers' route (:func:`.states.start_signing`) starts after
the last approval. A return ends the round: the document is ``returned`` to its author, who may change the route
(and the approvers) and send it again, which starts a new round with every approver again.

Observers act on nothing: they are told when the document is signed by both sides or rejected, and they may read
it (the visibility rule in :mod:`.permissions` counts them as participants).

Every function runs inside the writer's transaction like :mod:`.states`: the state, the approval rows, the audit
row, the notifications and the timeline comment commit together or not at all.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlite_utils import Database

from server import crashpoints

from . import approval_store, effects
from .docstate import DocState
from .listeners import NO_LISTENERS, TransitionListeners
from .model import ApprovalInfo, DocumentRow
from .permissions import PermissionDenied
from .states import (
    TransitionRefused,
    _audit,
    _check,
    _doc,
    _set_state,
    _title,
    check_sendable,
    start_signing,
)
from .states import send as send_to_signers
from .store import now_iso

MODES = ("sequential", "parallel")


def has_approvers(db: Database, document_id: int) -> bool:
    return bool(approval_store.planned(db, document_id))


def planned(db: Database, document_id: int) -> list[tuple[int, str]]:
    return approval_store.planned(db, document_id)


def configure(
    db: Database,
    document_id: int,
    *,
    actor_id: int,
    mode: str,
    approvers: Sequence[tuple[int, str]],
    observers: Sequence[tuple[int, str]],
) -> None:
    """Who approves (in which order) and who observes, from the create form or a changed route (draft or
    returned). The author can be neither: they are the one being approved."""
    if mode not in MODES:
        raise TransitionRefused("bad_request", "Порядок согласования: «по очереди» или «одновременно».")
    doc = _doc(db, document_id)
    if "route" not in doc.state.info.author_actions:
        raise TransitionRefused("wrong_state", "Согласующие меняются только у черновика или документа на доработке.")
    if any(uid == doc.author_id for uid, _ in approvers):
        raise TransitionRefused("bad_request", "Автор не согласует свой документ: уберите себя из согласующих.")
    before = (approval_store.mode(db, document_id), approval_store.planned(db, document_id))
    before_observers = [(p.user_id, p.display_name) for p in approval_store.observers(db, document_id)]
    approval_store.set_approvers(db, document_id, mode, list(approvers))
    approval_store.set_observers(db, document_id, list(observers))
    after = (approval_store.mode(db, document_id), approval_store.planned(db, document_id))
    if before == after and before_observers == list(observers):
        return
    _audit(
        db,
        f"user:{actor_id}",
        "document.approval_set",
        doc,
        approvers=[uid for uid, _ in approvers],
        approval=mode if approvers else "",
        observers=[uid for uid, _ in observers],
    )


def carry_over(db: Database, *, from_document: int, to_document: int) -> None:
    """A new version gets the old one's approvers (order and mode) and observers: the author asked for the same
    route again, and a contract that needed a lawyer's «Согласовать» needs it for its corrected text too."""
    found = approval_store.mode(db, from_document)
    planned_ = approval_store.planned(db, from_document)
    if found is not None and planned_:
        approval_store.set_approvers(db, to_document, found[0], planned_)
    watchers = [(p.user_id, p.display_name) for p in approval_store.observers(db, from_document)]
    if watchers:
        approval_store.set_observers(db, to_document, watchers)


def send(
    db: Database,
    document_id: int,
    *,
    actor_id: int,
    counterparty_days: int,
    listeners: TransitionListeners = NO_LISTENERS,
) -> None:
    """The author's «Отправить» (a draft or a returned document): to the approvers when it has any, else straight
    to the signers as before согласование existed."""
    if not has_approvers(db, document_id):
        send_to_signers(db, document_id, actor_id=actor_id, counterparty_days=counterparty_days, listeners=listeners)
        return
    doc = _doc(db, document_id)
    check_sendable(db, document_id)
    submit(db, doc, actor_id=actor_id, listeners=listeners)


def submit(db: Database, doc: DocumentRow, *, actor_id: int, listeners: TransitionListeners = NO_LISTENERS) -> None:
    """The author sends a document with approvers: a new round starts and its current approvers are told."""
    target = _check(doc, "submit_for_approval")
    found = approval_store.mode(db, doc.id)
    assert found is not None, "has_approvers was checked"
    parallel = found[0] == "parallel"
    round_, current = approval_store.start_round(db, doc.id, parallel)
    now = now_iso()
    doc = _set_state(db, doc, target, now)
    names = ", ".join(s.display_name for s in approval_store.steps(db, doc.id, round_))
    _audit(
        db,
        f"user:{actor_id}",
        "document.approval_requested",
        doc,
        round=round_,
        approval=found[0],
        approvers=[s.user_id for s in approval_store.steps(db, doc.id, round_)],
    )
    for step in current:
        _ask(db, doc, step.id, step.user_id)
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} отправлен на согласование ({approval_store.MODE_LABELS[found[0]]}): {names}.",
        key=f"doc:{doc.id}:timeline:approval:{round_}",
    )
    listeners.fire("submit_for_approval", db, doc)


def _ask(db: Database, doc: DocumentRow, step_id: int, user_id: int) -> None:
    # The link opens the approver's queue («На подпись» has the «На согласование» section), like a signer's.
    effects.notify_signer(
        db,
        user_id,
        f"Документ {_title(doc)} ждёт вашего согласования (от {doc.author_name}).",
        doc=doc,
        key=f"doc:{doc.id}:approval-request:{step_id}",
    )


def _my_step(db: Database, doc: DocumentRow, user_id: int) -> int:
    """The id of ``user_id``'s current approval step; refused for someone who is not a current approver."""
    if doc.state != DocState.APPROVAL:
        raise TransitionRefused("wrong_state", f"Документ не на согласовании: он в статусе «{doc.state.label}».")
    found = approval_store.mode(db, doc.id)
    round_ = found[1] if found else 0
    mine = [s for s in approval_store.steps(db, doc.id, round_) if s.user_id == user_id]
    current = next((s for s in mine if s.state == "current"), None)
    if current is not None:
        return current.id
    if any(s.state == "approved" for s in mine):
        raise TransitionRefused("already_approved", "Вы уже согласовали этот документ.")
    if mine:
        raise PermissionDenied("not_current_approver", "Ваша очередь согласовать документ ещё не пришла.")
    raise PermissionDenied("not_approver", "Вы не согласующий этого документа.")


def approve(
    db: Database,
    document_id: int,
    *,
    user_id: int,
    counterparty_days: int,
    listeners: TransitionListeners = NO_LISTENERS,
) -> bool:
    """``user_id`` approves. Returns True when that was the last approval and the signers' route started."""
    doc = _doc(db, document_id)
    step_id = _my_step(db, doc, user_id)
    found = approval_store.mode(db, document_id)
    assert found is not None
    mode, round_ = found
    now = now_iso()
    approval_store.close_step(db, step_id, "approved", now)
    steps = approval_store.steps(db, document_id, round_)
    me = next(s for s in steps if s.id == step_id)
    _audit(db, f"user:{user_id}", "document.approved", doc, round=round_, approver=user_id)
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} согласован — {me.display_name}.",
        key=f"doc:{document_id}:timeline:approved:{step_id}",
    )
    if any(s.state == "current" for s in steps):
        return False  # parallel: others still to approve
    waiting = [s for s in steps if s.state == "waiting"]
    if waiting:  # sequential: the next approver's turn
        approval_store.make_current(db, waiting[0].id)
        _ask(db, doc, waiting[0].id, waiting[0].user_id)
        return False
    _audit(db, "system", "document.approval_completed", doc, round=round_, approval=mode)
    effects.notify(
        db,
        doc.author_id,
        f"Документ {_title(doc)} согласован и отправлен на подпись.",
        doc=doc,
        key=f"doc:{document_id}:approval-completed:{round_}",
    )
    start_signing(
        db, doc, "approved", actor=f"user:{user_id}", counterparty_days=counterparty_days, listeners=listeners
    )
    # Still inside the transaction: a crash here must leave no trace of the approval (tests/workflow/test_approval).
    crashpoints.reached("approval.last_approved")
    return True


def send_back(
    db: Database, document_id: int, *, user_id: int, comment: str, listeners: TransitionListeners = NO_LISTENERS
) -> None:
    """``user_id`` returns the document to its author with ``comment``: the round ends, the other approvers'
    open steps are cancelled."""
    doc = _doc(db, document_id)
    step_id = _my_step(db, doc, user_id)
    comment = comment.strip()
    if not comment:
        raise TransitionRefused("reason_required", "Напишите, что нужно исправить в документе.")
    target = _check(doc, "return")
    found = approval_store.mode(db, document_id)
    round_ = found[1] if found else 0
    now = now_iso()
    approval_store.close_step(db, step_id, "sent_back", now, comment)
    approval_store.cancel_open(db, document_id)
    who = next(s.display_name for s in approval_store.steps(db, document_id, round_) if s.id == step_id)
    # The comment stays with the approver's step (the panel shows it as the reason it came back); the document's
    # own ``reason`` is a rejection's or a withdrawal's.
    doc = _set_state(db, doc, target, now)
    _audit(db, f"user:{user_id}", "document.returned", doc, round=round_, approver=user_id, comment=comment)
    effects.notify(
        db,
        doc.author_id,
        f"Документ {_title(doc)} возвращён на доработку — {who}. Комментарий: {comment}",
        doc=doc,
        key=f"doc:{document_id}:returned:{round_}",
    )
    effects.timeline(
        db,
        doc,
        f"KlikDok: документ {_title(doc)} возвращён на доработку — {who}. Комментарий: {comment}",
        key=f"doc:{document_id}:timeline:returned:{round_}",
    )
    listeners.fire("return", db, doc)


# -- listeners of other transitions (registered in server/app.py) ------------------------------------------


def cancel_on_withdraw(db: Database, doc: DocumentRow) -> None:
    """A withdrawn document needs no more approvals: open approval steps are closed with it."""
    approval_store.cancel_open(db, doc.id)


def tell_observers_completed(db: Database, doc: DocumentRow) -> None:
    _tell_observers(db, doc, f"Документ {_title(doc)} подписан обеими сторонами.", "completed")


def tell_observers_rejected(db: Database, doc: DocumentRow) -> None:
    reason = f" Причина: {doc.reason}" if doc.reason else ""
    _tell_observers(db, doc, f"Документ {_title(doc)} отклонён.{reason}", "rejected")


def _tell_observers(db: Database, doc: DocumentRow, message: str, what: str) -> None:
    for person in approval_store.observers(db, doc.id):
        if person.user_id == doc.author_id:
            continue  # the author is told by the transition itself
        effects.notify(db, person.user_id, message, doc=doc, key=f"doc:{doc.id}:observer:{what}:{person.user_id}")


def register(listeners: TransitionListeners) -> None:
    listeners.on("withdraw", cancel_on_withdraw)
    listeners.on("counterparty_signed", tell_observers_completed)
    listeners.on("internal_rejected", tell_observers_rejected)
    listeners.on("counterparty_rejected", tell_observers_rejected)


# -- reading ---------------------------------------------------------------------------------------------


def info(db: Database, doc: DocumentRow) -> ApprovalInfo | None:
    """The panel's view of согласование and observers; None when the document has neither."""
    found = approval_store.mode(db, doc.id)
    observers = approval_store.observers(db, doc.id)
    if found is None and not observers:
        return None
    mode, round_ = found if found else ("", 0)
    steps = approval_store.steps(db, doc.id)
    if "route" in doc.state.info.author_actions:
        # With the author (a draft, a returned document): who will approve when it is sent (round 0, the plan).
        steps += approval_store.steps(db, doc.id, 0)
    sent_back = next((s for s in reversed(steps) if s.state == "sent_back"), None)
    returned = doc.state == DocState.RETURNED and sent_back is not None
    return ApprovalInfo(
        mode=mode,
        mode_label=approval_store.MODE_LABELS.get(mode, ""),
        round=round_,
        steps=steps,
        observers=observers,
        returned_comment=sent_back.comment if returned and sent_back else "",
        returned_by=sent_back.display_name if returned and sent_back else "",
    )


def is_participant(db: Database, document_id: int, user_id: int) -> bool:
    return approval_store.is_participant(db, document_id, user_id)


def current_approver(db: Database, document_id: int, user_id: int) -> bool:
    return approval_store.is_current_approver(db, document_id, user_id)
