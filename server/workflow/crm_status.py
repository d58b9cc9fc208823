"""The CRM sees KlikDok: the «Статус ЭДО (KlikDok)» list field on the cards and the automation triggers.

Why a user field: managers work in deal lists, filters and the kanban, not in the «ЭДО» tab. A list-type
(enumeration) user field on each CRM kind of the entity registry shows the state of the card's latest document
there, and can be filtered on like any other field. Its values come from the one state definition
(:mod:`.docstate`): one item per state a CRM user may see (a draft is the author's alone, a deleted draft is
gone), labelled as the pages label it, its ``XML_ID`` the state's value, so a re-install finds the items it made.
The portal numbers the items; that number per kind and state is kept in SQLite (:mod:`.crm_status_store`).

Keeping it in step: every transition enqueues ``crm.status`` {"entity_type", "entity_id"} in its own transaction
(a listener), unless one for that card is still waiting. The message does not carry a state: when it is
delivered the worker reads the card's latest document's state and sets the field to it, one ``*.update`` per
card in one ``batch`` for all the cards of a round. So several transitions of one card cost one call, a
repeated delivery after a crash sets the same value again, and an older message can never overwrite a newer
state. The portal's rate limit is the client's business (it waits and retries a refused call); a round that
still fails is retried with the outbox's backoff.

Triggers: «Документ подписан обеими сторонами» (``klikdok_signed``), «Документ отклонён» (``klikdok_rejected``)
and «Срок подписи истёк» (``klikdok_expired``) are registered at install (``crm.automation.trigger.add``
updates the name of a code it knows, so a re-install adds nothing) and fired with
``crm.automation.trigger.execute`` through the outbox (``crm.trigger``) when a document completes, is rejected
or expires, for the kinds whose cards have automation rules (deals and smart processes; not companies or
contacts). Exactly once per document and event, by these rules:

- the event is recorded once (``crm_trigger_fires``, keyed by document and event; the outbox message has the
  same dedupe key), in the transition's transaction;
- the record moves ``pending`` -> ``sending`` in the same transaction as the outbox claim (the worker's claim
  hook), so "this call may have reached the portal" is durable before the call is made;
- a message whose record is not ``pending`` when it is claimed (it was claimed before a crash) is closed
  without calling the portal again;
- a refusal the portal answered (rate limit, access, a bad argument) means it did not run: the record goes
  back to ``pending`` and the message is retried; a lost answer (the connection broke after the request went
  out) leaves ``unknown``, and it is not repeated.

Why at most once and not at least once: unlike a timeline comment or a Disk file, a trigger leaves nothing on
the portal that a later attempt could look for (there is no list of executions), so after a crash between the
portal acting and our record the only choices are "maybe twice" or "maybe never". A trigger moves a deal's
stage and starts its robots; running those twice (a second contract e-mail, a second invoice) is worse than
the rare loss in a window of microseconds, which the card's status field and timeline still show.

Uninstall calls nothing here: ONAPPUNINSTALL arrives when the application is already removed, its tokens no longer
work, and the uninstall flow removes nothing else on the portal either (no ``placement.unbind``, the Disk files
stay). The field stays too, so a re-install finds it and saved list filters keep working; the triggers are the
application's (registered with its token, listed by ``crm.automation.trigger.list`` per application).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial

from sqlite_utils import Database as SqliteDb

from server import crashpoints
from server.bitrix24 import Bitrix24Client, Bitrix24Error, RateLimited, TransportError
from server.bitrix24.crm import CrmService
from server.bitrix24.entities import KINDS, CrmKind, UnknownKind, kind_of, smart_process
from server.db import Database, outbox
from server.db.outbox import OutboxMessage

from . import crm_status_store
from .docstate import LISTED_STATES, TRANSITIONS, DocState
from .listeners import InTransaction, TransitionListeners
from .model import DocumentRow
from .outbox_worker import ClientSource, OutboxWorker, Outcome

log = logging.getLogger(__name__)

STATUS = "crm.status"
TRIGGER = "crm.trigger"

FIELD_CODE = "KLIKDOK_STATUS"
FIELD_NAME = f"UF_CRM_{FIELD_CODE}"  # what the portal makes of FIELD_CODE (the UF_CRM_ prefix is added)
FIELD_LABEL = "Статус ЭДО (KlikDok)"
# The states a CRM user sees in the field: not a draft (the author's alone) and not a deleted one.
SHOWN_STATES: tuple[DocState, ...] = tuple(s for s in LISTED_STATES if not s.info.author_only)

# event -> (trigger code, the name the automation settings show)
TRIGGERS: dict[str, tuple[str, str]] = {
    "signed": ("klikdok_signed", "Документ подписан обеими сторонами"),
    "rejected": ("klikdok_rejected", "Документ отклонён"),
    "expired": ("klikdok_expired", "Срок подписи истёк"),
}
# transition -> trigger event
TRIGGER_OF: dict[str, str] = {
    "counterparty_signed": "signed",
    "internal_rejected": "rejected",
    "counterparty_rejected": "rejected",
    "expire": "expired",
}
DEAL_TYPE_ID = 2
FIRST_SMART_PROCESS_TYPE_ID = 128


def has_automation(kind: CrmKind) -> bool:
    """Automation triggers exist on deals and smart processes (the trigger page: leads, deals, quotes, invoices,
    smart processes), not on companies or contacts."""
    return kind.type_id == DEAL_TYPE_ID or kind.type_id >= FIRST_SMART_PROCESS_TYPE_ID


def crm_prefix(kind: CrmKind) -> str | None:
    """``crm.deal`` for a kind read with ``crm.deal.get``; None for smart processes (``crm.item.get``), whose
    user fields are made with ``userfieldconfig.add`` and whose items are written with ``crm.item.update``."""
    prefix = kind.get_method.removesuffix(".get")
    return None if prefix == "crm.item" else prefix


def smart_field_name(crm_type_id: int) -> str:
    """A smart process's field must be named ``UF_<entityId>_…`` with entityId ``CRM_<crm.type id>``
    (userfieldconfig.add refuses any other name)."""
    return f"UF_CRM_{crm_type_id}_{FIELD_CODE}"


def item_field_key(field_name: str) -> str:
    """The name ``crm.item.update`` takes a user field by: UF_CRM_7_KLIKDOK_STATUS -> ufCrm7KlikdokStatus."""
    parts = field_name.lower().split("_")
    return parts[0] + "".join(p[:1].upper() + p[1:] for p in parts[1:])


def enumeration() -> list[dict[str, object]]:
    """The field's items as ``*.userfield.add`` takes them (LIST), one per shown state, in the states' order."""
    return [{"VALUE": s.label, "SORT": (n + 1) * 10, "XML_ID": s.value, "DEF": "N"} for n, s in enumerate(SHOWN_STATES)]


# -- in the transition's transaction ------------------------------------------------------------------------


def status_changed(db: SqliteDb, doc: DocumentRow) -> None:
    """Every transition: the card's field follows (one waiting message per card is enough). Deleting a draft
    changes nothing the CRM shows."""
    if doc.state == DocState.DELETED:
        return
    crm_status_store.enqueue_status(db, STATUS, doc.entity_type, int(doc.entity_id))


def trigger_event(event: str) -> InTransaction:
    """The listener of a transition that fires ``event``'s trigger (recorded once per document and event)."""

    def fire(db: SqliteDb, doc: DocumentRow) -> None:
        kind = kind_of(doc.entity_type)
        if not has_automation(kind):
            return
        code = TRIGGERS[event][0]
        if crm_status_store.record_fire(
            db, document_id=doc.id, event=event, code=code, owner_type_id=kind.type_id, owner_id=int(doc.entity_id)
        ):
            outbox.enqueue(
                db, TRIGGER, {"document_id": doc.id, "event": event}, dedupe_key=f"crm.trigger:{doc.id}:{event}"
            )

    return fire


