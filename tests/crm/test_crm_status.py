"""«Статус ЭДО (KlikDok)» on the CRM cards and the automation triggers, end to end: ``klikdok serve``, the portal
emulator over HTTP (the field read back with ``crm.deal.get``/``crm.deal.list`` through the portal's own REST),
real GOST signatures, the counterparty through its e-mail link, and SIGKILL crashes around the trigger call."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx

from demo import emulator_crmstatus
from demo.portal_emulator import PortalEmulator
from server.bitrix24.entities import KINDS
from server.workflow.crm_status import FIELD_NAME, SHOWN_STATES
from server.workflow.docstate import DocState
from tests.counterparty.conftest import (
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    link_in,
)
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for, wait_past_deadline

SIGNED = ("klikdok_signed", 2, 1)


def rest(emu: PortalEmulator, method: str, params: dict[str, Any]) -> Any:
    """The portal's REST over HTTP, as an integration on the portal would read it (the inbound webhook)."""
    resp = httpx.post(emu.state.webhook_url + method, json=params, timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.json()["result"]


def labels(emu: PortalEmulator, entity: str) -> dict[str, str]:
    """item id -> its label, of the KlikDok field on ``entity``."""
    (field,) = [f for f in emulator_crmstatus.fields_of(emu.state, entity) if f["FIELD_NAME"] == FIELD_NAME]
    return {item["ID"]: item["VALUE"] for item in field["LIST"]}


def card_status(emu: PortalEmulator, entity: str, entity_id: int) -> str | None:
    row = rest(emu, f"crm.{entity}.get", {"id": entity_id})
    value = row.get(FIELD_NAME)
    return labels(emu, entity)[str(value)] if value else None


def wait_status(emu: PortalEmulator, entity: str, entity_id: int, label: str | None) -> None:
    wait_for(lambda: card_status(emu, entity, entity_id) == label, what=f"{entity} {entity_id} showing {label}")


def fired(emu: PortalEmulator) -> list[tuple[str, int, int]]:
    return [(e["CODE"], e["OWNER_TYPE_ID"], e["OWNER_ID"]) for e in emulator_crmstatus.executions(emu.state)]


def sign_internally(ex: Exchange, doc_id: int, data: bytes = PDF) -> None:
    detail = ex.kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()
    for f in detail["files"]:
        r = ex.kd.api(
            "POST", f"/documents/{doc_id}/files/{f['id']}/signatures", DIRECTOR, content=ex.people.sign(DIRECTOR, data)
        )
        assert r.status_code == 201, r.text


def test_install_makes_the_field_and_the_triggers_once(exchange: Exchange) -> None:
    emu = exchange.kd.emu
    want = [s.label for s in SHOWN_STATES]
    assert "Черновик" not in want and "Удалён" not in want  # the author's draft is nobody else's business
    for entity in ("deal", "company"):
        (field,) = emulator_crmstatus.fields_of(emu.state, entity)
        assert field["USER_TYPE_ID"] == "enumeration" and field["EDIT_FORM_LABEL"] == "Статус ЭДО (KlikDok)"
        assert [i["VALUE"] for i in field["LIST"]] == want
        assert [i["XML_ID"] for i in field["LIST"]] == [s.value for s in SHOWN_STATES]
    assert emulator_crmstatus.triggers(emu.state) == {
        "klikdok_signed": "Документ подписан обеими сторонами",
        "klikdok_rejected": "Документ отклонён",
        "klikdok_expired": "Срок подписи истёк",
    }
    before = {e: emulator_crmstatus.fields_of(emu.state, e) for e in ("deal", "company")}
    stored = exchange.kd.query("SELECT entity_type, state, item_id FROM crm_status_values ORDER BY 1, 2")
    assert len(stored) == len(KINDS) * len(SHOWN_STATES)  # every kind of card has the field

    exchange.kd.install()  # the admin reinstalls: nothing new on the portal, the same mapping here
    assert {e: emulator_crmstatus.fields_of(emu.state, e) for e in ("deal", "company")} == before
    assert len(emulator_crmstatus.triggers(emu.state)) == 3
    assert exchange.kd.query("SELECT entity_type, state, item_id FROM crm_status_values ORDER BY 1, 2") == stored
    # Problems are audited; none for deals, companies or the triggers (a smart process would say that its field
    # needs userfieldconfig.add, which this version does not call).
    problems = exchange.kd.query("SELECT details FROM audit_log WHERE action = 'portal.install_problems'")
    assert not [p for (p,) in problems if "сделок" in p or "компаний" in p or "триггер" in p], problems


def test_the_field_follows_every_transition_and_the_trigger_fires_once(
    exchange: Exchange, counterparty: Counterparty
) -> None:
    kd, emu = exchange.kd, exchange.kd.emu
    kd.register_cert(DIRECTOR, exchange.people.certs[DIRECTOR])
    doc = kd.create(MANAGER, ("deal", 1), {"Договор №17.pdf": PDF}, signers=[DIRECTOR], send=False)
    time.sleep(0.6)  # a few outbox polls: a draft puts nothing on the card
    assert card_status(emu, "deal", 1) is None
    assert kd.api("POST", f"/documents/{doc}/send", MANAGER).status_code == 200
    wait_status(emu, "deal", 1, "На подписи")
    sign_internally(exchange, doc)
    wait_status(emu, "deal", 1, "Ожидает контрагента")
    assert fired(emu) == []
    link = link_in(exchange.invitation())
    done = exchange.upload(
        link, {exchange.file_ids(doc)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)}
    )
    assert done.status_code in (200, 303), done.text
    wait_status(emu, "deal", 1, "Подписан")
    wait_for(lambda: fired(emu) == [SIGNED], what="the signed trigger")

    # An internal rejection on the same deal: the card shows its latest document.
    rejected = kd.create(MANAGER, ("deal", 1), {"b.pdf": PDF}, signers=[DIRECTOR], title="Допсоглашение")
    wait_status(emu, "deal", 1, "На подписи")
    assert (
        kd.api("POST", f"/documents/{rejected}/reject", DIRECTOR, json={"reason": "Неверная сумма"}).status_code == 200
    )
    wait_status(emu, "deal", 1, "Отклонён")
    wait_for(lambda: fired(emu) == [SIGNED, ("klikdok_rejected", 2, 1)], what="the rejected trigger")

    # Withdrawn, on another deal; the first deal keeps its value (filterable in the deal list).
    withdrawn = kd.create(MANAGER, ("deal", 3), {"c.pdf": PDF}, signers=[DIRECTOR], title="Смета")
    wait_status(emu, "deal", 3, "На подписи")
    assert kd.api("POST", f"/documents/{withdrawn}/withdraw", MANAGER, json={"reason": "Ошибка"}).status_code == 200
    wait_status(emu, "deal", 3, "Отозван")
    assert card_status(emu, "deal", 1) == "Отклонён"

    # A company card gets the field too, and no trigger (companies have no automation rules).
    kd.create(MANAGER, ("company", 3), {"d.pdf": PDF}, signers=[DIRECTOR], title="Договор аренды")
    wait_status(emu, "company", 3, "На подписи")

    item = {v: k for k, v in labels(emu, "deal").items()}
    listed = rest(emu, "crm.deal.list", {"filter": {FIELD_NAME: item["Отозван"]}, "select": ["ID", FIELD_NAME]})
    assert listed == [{"ID": "3", FIELD_NAME: item["Отозван"]}]
    listed = rest(emu, "crm.deal.list", {"filter": {FIELD_NAME: item["Отклонён"]}, "select": ["ID"]})
    assert [r["ID"] for r in listed] == ["1"]
    time.sleep(1.0)
    assert fired(emu) == [SIGNED, ("klikdok_rejected", 2, 1)]  # once per event
    assert kd.query("SELECT event, state FROM crm_trigger_fires ORDER BY document_id") == [
        ("signed", "sent"),
        ("rejected", "sent"),
    ]


