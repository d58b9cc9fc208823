"""The automation robots at work: «KlikDok: отправить на подпись» and «KlikDok: ждать подписания».

It changes when what a robot does with its properties, or what it answers, changes. Their registration on the
portal (names, properties, return values) is :mod:`server.portal.robots`; the HTTP door the portal posts a call
to is :mod:`server.routes.robots`.

Why the outbox carries the work. The portal posts a call once and waits a short while for the HTTP answer; a
robot's work needs the portal itself (the signers looked up, the card's e-mail), and a call must not be lost
to a restart. So the door only records the call (``robot_calls``, keyed by its EVENT_TOKEN: a repeated POST
changes nothing) and, in the same transaction, an outbox message ``robot.run``; the outbox worker runs it and
retries it after a failure of the portal. Every answer is an outbox message ``robot.answer`` written in the
same transaction as what it reports: the send robot's in the ``send`` transition itself, the wait robot's in
the completing, rejecting, withdrawing or expiring transition (an in-transaction listener), or at once when the
document had already finished. The call's row moves to ``answered`` in that transaction, so an answer is
enqueued once; its delivery (``bizproc.event.send``) may be repeated after a crash, and the portal refuses an
EVENT_TOKEN it has had its answer for (ACCESS_DENIED, the method's page): on a repeated attempt that refusal
means the answer arrived before, so the message is done.

The send robot sends a document that exists in KlikDok: the card's newest draft, or the one its ``document``
property names (generating one from a Bitrix24 template is another part of issue 17; a ``template_id`` is
answered with an error saying so). It sends as the draft's author, through the same steps as the create form's
«Отправить»: the route of signers resolved as the form resolves it (:meth:`.Intake.resolve_signers`), the
counterparty's address from the property, else the draft's, else the card's (:meth:`.Intake.card_email`).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from functools import partial
from typing import Any

from sqlite_utils import Database as SqliteDb

from server.bitrix24 import AccessDenied, Bitrix24Client, Bitrix24Error
from server.bitrix24.entities import CODES, kind_of
from server.config import Settings
from server.db import Database, audit, outbox
from server.db.outbox import OutboxMessage
from server.portal import robots as defs
from server.text import email_address

from . import approval, effects, robot_store, states, store
from .docstate import DocState
from .intake import Intake
from .listeners import TransitionListeners
from .model import DocumentRow
from .permissions import PermissionDenied
from .robot_store import RobotCall
from .states import TransitionRefused

log = logging.getLogger(__name__)

RUN = "robot.run"
ANSWER = "robot.answer"
KINDS = (RUN, ANSWER)
# bizproc's document ids of the cards KlikDok serves: ["crm", "CCrmDocumentDeal", "DEAL_5"].
_BIZPROC_DOCUMENT = re.compile(r"^(DEAL|COMPANY)_(\d+)$")
_USER = re.compile(r"^(?:user_)?(\d+)$")

# Which transition ends a wait, with which outcome.
OUTCOMES = {
    "counterparty_signed": defs.SIGNED,
    "internal_rejected": defs.REJECTED,
    "counterparty_rejected": defs.REJECTED,
    "expire": defs.EXPIRED,
    "withdraw": defs.WITHDRAWN,
}
_FINAL_OUTCOME = {
    DocState.COMPLETED: defs.SIGNED,
    DocState.REJECTED_INTERNAL: defs.REJECTED,
    DocState.REJECTED_COUNTERPARTY: defs.REJECTED,
    DocState.EXPIRED: defs.EXPIRED,
    DocState.WITHDRAWN: defs.WITHDRAWN,
}


class RobotRefused(Exception):
    """A call whose properties cannot be acted on: answered with ``error``, nothing changes."""


def card_of(document_id: Any) -> tuple[str, int] | None:
    """(entity type, id) of a robot call's bizproc document id, or None for a card KlikDok does not serve."""
    parts = [str(p) for p in document_id] if isinstance(document_id, list) else []
    if len(parts) != 3 or parts[0] != "crm":
        return None
    match = _BIZPROC_DOCUMENT.match(parts[2])
    if match is None:
        return None
    entity_type, entity_id = match.group(1).lower(), int(match.group(2))
    return (entity_type, entity_id) if entity_type in CODES and entity_id > 0 else None


def _users(value: Any) -> list[int]:
    """A robot's user property: "user_5", "5", or a list of them; a group or department is refused."""
    raw = value if isinstance(value, list) else [value] if value not in (None, "") else []
    ids: list[int] = []
    for item in raw:
        match = _USER.match(str(item).strip())
        if match is None:
            raise RobotRefused(f"Подписант «{str(item)[:60]}» не сотрудник: укажите сотрудников, не группу или отдел.")
        ids.append(int(match.group(1)))
    return ids