def register_listeners(listeners: TransitionListeners) -> None:
    for transition in TRANSITIONS:
        listeners.on(transition, status_changed)
    for transition, event in TRIGGER_OF.items():
        listeners.on(transition, trigger_event(event))


# -- install ------------------------------------------------------------------------------------------------


class CrmStatus:
    """Install-time setup and the outbox delivery of ``crm.status`` and ``crm.trigger``."""

    def __init__(self, db: Database, client: ClientSource, smart_processes: Sequence[int] = ()) -> None:
        self.db = db
        self.client = client
        self.smart_processes = tuple(smart_processes)  # entityTypeId of the enabled ones ([crm] smart_processes)
        self._mine: set[int] = set()  # trigger messages whose claim moved their record to "sending"
        self._wake: Callable[[], None] = lambda: None

    def attach(self, worker: OutboxWorker, listeners: TransitionListeners) -> None:
        worker.register(STATUS, self.deliver_status)
        worker.register(TRIGGER, self.deliver_triggers, on_claim=self.claimed_triggers)
        register_listeners(listeners)
        self._wake = worker.wake

    async def install(self, client: Bitrix24Client) -> list[str]:
        """The field on every kind of the registry and the three triggers; returns the problems (install goes on
        without them: the tab works, the CRM just shows less)."""
        problems: list[str] = []
        kinds: list[tuple[CrmKind, int | None]] = [(kind, None) for kind in KINDS]
        if self.smart_processes:
            try:
                known = {t.entity_type_id: t.id for t in await CrmService(client).smart_process_types()}
            except Bitrix24Error as exc:
                problems.append(f"поле «{FIELD_LABEL}» (смарт-процессы): {exc.code} {exc.description}".strip())
                known = {}
            # A configured type the portal lacks is named by the portal's own install step (no tab either).
            kinds += [(smart_process(t), known[t]) for t in self.smart_processes if t in known]
        for kind, crm_type_id in kinds:
            try:
                if crm_type_id is None:
                    problem = await self._ensure_field(client, kind)
                else:
                    problem = await self._ensure_smart_field(client, kind, crm_type_id)
            except Bitrix24Error as exc:
                problem = f"{exc.code} {exc.description}".strip()
            if problem:
                problems.append(f"поле «{FIELD_LABEL}» ({kind.genitive_plural}): {problem}")
        for code, name in TRIGGERS.values():
            try:
                # A known CODE only gets its NAME updated (the method's page), so a re-install adds nothing.
                await client.call("crm.automation.trigger.add", {"CODE": code, "NAME": name})
            except Bitrix24Error as exc:
                problems.append(f"триггер «{name}»: {exc.code} {exc.description}".strip())
        return problems

    async def _ensure_field(self, client: Bitrix24Client, kind: CrmKind) -> str:
        prefix = crm_prefix(kind)
        if prefix is None:
            return "смарт-процесс не включён в настройках ([crm] smart_processes)"
        found = await self._field(client, prefix)
        if found is None:
            await client.call(
                f"{prefix}.userfield.add",
                {
                    "fields": {
                        "USER_TYPE_ID": "enumeration",
                        "FIELD_NAME": FIELD_CODE,
                        "XML_ID": FIELD_CODE.lower(),
                        "LABEL": FIELD_LABEL,
                        "MULTIPLE": "N",
                        "MANDATORY": "N",
                        "SHOW_FILTER": "Y",
                        "SHOW_IN_LIST": "Y",
                        "EDIT_IN_LIST": "N",
                        "LIST": enumeration(),
                    }
                },
            )
            found = await self._field(client, prefix)
            if found is None:
                return "портал не показал созданное поле"
        return await self._remember(kind, FIELD_NAME, *found)

    async def _ensure_smart_field(self, client: Bitrix24Client, kind: CrmKind, crm_type_id: int) -> str:
        """The same field on a smart process, through the universal ``userfieldconfig.*`` (its pages: the field
        belongs to ``CRM_<crm.type id>``, and its items come back only from ``userfieldconfig.get``)."""
        name = smart_field_name(crm_type_id)
        found = await self._smart_field(client, name)
        if found is None:
            await client.call(
                "userfieldconfig.add",
                {
                    "moduleId": "crm",
                    "field": {
                        "entityId": f"CRM_{crm_type_id}",
                        "fieldName": name,
                        "userTypeId": "enumeration",
                        "xmlId": FIELD_CODE.lower(),
                        "multiple": "N",
                        "mandatory": "N",
                        "showFilter": "Y",
                        "editInList": "N",
                        "editFormLabel": {"ru": FIELD_LABEL, "en": "EDI status (KlikDok)"},
                        "enum": [
                            {"value": e["VALUE"], "def": "N", "sort": e["SORT"], "xmlId": e["XML_ID"]}
                            for e in enumeration()
                        ],
                    },
                },
            )
            found = await self._smart_field(client, name)
            if found is None:
                return "портал не показал созданное поле"
        return await self._remember(kind, item_field_key(name), *found)

    @staticmethod
    async def _smart_field(client: Bitrix24Client, name: str) -> tuple[int, dict[str, int]] | None:
        answer = await client.call("userfieldconfig.list", {"moduleId": "crm", "filter": {"fieldName": name}})
        rows = answer.get("fields") if isinstance(answer, dict) else None
        field_id = next((int(r["id"]) for r in rows or [] if isinstance(r, dict) and r.get("fieldName") == name), 0)
        if not field_id:
            return None
        answer = await client.call("userfieldconfig.get", {"moduleId": "crm", "id": field_id})
        field = answer.get("field") if isinstance(answer, dict) else None
        items = {
            str(item.get("xmlId")): int(item["id"])
            for item in (field or {}).get("enum") or []
            if isinstance(item, dict) and item.get("id")
        }
        return field_id, items

    async def _remember(self, kind: CrmKind, field_name: str, field_id: int, items: dict[str, int]) -> str:
        """Keep the field's item numbers, and give the cards that already have documents their value."""
        missing = [s.label for s in SHOWN_STATES if s.value not in items]
        shown = [s.value for s in SHOWN_STATES]

        def save(d: SqliteDb) -> None:
            crm_status_store.save_field(d, kind.code, field_id, field_name, items)
            # Cards whose documents are older than the field (an upgrade, a re-install) get their value too.
            crm_status_store.enqueue_all(d, STATUS, kind.code, shown)

        await self.db.write(save)
        self._wake()
        return f"в списке поля нет значений: {', '.join(missing)}" if missing else ""

    @staticmethod
    async def _field(client: Bitrix24Client, prefix: str) -> tuple[int, dict[str, int]] | None:
        rows = await client.call(f"{prefix}.userfield.list", {"filter": {"FIELD_NAME": FIELD_NAME}}) or []
        for row in rows:
            if isinstance(row, dict) and row.get("FIELD_NAME") == FIELD_NAME:
                items = {
                    str(item.get("XML_ID")): int(item["ID"])
                    for item in row.get("LIST") or []
                    if isinstance(item, dict) and item.get("ID")
                }
                return int(row["ID"]), items
        return None

    # -- the field, from the outbox -------------------------------------------------------------------------

    async def deliver_status(self, messages: Sequence[OutboxMessage]) -> Outcome:
        """Set each card's field to its latest shown document's state (cleared when it has none): one update per
        card, all in one ``batch``."""
        client = await self.client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        by_card: dict[tuple[str, int], list[int]] = {}
        for m in messages:
            by_card.setdefault((str(m.payload["entity_type"]), int(m.payload["entity_id"])), []).append(m.id)
        shown = [s.value for s in SHOWN_STATES]
        known = await self.db.read(crm_status_store.fields)
        states = await self.db.read(lambda d: crm_status_store.latest_states(d, by_card, shown))
        outcome: Outcome = {}
        commands: list[tuple[str, dict[str, object]]] = []
        cards: list[tuple[str, int]] = []
        for card, ids in by_card.items():
            entity_type, entity_id = card
            field = known.get(entity_type)
            try:
                kind: CrmKind | None = kind_of(entity_type)
            except UnknownKind:  # a kind this version does not know (a row written by a newer one)
                kind = None
            state = states.get(card)
            item = field.items.get(state) if field is not None and state is not None else None
            if field is None or kind is None or (state is not None and item is None):
                # No field on this kind (or no item for the state): nothing to set.
                outcome.update({i: None for i in ids})
                continue
            cards.append(card)
            values = {field.field_name: item or ""}
            prefix = crm_prefix(kind)
            if prefix is None:
                commands.append(("crm.item.update", {"entityTypeId": kind.type_id, "id": entity_id, "fields": values}))
            else:
                commands.append((f"{prefix}.update", {"id": entity_id, "fields": values}))
        if not commands:
            return outcome
        result = await client.batch(commands)
        for index, card in enumerate(cards):
            error = result.errors.get(str(index))
            text = None if error is None else f"{error.code}: {error.description}"[:300]
            outcome.update({i: text for i in by_card[card]})
        return outcome

    # -- triggers, from the outbox --------------------------------------------------------------------------

    def claimed_triggers(self, db: SqliteDb, messages: Sequence[OutboxMessage]) -> None:
        """In the claim's transaction: pending -> sending for the events these messages fire."""
        keys = {(int(m.payload["document_id"]), str(m.payload["event"])): m.id for m in messages}
        mine = crm_status_store.claim_fires(db, keys)
        self._mine.update(keys[k] for k in mine)

    async def deliver_triggers(self, messages: Sequence[OutboxMessage]) -> Outcome:
        outcome: Outcome = {}
        mine: list[OutboxMessage] = []
        for m in messages:
            if m.id in self._mine:
                self._mine.discard(m.id)
                mine.append(m)
            else:
                log.warning(
                    "automation trigger claimed before a restart: not executed again",
                    extra={"outbox_id": m.id, "document_id": m.payload.get("document_id")},
                )
                outcome[m.id] = None
        for m in mine:
            outcome[m.id] = await self._execute(int(m.payload["document_id"]), str(m.payload["event"]))
        return outcome

    async def _execute(self, document_id: int, event: str) -> str | None:
        """One claimed event: the call, then its record. None when the message is done, else why to retry."""
        try:
            fire = await self.db.read(partial(crm_status_store.fire_state, document_id=document_id, event=event))
            client = await self.client()
        except Exception as exc:  # nothing was sent: the event goes back to the queue instead of being lost
            text = f"{type(exc).__name__}: {exc}"[:300]
            await self._settle(document_id, event, "pending", text)
            return text
        if fire is None or fire.state != "sending":
            return None
        if client is None:
            await self._settle(document_id, event, "pending", "портал Битрикс24 не подключён")
            return "портал Битрикс24 не подключён"
        try:
            await client.call(
                "crm.automation.trigger.execute",
                {"CODE": fire.code, "OWNER_TYPE_ID": fire.owner_type_id, "OWNER_ID": fire.owner_id},
            )
        except Bitrix24Error as exc:
            text = f"{exc.code}: {exc.description}"[:300]
            if _answer_lost(exc):
                log.warning("automation trigger answer lost: not repeated", extra={"document_id": document_id})
                await self._settle(document_id, event, "unknown", text)
                return None
            await self._settle(document_id, event, "pending", text)
            return text
        crashpoints.reached("crm.trigger.executed")
        await self._settle(document_id, event, "sent")
        return None

    async def _settle(self, document_id: int, event: str, state: str, error: str = "") -> None:
        await self.db.write(lambda d: crm_status_store.settle_fire(d, document_id, event, state, error))


def _answer_lost(exc: Bitrix24Error) -> bool:
    """Whether the portal may have run the call: the connection broke after the request went out, or a server
    error other than the rate limit (which refuses before running anything)."""
    if isinstance(exc, TransportError):
        return exc.code == "NETWORK"
    return exc.retryable and not isinstance(exc, RateLimited)