def test_counterparty_rejection_and_expiry(
    tmp_path: Path, emulator: PortalEmulator, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    srv = start_server(tmp_path / "a", env=counterparty_env(people.pki, smtp))
    try:
        ex = Exchange(Klikdok(srv, emulator), smtp, people)
        ex.kd.install()
        doc = ex.company_signed(title="Акт")
        link = link_in(ex.invitation(title="Акт"))
        assert ex.reject(link, "Не наш документ").status_code in (200, 303)
        wait_status(emulator, "deal", 1, "Отклонён контрагентом")
        wait_for(lambda: fired(emulator) == [("klikdok_rejected", 2, 1)], what="the rejected trigger")
        assert ex.state(doc) == DocState.REJECTED_COUNTERPARTY
        ex.http.close()
    finally:
        srv.stop()
    emulator.state.reset(emulator.state.config)
    # Zero days to answer: the deadline has passed when the company signs; deadlines are checked at start-up and
    # then once a minute, so a restart runs the check now.
    env = counterparty_env(people.pki, smtp, KLIKDOK_WORKFLOW_COUNTERPARTY_DAYS="0")
    srv = start_server(tmp_path / "b", env=env)
    try:
        ex = Exchange(Klikdok(srv, emulator), smtp, people)
        ex.kd.install()
        doc = ex.company_signed(title="Акт сверки")
        wait_status(emulator, "deal", 1, "Ожидает контрагента")
        wait_past_deadline(ex.kd, doc)
        srv.stop()
        srv = ex.kd.server = start_server(tmp_path / "b", env=env)
        wait_status(emulator, "deal", 1, "Срок истёк")
        assert ex.state(doc) == DocState.EXPIRED
        wait_for(lambda: fired(emulator) == [("klikdok_expired", 2, 1)], what="the expired trigger")
        time.sleep(1.0)
        assert fired(emulator) == [("klikdok_expired", 2, 1)]
        ex.http.close()
    finally:
        srv.stop()


def _complete(ex: Exchange, counterparty: Counterparty) -> int:
    doc = ex.company_signed(title="Договор поставки")
    link = link_in(ex.invitation())
    ex.upload(link, {ex.file_ids(doc)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)})
    return doc


