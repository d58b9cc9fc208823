"""Rejection, resend (the old link dies), withdrawal, expiry, manual reminders and the e-mail's status."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.counterparty.conftest import (
    ALFA_EMAIL,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    link_in,
    text_of,
)
from tests.support.server import start_server
from tests.workflow.conftest import MANAGER, Klikdok, People, wait_for


def test_rejection_needs_a_reason_and_reaches_the_author(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    empty = exchange.reject(link, "  ")
    assert empty.status_code == 400 and "Укажите причину отказа" in empty.text
    assert exchange.state(doc_id) == "awaiting_counterparty"
    done = exchange.reject(link, "Неверные реквизиты в п. 5.2")
    assert done.status_code == 303 and done.headers["location"].endswith("?done=rejected")
    assert exchange.state(doc_id) == "rejected_counterparty"
    detail = exchange.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    assert detail["reason"] == "Неверные реквизиты в п. 5.2"
    emu = exchange.kd.emu.state
    wait_for(
        lambda: [n for n in emu.notifications if n["USER_ID"] == MANAGER and "Неверные реквизиты" in n["MESSAGE"]],
        what="the author's notification with the reason",
    )
    wait_for(
        lambda: [
            c for c in emu.timeline_comments if "отклонён" in c["COMMENT"] and "Неверные реквизиты" in c["COMMENT"]
        ],
        what="the timeline comment",
    )
    page = exchange.page(link)
    assert page.status_code == 200 and "Вы отклонили документ" in page.text and "data-upload-form" not in page.text
    late = exchange.upload(
        link, {exchange.file_ids(doc_id)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)}
    )
    assert late.status_code == 409 and exchange.state(doc_id) == "rejected_counterparty"
    assert exchange.kd.query("SELECT answer FROM counterparty_links")[0][0] == "rejected"


def test_resend_to_another_address_kills_the_old_link(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    old = link_in(exchange.invitation())
    bad = exchange.kd.api("POST", f"/documents/{doc_id}/counterparty/resend", MANAGER, json={"email": "not an address"})
    assert bad.status_code == 400
    # Only the author may resend (the director sees the document but did not author it).
    foreign = exchange.kd.api("POST", f"/documents/{doc_id}/counterparty/resend", 1, json={})
    assert foreign.status_code == 403
    resent = exchange.kd.api(
        "POST",
        f"/documents/{doc_id}/counterparty/resend",
        MANAGER,
        json={"email": "orlov@alfa-postavka.example", "name": "Орлов Д. С."},
    )
    assert resent.status_code == 200, resent.text
    assert "/c/" not in resent.text
    new = link_in(exchange.invitation("orlov@alfa-postavka.example"))
    assert new != old
    dead = exchange.page(old)
    assert dead.status_code == 410 and "новую ссылку" in dead.text
    fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
    refused = exchange.upload(old, {fid: counterparty.sign(counterparty.director, PDF)})
    assert refused.status_code == 410 and exchange.state(doc_id) == "awaiting_counterparty"
    ok = exchange.upload(new, {fid: counterparty.sign(counterparty.director, PDF)})
    assert ok.status_code == 303 and exchange.state(doc_id) == "completed"
    status = exchange.kd.api("GET", f"/documents/{doc_id}/counterparty/", MANAGER).json()
    assert [h["revoked_reason"] for h in status["history"]] == ["", "resent"]


def test_withdrawn_document_link_says_so(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    r = exchange.kd.api("POST", f"/documents/{doc_id}/withdraw", MANAGER, json={"reason": "Передумали"})
    assert r.status_code == 200, r.text
    page = exchange.page(link)
    assert page.status_code == 410 and "отозвал документ" in page.text
    wait_for(
        lambda: exchange.kd.query("SELECT revoked_reason FROM counterparty_links")[0][0] == "withdrawn",
        what="the link revoked by the scheduler",
    )


def test_manual_reminders_are_sent_and_limited(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    for left in (2, 1, 0):
        r = exchange.kd.api("POST", f"/documents/{doc_id}/counterparty/remind", MANAGER)
        assert r.status_code == 200 and r.json()["reminders_left_today"] == left, r.text
    over = exchange.kd.api("POST", f"/documents/{doc_id}/counterparty/remind", MANAGER)
    assert over.status_code == 429 and "Попробуйте завтра" in over.json()["message"]
    reminders = wait_for(
        lambda: (
            len(exchange.smtp.mailbox.to(ALFA_EMAIL, "Напоминание")) == 3
            and exchange.smtp.mailbox.to(ALFA_EMAIL, "Напоминание")
        ),
        what="three reminders",
    )
    assert all(link_in(m) == link for m in reminders)
    assert "ждёт вашего ответа" in text_of(reminders[0])


def test_expired_link_and_expired_deadline(
    tmp_path: Path, emulator: Any, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    # A link that lives zero days: expired the moment it is issued.
    srv = start_server(tmp_path / "a", env=counterparty_env(people.pki, smtp, KLIKDOK_POLICY_LINK_TTL_DAYS="0"))
    try:
        ex = Exchange(Klikdok(srv, emulator), smtp, people)
        ex.kd.install()
        doc_id = ex.company_signed()
        link = link_in(ex.invitation())
        page = ex.page(link)
        assert page.status_code == 410 and "Срок действия ссылки истёк" in page.text
        refused = ex.upload(
            link, {ex.file_ids(doc_id)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)}
        )
        assert refused.status_code == 410 and ex.state(doc_id) == "awaiting_counterparty"
        ex.http.close()
    finally:
        srv.stop()
    # A document whose counterparty deadline has passed (zero days to answer).
    emulator.state.reset(emulator.state.config)
    srv = start_server(tmp_path / "b", env=counterparty_env(people.pki, smtp, KLIKDOK_WORKFLOW_COUNTERPARTY_DAYS="0"))
    try:
        ex = Exchange(Klikdok(srv, emulator), smtp, people)
        ex.kd.install()
        doc_id = ex.company_signed(title="Акт сверки")
        link = link_in(ex.invitation(title="Акт сверки"))
        page = ex.page(link)
        assert page.status_code == 410 and "Срок подписания истёк" in page.text
        rejected = ex.reject(link, "Не успели")
        assert rejected.status_code == 410 and ex.state(doc_id) in ("awaiting_counterparty", "expired")
        ex.http.close()
    finally:
        srv.stop()


def test_audit_chain_holds_after_the_exchange(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    exchange.upload(link, {exchange.file_ids(doc_id)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)})
    actions = [
        a for (a,) in exchange.kd.query("SELECT action FROM audit_log WHERE object_type = 'document' ORDER BY id")
    ]
    for expected in (
        "counterparty.link_issued",
        "counterparty.email_sent",
        "signature.accepted",
        "document.completed",
        "counterparty.signed",
    ):
        assert expected in actions, actions
    details = exchange.kd.query("SELECT details FROM audit_log WHERE action = 'counterparty.link_issued'")[0][0]
    assert link.rsplit("/", 1)[1] not in details and json.loads(details)["recipient"] == ALFA_EMAIL
    from tests.support.server import clean_env, run_cli

    check = run_cli("audit", "verify", env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(exchange.kd.server.data_dir)))
    assert check.returncode == 0, check.stdout + check.stderr
