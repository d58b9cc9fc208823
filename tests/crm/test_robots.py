"""The automation robots over real HTTP: a real ``klikdok serve`` installed on the portal emulator, robots run
the way the portal's automation runs them (a form POST to the registered handler, demo/emulator_robots.py),
answers taken by the emulator's ``bizproc.event.send``, signatures made by openssl with the gost engine, the
counterparty answering through its e-mailed link."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.emulator_robots import post_robot_call, robot_answers, robot_call_form, run_robot
from demo.portal_emulator import PortalEmulator
from tests.counterparty.conftest import (
    ALFA_EMAIL,
    DEAL,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    link_in,
)
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for, wait_past_deadline

SEND, WAIT = "klikdok_send", "klikdok_wait"


def answer_of(emu: PortalEmulator, token: str, timeout: float = 15.0) -> dict[str, Any]:
    answers = wait_for(lambda: robot_answers(emu.state, token), timeout=timeout, what="the robot's answer")
    assert len(answers) == 1
    return answers[0]


def draft(kd: Klikdok, entity: tuple[str, int] = DEAL, title: str = "Договор поставки") -> int:
    return kd.create(MANAGER, entity, {"Договор №17.pdf": PDF}, signers=[MANAGER], title=title, send=False)


def doc_state(kd: Klikdok, doc_id: int) -> str:
    return str(kd.query("SELECT state FROM documents WHERE id = ?", doc_id)[0][0])


def sign_as_director(ex: Exchange, doc_id: int) -> None:
    detail = ex.kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()
    for f in detail["files"]:
        r = ex.kd.api(
            "POST",
            f"/documents/{doc_id}/files/{f['id']}/signatures",
            DIRECTOR,
            content=ex.people.sign(DIRECTOR, PDF),
        )
        assert r.status_code == 201, r.text


def test_install_registers_both_robots_once(exchange: Exchange) -> None:
    emu = exchange.kd.emu.state
    assert sorted(emu.robots) == [SEND, WAIT]
    for robot in emu.robots.values():
        assert robot["HANDLER"] == f"{exchange.kd.url}/b24/robot"
        assert robot["USE_SUBSCRIPTION"] == "Y"
    assert set(emu.robots[SEND]["RETURN_PROPERTIES"]) == {"document_id", "link", "error"}
    assert set(emu.robots[WAIT]["RETURN_PROPERTIES"]["outcome"]["Options"]) == {
        "signed",
        "rejected",
        "expired",
        "withdrawn",
    }
    assert emu.robots[SEND]["NAME"]["ru"] == "KlikDok: отправить на подпись"
    assert emu.robots[WAIT]["NAME"]["ru"] == "KlikDok: ждать подписания"
    exchange.kd.install()  # a re-install: the portal keeps its robots, nothing is added or refused
    exchange.kd.install()
    assert emu.calls.count("bizproc.robot.add") == 2
    assert emu.calls.count("bizproc.robot.list") == 3
    assert sorted(emu.robots) == [SEND, WAIT]
    assert exchange.kd.query("SELECT count(*) FROM audit_log WHERE action = 'portal.install_problems'") == [(0,)]


def test_send_robot_sends_the_cards_draft_and_answers_with_its_id_and_link(exchange: Exchange) -> None:
    kd = exchange.kd
    older = draft(kd, title="Старый черновик")
    doc_id = draft(kd)
    token, resp = run_robot(kd.emu.state, SEND, DEAL, {"signers": ["user_1", "user_5"]})
    assert resp.status_code == 200, kd.server.logs()[-4000:]
    answer = answer_of(kd.emu, token)
    assert answer == {"document_id": doc_id, "link": f"{kd.emu.base_url}/crm/deal/details/1/", "error": ""}
    assert doc_state(kd, doc_id) == "awaiting_internal" and doc_state(kd, older) == "draft"
    route = kd.query(
        "SELECT user_id FROM route_steps WHERE document_id = ? AND kind = 'internal' ORDER BY position", doc_id
    )
    assert route == [(DIRECTOR,), (5,)]
    # The counterparty's address the create form would have used: the card's company's.
    assert kd.query("SELECT counterparty_email FROM documents WHERE id = ?", doc_id) == [(ALFA_EMAIL,)]
    # Sent as the draft's author would send it: the director is asked to sign, the card's timeline says so.
    emu = kd.emu.state
    wait_for(
        lambda: [n for n in emu.notifications if n["USER_ID"] == DIRECTOR and "Договор поставки" in n["MESSAGE"]],
        what="the signer's notification",
    )
    assert kd.query("SELECT actor FROM audit_log WHERE action = 'document.sent'") == [(f"user:{MANAGER}",)]
    # A typed address wins over the card's.
    other = draft(kd, title="Акт")
    token2, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1"], "email": "buh@alfa.example", "document": str(other)})
    assert answer_of(kd.emu, token2)["document_id"] == other
    assert kd.query("SELECT counterparty_email FROM documents WHERE id = ?", other) == [("buh@alfa.example",)]


def test_a_draft_with_approvers_sent_by_the_robot_goes_to_its_approvers_first(exchange: Exchange) -> None:
    # The robot sends as the author's «Отправить» does: согласование before the signers' route, never around it.
    kd = exchange.kd
    resp = kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        data={"title": "Договор поставки", "signers": str(DIRECTOR), "approvers": "5", "send": "0"},
        files=[("files", ("Договор №17.pdf", PDF, "application/pdf"))],
    )
    assert resp.status_code == 201, resp.text
    doc_id = int(resp.json()["id"])
    token, _ = run_robot(kd.emu.state, SEND, DEAL, {"signers": ["user_1"], "document": str(doc_id)})
    assert answer_of(kd.emu, token)["document_id"] == doc_id
    assert doc_state(kd, doc_id) == "in_approval"


def test_the_same_event_token_twice_does_the_work_once(exchange: Exchange) -> None:
    kd = exchange.kd
    doc_id = draft(kd)
    handler, token, form = robot_call_form(kd.emu.state, SEND, DEAL, {"signers": ["user_1"]})
    first, second = post_robot_call(handler, form), post_robot_call(handler, form)
    assert first.status_code == second.status_code == 200
    assert first.json()["message"] == "accepted" and second.json()["message"] == "already accepted"
    answer_of(kd.emu, token)
    third = post_robot_call(handler, form)  # after the answer, too
    assert third.json()["message"] == "already accepted"
    time.sleep(1.0)
    assert len(robot_answers(kd.emu.state, token)) == 1
    assert kd.query("SELECT count(*) FROM robot_calls") == [(1,)]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'document.sent'") == [(1,)]
    assert doc_state(kd, doc_id) == "awaiting_internal"


def test_bad_properties_answer_with_an_error_and_change_nothing(exchange: Exchange) -> None:
    kd, emu = exchange.kd, exchange.kd.emu.state
    doc_id = draft(kd)
    token, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1", "user_999"]})
    answer = answer_of(kd.emu, token)
    assert answer["document_id"] == "" and "Нет активного сотрудника с id 999" in answer["error"]
    token, _ = run_robot(emu, SEND, DEAL, {"signers": ["group_dr5"]})
    assert "не группу или отдел" in answer_of(kd.emu, token)["error"]
    token, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1"], "email": "не адрес"})
    assert "не адрес электронной почты" in answer_of(kd.emu, token)["error"]
    token, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1"], "template_id": "12"})
    assert "Шаблоны документов Битрикс24 пока недоступны" in answer_of(kd.emu, token)["error"]
    assert doc_state(kd, doc_id) == "draft"
    # A card with no e-mail anywhere (no company, no contacts) and none in the robot's settings.
    (bare,) = emu.add_deals(1, title="Сделка без контактов")
    bare_doc = draft(kd, ("deal", bare), title="Без адреса")
    token, _ = run_robot(emu, SEND, ("deal", bare), {"signers": ["user_1"]})
    answer = answer_of(kd.emu, token)
    assert "Нет адреса электронной почты контрагента" in answer["error"] and answer["document_id"] == ""
    assert doc_state(kd, bare_doc) == "draft"
    # A card with no draft at all.
    (empty,) = emu.add_deals(1)
    token, _ = run_robot(emu, SEND, ("deal", empty), {"signers": ["user_1"]})
    assert "нет черновика документа KlikDok" in answer_of(kd.emu, token)["error"]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'document.sent'") == [(0,)]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'robot.refused'") == [(6,)]
    assert kd.query("SELECT count(*) FROM documents") == [(2,)]


def test_wait_robot_answers_signed_after_both_sides_sign(exchange: Exchange, counterparty: Counterparty) -> None:
    kd, emu = exchange.kd, exchange.kd.emu.state
    kd.register_cert(DIRECTOR, exchange.people.certs[DIRECTOR])
    doc_id = draft(kd)
    sent, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1"]})
    assert answer_of(kd.emu, sent)["document_id"] == doc_id
    waiting, resp = run_robot(emu, WAIT, DEAL, {})  # no document named: the card's latest sent one
    assert resp.status_code == 200
    wait_for(lambda: kd.query("SELECT state FROM robot_calls WHERE code = ?", WAIT) == [("waiting",)], what="wait")
    sign_as_director(exchange, doc_id)
    assert doc_state(kd, doc_id) == "awaiting_counterparty"
    time.sleep(0.5)
    assert robot_answers(emu, waiting) == []  # the company's signature is not the end
    link = link_in(exchange.invitation())
    fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
    done = exchange.upload(link, {fid: counterparty.sign(counterparty.director, PDF)})
    assert done.status_code == 303, done.text
    assert doc_state(kd, doc_id) == "completed"
    assert answer_of(kd.emu, waiting) == {"outcome": "signed", "reason": "", "document_id": doc_id, "error": ""}
    # A wait robot started on a finished document answers at once.
    late, _ = run_robot(emu, WAIT, DEAL, {"document": str(doc_id)})
    assert answer_of(kd.emu, late)["outcome"] == "signed"


def test_wait_robot_answers_rejected_with_the_reason(exchange: Exchange) -> None:
    kd, emu = exchange.kd, exchange.kd.emu.state
    doc_id = exchange.company_signed()
    token, _ = run_robot(emu, WAIT, DEAL, {"document": str(doc_id)})
    wait_for(lambda: kd.query("SELECT state FROM robot_calls") == [("waiting",)], what="wait")
    assert exchange.reject(link_in(exchange.invitation()), "Неверные реквизиты в п. 5.2").status_code == 303
    assert answer_of(kd.emu, token) == {
        "outcome": "rejected",
        "reason": "Неверные реквизиты в п. 5.2",
        "document_id": doc_id,
        "error": "",
    }
    # A document of another card is not this card's.
    (other,) = emu.add_deals(1)
    token, _ = run_robot(emu, WAIT, ("deal", other), {"document": str(doc_id)})
    assert answer_of(kd.emu, token)["error"] == f"В карточке сделки №{other} нет документа KlikDok №{doc_id}."


def test_a_withdrawn_document_ends_the_wait_and_a_gone_token_is_not_retried(exchange: Exchange) -> None:
    """Withdrawal is an end too (outcome ``withdrawn``). When the portal no longer knows the token (the automation
    was stopped meanwhile), its ACCESS_DENIED on the first attempt is final: audited, not retried for hours."""
    kd, emu = exchange.kd, exchange.kd.emu.state
    first = draft(kd, title="Первый")
    sent, _ = run_robot(emu, SEND, DEAL, {"signers": ["user_1"], "document": str(first)})
    answer_of(kd.emu, sent)
    kept, _ = run_robot(emu, WAIT, DEAL, {"document": str(first)})
    gone, _ = run_robot(emu, WAIT, DEAL, {"document": str(first)})
    wait_for(lambda: kd.query("SELECT state FROM robot_calls WHERE code = ?", WAIT) == [("waiting",)] * 2, what="wait")
    with emu.lock:
        del emu.robot_events[gone]
    withdrawn = kd.api("POST", f"/documents/{first}/withdraw", MANAGER, json={"reason": "Передумали"})
    assert withdrawn.status_code == 200, withdrawn.text
    assert answer_of(kd.emu, kept) == {"outcome": "withdrawn", "reason": "", "document_id": first, "error": ""}
    wait_for(
        lambda: kd.query("SELECT count(*) FROM audit_log WHERE action = 'robot.answer_refused'") == [(1,)],
        what="the refusal audited",
    )
    assert kd.query("SELECT status, attempts FROM outbox WHERE kind = 'robot.answer' ORDER BY id") == [
        ("delivered", 1),
        ("delivered", 1),
        ("delivered", 1),
    ]


def test_wait_robot_answers_expired(tmp_path: Path, emulator: PortalEmulator, people: People, smtp: SmtpServer) -> None:
    """Zero days for the counterparty: the deadline has passed once the company signed; the expiry round at the
    next start expires it, and the waiting robot hears so."""
    env = counterparty_env(people.pki, smtp, KLIKDOK_WORKFLOW_COUNTERPARTY_DAYS="0")
    first = start_server(tmp_path / "data", env=env)
    kd = Klikdok(first, emulator)
    second = None
    try:
        kd.install()
        ex = Exchange(kd, smtp, people)
        doc_id = ex.company_signed()
        token, _ = run_robot(emulator.state, WAIT, DEAL, {})
        wait_for(lambda: kd.query("SELECT state FROM robot_calls") == [("waiting",)], what="wait")
        wait_past_deadline(kd, doc_id)
        first.stop()
        second = start_server(tmp_path / "data", env=env)
        kd.server = second
        assert answer_of(emulator, token) == {
            "outcome": "expired",
            "reason": "",
            "document_id": doc_id,
            "error": "",
        }
        assert doc_state(kd, doc_id) == "expired"
        ex.http.close()
    finally:
        first.stop()
        if second is not None:
            second.stop()


def test_a_forged_robot_call_is_refused_and_audited(exchange: Exchange) -> None:
    kd, emu = exchange.kd, exchange.kd.emu.state
    doc_id = draft(kd)
    handler, token, form = robot_call_form(emu, SEND, DEAL, {"signers": ["user_1"]}, application_token="0" * 32)
    forged = post_robot_call(handler, form)
    assert forged.status_code == 403 and forged.json()["error"] == "invalid_application_token"
    stranger = dict(form, auth={**form["auth"], "member_id": "f" * 32})
    assert post_robot_call(handler, stranger).status_code == 403
    no_auth = {k: v for k, v in form.items() if k != "auth"}
    assert post_robot_call(handler, no_auth).status_code == 403
    time.sleep(1.0)
    assert robot_answers(emu, token) == []
    assert kd.query("SELECT count(*) FROM robot_calls") == [(0,)]
    assert doc_state(kd, doc_id) == "draft"
    rejected = kd.query("SELECT details FROM audit_log WHERE action = 'robot.rejected'")
    assert len(rejected) == 3 and all(SEND in d for (d,) in rejected)
    # A genuine call for a card KlikDok does not serve is refused as malformed, not taken.
    handler, _, lead = robot_call_form(emu, SEND, DEAL, {"signers": ["user_1"]})
    lead["document_id"] = ["crm", "CCrmDocumentLead", "LEAD_3"]
    assert post_robot_call(handler, lead).status_code == 400


@pytest.fixture
def crash_run(tmp_path: Path, own_emulator: PortalEmulator, people: People, smtp: SmtpServer) -> Iterator[Any]:
    """Servers on one data directory, started by the test; all of them stopped afterwards."""
    started: list[Any] = []

    def start(**extra: str) -> Any:
        srv = start_server(
            tmp_path / "data",
            env=counterparty_env(people.pki, smtp, **{"KLIKDOK_PORTAL_URL": own_emulator.base_url, **extra}),
        )
        started.append(srv)
        return srv

    yield start
    for srv in started:
        srv.stop()


def waiting_robot(ex: Exchange) -> tuple[int, str]:
    doc_id = ex.company_signed()
    token, _ = run_robot(ex.kd.emu.state, WAIT, DEAL, {})
    wait_for(lambda: ex.kd.query("SELECT state FROM robot_calls") == [("waiting",)], what="wait")
    return doc_id, token


def answer_outbox(kd: Klikdok) -> list[tuple[str, int]]:
    return kd.query("SELECT status, attempts FROM outbox WHERE kind = 'robot.answer'")


def test_killed_after_the_transition_the_answer_is_sent_once_after_restart(
    crash_run: Any, own_emulator: PortalEmulator, people: People, smtp: SmtpServer
) -> None:
    kd = Klikdok(crash_run(), own_emulator)
    kd.install()
    ex = Exchange(kd, smtp, people)
    doc_id, token = waiting_robot(ex)
    link = link_in(ex.invitation())
    old_url = kd.url
    kd.server.stop()
    # The rejection commits (and with it the robot's answer), but the outbox holds it; then the server dies.
    kd.server = crash_run(KLIKDOK_WORKFLOW_OUTBOX_PAUSED="true")
    link = kd.url + link.removeprefix(old_url)  # the same link, at the new server's address
    assert ex.reject(link, "Цена не согласована").status_code == 303
    time.sleep(1.0)
    assert robot_answers(own_emulator.state, token) == []
    assert answer_outbox(kd) == [("pending", 0)]
    kd.server.stop(signal.SIGKILL)
    kd.server = crash_run()
    answer = answer_of(own_emulator, token)
    assert answer["outcome"] == "rejected" and answer["reason"] == "Цена не согласована"
    wait_for(lambda: answer_outbox(kd) == [("delivered", 1)], what="the answer recorded as delivered")
    time.sleep(1.0)
    assert len(robot_answers(own_emulator.state, token)) == 1
    assert doc_state(kd, doc_id) == "rejected_counterparty"
    ex.http.close()


def test_killed_while_the_portal_takes_the_answer_it_is_not_sent_twice(
    crash_run: Any, own_emulator: PortalEmulator, people: People, smtp: SmtpServer
) -> None:
    """The portal has the answer, the server dies before hearing so: after the restart the answer is tried again,
    the portal refuses the token it has answered, and that refusal closes the message."""
    kd = Klikdok(crash_run(), own_emulator)
    kd.install()
    ex = Exchange(kd, smtp, people)
    doc_id, token = waiting_robot(ex)
    stall = own_emulator.state.stall("bizproc.event.send", seconds=60)
    assert ex.reject(link_in(ex.invitation()), "Не тот объём").status_code == 303
    wait_for(lambda: robot_answers(own_emulator.state, token), what="the portal taking the answer")
    assert answer_outbox(kd) == [("sending", 1)]
    kd.server.stop(signal.SIGKILL)
    stall.release.set()
    kd.server = crash_run()
    wait_for(lambda: answer_outbox(kd) == [("delivered", 2)], what="the repeated answer closed")
    time.sleep(1.0)
    assert robot_answers(own_emulator.state, token) == [
        {"outcome": "rejected", "reason": "Не тот объём", "document_id": doc_id, "error": ""}
    ]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'robot.answer_refused'") == [(0,)]
    ex.http.close()