def test_killed_after_the_portal_ran_the_trigger_it_is_not_run_again(
    tmp_path: Path, own_emulator: PortalEmulator, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    """The portal has run the trigger and answered; the server dies before it records that (crash point right
    after the call). After a restart the message comes back, finds its event claimed and does not call again."""
    data = tmp_path / "data"
    env = counterparty_env(people.pki, smtp, KLIKDOK_PORTAL_URL=own_emulator.base_url)
    first = start_server(data, env={**env, "KLIKDOK_TEST_CRASH_AT": "crm.trigger.executed"})
    ex = Exchange(Klikdok(first, own_emulator), smtp, people)
    try:
        ex.kd.install()
        doc = _complete(ex, counterparty)
        wait_for(lambda: first.proc.poll() is not None, what="the server killing itself after the trigger call")
    finally:
        first.stop()
    assert fired(own_emulator) == [SIGNED]
    assert ex.kd.query("SELECT state FROM crm_trigger_fires WHERE document_id = ?", doc) == [("sending",)]
    assert ex.kd.query("SELECT status FROM outbox WHERE kind = 'crm.trigger'") == [("sending",)]

    second = start_server(data, env=env)
    try:
        ex.kd.server = second
        wait_for(
            lambda: ex.kd.query("SELECT status FROM outbox WHERE kind = 'crm.trigger'") == [("delivered",)],
            what="the trigger message closed",
        )
        wait_status(own_emulator, "deal", 1, "Подписан")
        time.sleep(1.0)
        assert fired(own_emulator) == [SIGNED]
        assert ex.kd.query("SELECT attempts FROM outbox WHERE kind = 'crm.trigger'") == [(2,)]
    finally:
        ex.http.close()
        second.stop()


def test_killed_while_the_portal_holds_the_answer_fires_once(
    tmp_path: Path, own_emulator: PortalEmulator, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    """SIGKILL while the portal has taken the execute call and not answered yet; the trigger fires once."""
    data = tmp_path / "data"
    env = counterparty_env(people.pki, smtp, KLIKDOK_PORTAL_URL=own_emulator.base_url)
    first = start_server(data, env=env)
    ex = Exchange(Klikdok(first, own_emulator), smtp, people)
    try:
        ex.kd.install()
        stall = own_emulator.state.stall("crm.automation.trigger.execute", seconds=60)
        _complete(ex, counterparty)
        wait_for(lambda: fired(own_emulator) == [SIGNED], what="the portal running the trigger")
        first.stop(signal.SIGKILL)
        stall.release.set()
    finally:
        first.stop()
    second = start_server(data, env=env)
    try:
        ex.kd.server = second
        wait_for(
            lambda: ex.kd.query("SELECT status FROM outbox WHERE kind = 'crm.trigger'") == [("delivered",)],
            what="the trigger message closed",
        )
        time.sleep(1.0)
        assert fired(own_emulator) == [SIGNED]
    finally:
        ex.http.close()
        second.stop()


def test_a_refused_trigger_call_is_retried_until_it_runs(
    tmp_path: Path, own_emulator: PortalEmulator, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    """The portal refusing the call (an error answer: it did not run) is not a lost answer: it is tried again."""
    env = counterparty_env(people.pki, smtp, KLIKDOK_PORTAL_URL=own_emulator.base_url)
    srv = start_server(tmp_path / "data", env=env)
    ex = Exchange(Klikdok(srv, own_emulator), smtp, people)
    try:
        ex.kd.install()
        own_emulator.state.inject(
            "crm.automation.trigger.execute", status=403, code="ACCESS_DENIED", description="Access denied", times=1
        )
        _complete(ex, counterparty)
        wait_for(lambda: fired(own_emulator) == [SIGNED], timeout=30, what="the trigger after a refusal")
        wait_for(lambda: ex.kd.query("SELECT state FROM crm_trigger_fires") == [("sent",)], what="recorded as sent")
        assert ex.kd.query("SELECT attempts FROM outbox WHERE kind = 'crm.trigger'") == [(2,)]
    finally:
        ex.http.close()
        srv.stop()


def test_one_update_per_card_under_the_rate_limit_and_a_backfill_at_reinstall(
    tmp_path: Path, own_emulator: PortalEmulator, people: People, smtp: SmtpServer
) -> None:
    """Transitions queued while the outbox is held cost one message per card, delivered as one update per card
    even when the portal refuses the first requests with its rate limit; a re-install after the field was
    deleted on the portal makes it again and fills in the cards."""
    data = tmp_path / "data"
    env = counterparty_env(people.pki, smtp, KLIKDOK_PORTAL_URL=own_emulator.base_url)
    first = start_server(data, env={**env, "KLIKDOK_WORKFLOW_OUTBOX_PAUSED": "true"})
    kd = Klikdok(first, own_emulator)
    try:
        kd.install()
        kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
        signed = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[DIRECTOR], title="Договор")
        fid = kd.api("GET", f"/documents/{signed}", DIRECTOR).json()["files"][0]["id"]
        sig = kd.api(
            "POST", f"/documents/{signed}/files/{fid}/signatures", DIRECTOR, content=people.sign(DIRECTOR, PDF)
        )
        assert sig.status_code == 201, sig.text
        withdrawn = kd.create(MANAGER, ("deal", 1), {"b.pdf": PDF}, signers=[DIRECTOR], title="Счёт")
        assert kd.api("POST", f"/documents/{withdrawn}/withdraw", MANAGER, json={"reason": "Дубль"}).status_code == 200
        kd.create(MANAGER, ("deal", 3), {"c.pdf": PDF}, signers=[DIRECTOR], title="Смета")
        # Four transitions of deal 1, one of deal 3: one waiting message per card.
        assert kd.query("SELECT payload FROM outbox WHERE kind = 'crm.status' ORDER BY id") == [
            ('{"entity_type": "deal", "entity_id": 1}',),
            ('{"entity_type": "deal", "entity_id": 3}',),
        ]
    finally:
        first.stop()
    own_emulator.state.inject(
        "batch", status=503, code="QUERY_LIMIT_EXCEEDED", description="Too many requests", times=2
    )
    second = start_server(data, env=env)
    try:
        kd.server = second
        wait_status(own_emulator, "deal", 1, "Отозван")  # the latest document of the card
        wait_status(own_emulator, "deal", 3, "На подписи")
        wait_for(
            lambda: kd.query("SELECT status FROM outbox WHERE kind = 'crm.status'") == [("delivered",)] * 2,
            what="status messages delivered",
        )
        assert own_emulator.state.calls.count("crm.deal.update") == 2

        # An admin deletes the field on the portal; the next install makes it again and fills the cards in.
        own_emulator.state.extra.pop("crmstatus")
        for deal in own_emulator.state.deals.values():
            deal.pop(FIELD_NAME, None)
        kd.install()
        wait_status(own_emulator, "deal", 1, "Отозван")
        wait_status(own_emulator, "deal", 3, "На подписи")
    finally:
        second.stop()