def _number(value: Any, what: str) -> int | None:
    text = str(value if value is not None else "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) <= 0:
        raise RobotRefused(f"{what}: «{text[:40]}» — не номер.")
    return int(text)


def _wait_answer(doc: DocumentRow, outcome: str) -> dict[str, Any]:
    reason = doc.reason if outcome == defs.REJECTED else ""
    return {"outcome": outcome, "reason": reason, "document_id": doc.id, "error": ""}


def answer_call(db: SqliteDb, call: RobotCall, values: dict[str, Any], *, document_id: int | None = None) -> None:
    """Inside the caller's transaction: record the answer and enqueue it, once per call."""
    if robot_store.set_answered(db, call.id, values, store.now_iso(), document_id):
        outbox.enqueue(
            db,
            ANSWER,
            {"call_id": call.id, "event_token": call.event_token, "values": values},
            dedupe_key=f"robot.answer:{call.id}",
        )


def _end_waits(outcome: str) -> Any:
    def listener(db: SqliteDb, doc: DocumentRow) -> None:
        for call in robot_store.waiting_for(db, doc.id):
            answer_call(db, call, _wait_answer(doc, outcome))

    return listener


class Robots:
    def __init__(
        self,
        settings: Settings,
        db: Database,
        *,
        intake: Intake,
        listeners: TransitionListeners,
        wake_outbox: Any,
        portal_client: Any,
    ) -> None:
        self.settings = settings
        self.db = db
        self.intake = intake
        self.listeners = listeners
        self.wake_outbox = wake_outbox
        self.portal_client = portal_client
        for transition, outcome in OUTCOMES.items():
            listeners.on(transition, _end_waits(outcome))

    # -- the door --------------------------------------------------------------------------------------------

    async def accept(
        self,
        *,
        event_token: str,
        code: str,
        card: tuple[str, int],
        user_id: int | None,
        properties: dict[str, Any],
    ) -> bool:
        """Record a call and queue its work; False when this EVENT_TOKEN was accepted before (nothing is done)."""

        def write(d: SqliteDb) -> bool:
            call_id, new = robot_store.insert(
                d,
                event_token=event_token,
                code=code,
                entity_type=card[0],
                entity_id=card[1],
                user_id=user_id,
                properties=properties,
                now=store.now_iso(),
            )
            if new:
                outbox.enqueue(d, RUN, {"call_id": call_id}, dedupe_key=f"robot.run:{call_id}")
                audit.append(
                    d,
                    actor=f"user:{user_id}" if user_id else "portal",
                    action="robot.called",
                    object_type=card[0],
                    object_id=card[1],
                    details={"code": code, "call": call_id},
                )
            return new

        new = await self.db.write(write)
        if new:
            self.wake_outbox()
        return new

    # -- outbox handlers -------------------------------------------------------------------------------------

    async def run(self, messages: Sequence[OutboxMessage]) -> dict[int, str | None]:
        """``robot.run``: do each call's work. A failure of the portal retries the message; a refusal of the
        call's properties is the robot's answer (``error``), and the message is done."""
        outcome: dict[int, str | None] = {}
        for m in messages:
            call_id = int(m.payload["call_id"])
            call = await self.db.read(partial(robot_store.get, call_id=call_id))
            if call is None or call.state != "queued":
                outcome[m.id] = None
                continue
            if call.code == defs.SEND:
                await self._send(call)
            else:
                await self._wait(call)
            outcome[m.id] = None
        return outcome

    async def _refuse(self, call: RobotCall, message: str, values: dict[str, Any]) -> None:
        def write(d: SqliteDb) -> None:
            answer_call(d, call, {**values, "error": message})
            audit.append(
                d,
                actor=f"user:{call.user_id}" if call.user_id else "portal",
                action="robot.refused",
                object_type=call.entity_type,
                object_id=call.entity_id,
                details={"code": call.code, "call": call.id, "error": message},
            )

        await self.db.write(write)
        self.wake_outbox()

    def _link(self, doc: DocumentRow) -> str:
        """The card's page on the portal: the document is in its «ЭДО» tab."""
        return f"{self.settings.portal.portal_origin}{effects.card_link(doc)}"

    async def _send(self, call: RobotCall) -> None:
        props = call.properties
        empty = {"document_id": "", "link": ""}
        try:
            if str(props.get("template_id") or "").strip():
                raise RobotRefused(
                    "Шаблоны документов Битрикс24 пока недоступны роботу: оставьте поле шаблона пустым, "
                    "робот отправит последний черновик документа KlikDok в карточке."
                )
            wanted = _number(props.get("document"), "Номер документа")
            signer_ids = _users(props.get("signers"))
            if not signer_ids:
                raise RobotRefused("Укажите хотя бы одного подписанта от компании.")
            typed = str(props.get("email") or "").strip()
            email = email_address(typed) if typed else None
            if typed and email is None:
                raise RobotRefused(f"«{typed[:80]}» — не адрес электронной почты.")
            doc_id = wanted or await self.db.read(
                lambda d: robot_store.latest_document(d, call.entity_type, call.entity_id, drafts=True)
            )
            doc = await self.db.read(lambda d: store.document_row(d, doc_id)) if doc_id else None
            kind = kind_of(call.entity_type)
            if doc is None or (doc.entity_type, doc.entity_id) != (call.entity_type, call.entity_id):
                raise RobotRefused(
                    f"В карточке {kind.genitive} №{call.entity_id} нет "
                    + (f"документа KlikDok №{wanted}." if wanted else "черновика документа KlikDok.")
                )
            if doc.state != DocState.DRAFT:
                raise RobotRefused(f"Документ KlikDok №{doc.id} уже не черновик ({doc.state.label.lower()}).")
            signers = await self.intake.resolve_signers(signer_ids)
            address = email or doc.counterparty_email or await self.intake.card_email(doc.entity_type, doc.entity_id)
            if not address:
                raise RobotRefused(
                    f"Нет адреса электронной почты контрагента: в карточке {kind.genitive} №{doc.entity_id} его нет, "
                    "укажите e-mail контрагента в настройках робота."
                )
        except (RobotRefused, TransitionRefused, PermissionDenied) as exc:
            await self._refuse(
                call, exc.message if isinstance(exc, TransitionRefused | PermissionDenied) else str(exc), empty
            )
            return
        draft = doc

        def write(d: SqliteDb) -> bool:
            current = store.document_row(d, draft.id)
            if current is None or current.state != DocState.DRAFT:
                return False
            states.set_route(d, draft.id, actor_id=draft.author_id, signers=signers, counterparty_email=address)
            approval.send(  # the author's «Отправить»: to the approvers first when the draft has any
                d,
                draft.id,
                actor_id=draft.author_id,
                counterparty_days=self.settings.workflow.counterparty_days,
                listeners=self.listeners,
            )
            answer_call(
                d, call, {"document_id": draft.id, "link": self._link(draft), "error": ""}, document_id=draft.id
            )
            return True

        try:
            sent = await self.db.write(write)
        except TransitionRefused as exc:
            await self._refuse(call, exc.message, empty)
            return
        if not sent:
            await self._refuse(call, f"Документ KlikDok №{draft.id} уже не черновик.", empty)
            return
        self.listeners.committed()

    async def _wait(self, call: RobotCall) -> None:
        empty = {"outcome": "", "reason": "", "document_id": ""}
        try:
            wanted = _number(call.properties.get("document"), "Номер документа")
        except RobotRefused as exc:
            await self._refuse(call, str(exc), empty)
            return
        kind = kind_of(call.entity_type)

        def write(d: SqliteDb) -> str:
            doc_id = wanted or robot_store.latest_document(d, call.entity_type, call.entity_id, drafts=False)
            doc = store.document_row(d, doc_id) if doc_id else None
            if doc is None or (doc.entity_type, doc.entity_id) != (call.entity_type, call.entity_id):
                return f"В карточке {kind.genitive} №{call.entity_id} нет " + (
                    f"документа KlikDok №{wanted}." if wanted else "отправленного документа KlikDok."
                )
            if doc.state in (DocState.DRAFT, DocState.DELETED):
                return f"Документ KlikDok №{doc.id} не отправлен на подпись."
            finished = _FINAL_OUTCOME.get(doc.state)
            if finished is not None:
                answer_call(d, call, _wait_answer(doc, finished), document_id=doc.id)
            else:
                robot_store.set_waiting(d, call.id, doc.id)
            return ""

        refused = await self.db.write(write)
        if refused:
            await self._refuse(call, refused, empty)
        else:
            self.wake_outbox()

    async def deliver_answers(self, messages: Sequence[OutboxMessage]) -> dict[int, str | None]:
        """``robot.answer``: ``bizproc.event.send``. The portal refuses a token it has answered already: on a
        repeated attempt that is this message's own first delivery, so it is done; on a first attempt the token
        is gone (the automation was stopped or the robot deleted), which no retry changes: logged and done."""
        client: Bitrix24Client | None = await self.portal_client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        outcome: dict[int, str | None] = {}
        for m in messages:
            values = m.payload["values"]
            try:
                await client.call(
                    "bizproc.event.send",
                    {
                        "EVENT_TOKEN": m.payload["event_token"],
                        "RETURN_VALUES": values,
                        "LOG_MESSAGE": _log_message(values),
                    },
                )
            except AccessDenied as exc:
                if m.attempts <= 1:
                    log.warning("robot answer refused by the portal", extra={"call": m.payload["call_id"]})
                    await self.db.write(partial(_answer_refused, call_id=int(m.payload["call_id"]), code=exc.code))
            except Bitrix24Error as exc:  # this one again later; the ones before it in the round are done
                outcome[m.id] = f"{exc.code}: {exc.description}"[:300]
                continue
            outcome[m.id] = None
        return outcome


def _answer_refused(d: SqliteDb, *, call_id: int, code: str) -> None:
    audit.append(
        d,
        actor="portal",
        action="robot.answer_refused",
        object_type="robot_call",
        object_id=call_id,
        details={"error": code},
    )


def _log_message(values: dict[str, Any]) -> str:
    if values.get("error"):
        return f"KlikDok: {values['error']}"
    if values.get("outcome"):
        return f"KlikDok: документ №{values['document_id']} — {defs.OUTCOME_LABELS[values['outcome']].lower()}."
    return f"KlikDok: документ №{values['document_id']} отправлен на подпись."
