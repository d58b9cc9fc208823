"""The counterparty's part of a document on the CRM tab, inside the emulated deal card, in headless Chromium:
the invitation's status (e-mail delivered, link not opened), recipients from the CRM, "Отправить повторно" to an
edited address (the new e-mail arrives, the old link dies), "Напомнить" up to the daily limit (the 429 message),
read-only for a route member who is not the author; the counterparty's rejection reason and the identity-policy
warning on a signature from another organisation. The personal link never reaches the page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.counterparty.conftest import (
    ALFA_EMAIL,
    LINK_RE,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    link_in,
)
from tests.pages.conftest import open_deal_tab, server_env_for, shot
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for

pytestmark = pytest.mark.browser
NEW_EMAIL = "zakupki@alfa-postavka.example"
DEAL = ("deal", 1)


def open_document(frame: Any, doc_id: int) -> str:
    frame.click(f"#kd-documents tr[data-document-id='{doc_id}'] .kd-open")
    panel = f"#kd-cp-{doc_id}"
    frame.wait_for_selector(f"{panel}[data-loaded='yes']")
    return panel


def test_status_resend_to_an_edited_address_and_remind_up_to_the_limit(
    kd: Klikdok, people: People, page: Any, smtp: SmtpServer
) -> None:
    ex = Exchange(kd, smtp, people)
    doc = ex.company_signed()
    old_link = link_in(ex.invitation())
    wait_for(lambda: kd.query("SELECT mail_status FROM counterparty_links") == [("sent",)], what="invitation sent")

    frame = open_deal_tab(page, kd, MANAGER)
    panel = open_document(frame, doc)
    assert frame.inner_text(f"#kd-cp-state-{doc}") == "Ждём подписи контрагента"
    assert ALFA_EMAIL in frame.inner_text(f"{panel} .kd-cp-recipient")
    assert "письмо доставлено" in frame.inner_text(f"{panel} .kd-cp-mail")
    assert "ссылку ещё не открывали" in frame.inner_text(panel)
    assert "ООО «Альфа-Поставка»" in frame.inner_text(panel)
    # Recipients come from the deal's contacts and the company, as choices, never as links.
    frame.wait_for_selector(
        f"{panel} .kd-cp-recipients option[value='a.belova@alfa-postavka.example']", state="attached"
    )
    options = frame.locator(f"{panel} .kd-cp-recipients option").evaluate_all("os => os.map(o => o.value)")
    assert {"d.orlov@alfa-postavka.example", "a.belova@alfa-postavka.example", ALFA_EMAIL} <= set(options)
    assert not LINK_RE.search(frame.content()) and "/c/" not in frame.content()
    # The portal resized its frame to the tab's content, counterparty panel included.
    height = int(page.get_attribute("#frame-status", "data-resized") or 0)
    assert height > 400 and abs(height - frame.evaluate("document.body.getBoundingClientRect().height")) < 40
    shot(page, "10-tab-counterparty-waiting")

    # The counterparty opens the old link once: the panel shows it after a reload.
    assert ex.page(old_link).status_code == 200

    # Resend: pick a CRM contact, then correct the address by hand.
    frame.select_option(f"{panel} .kd-cp-recipients", "a.belova@alfa-postavka.example")
    assert frame.input_value(f"{panel} .kd-cp-email") == "a.belova@alfa-postavka.example"
    assert frame.input_value(f"{panel} .kd-cp-name") == "Белова Анна Игоревна"
    frame.fill(f"{panel} .kd-cp-email", NEW_EMAIL)
    frame.fill(f"{panel} .kd-cp-name", "Отдел закупок")
    page.once("dialog", lambda d: d.accept())
    frame.click(f"{panel} [data-action='cp-resend']")
    frame.wait_for_selector(f"{panel} .kd-cp-message.kd-ok")
    assert f"Новая ссылка отправлена на {NEW_EMAIL}" in frame.inner_text(f"{panel} .kd-cp-message")
    new_link = link_in(ex.invitation(NEW_EMAIL))
    assert new_link != old_link and ex.page(old_link).status_code == 410
    # The panel follows the e-mail until it is delivered; the first link is listed as replaced.
    frame.wait_for_function(
        f"document.querySelector('{panel} .kd-cp-mail').textContent.includes('доставлено')", timeout=20000
    )
    assert "Отдел закупок" in frame.inner_text(f"{panel} .kd-cp-recipient")
    rows = frame.locator(f"{panel} .kd-cp-history tr[data-link-id]")
    assert rows.count() == 2
    assert "заменена новой ссылкой" in rows.nth(1).inner_text() and "1" in rows.nth(1).inner_text()
    assert kd.query(
        "SELECT recipient_email, recipient_name, revoked_at IS NULL FROM counterparty_links ORDER BY id"
    ) == [(ALFA_EMAIL, "ООО «Альфа-Поставка»", 0), (NEW_EMAIL, "Отдел закупок", 1)]
    shot(page, "11-tab-counterparty-resent")

    # Remind: once from the panel, twice elsewhere (another tab), then the panel meets the daily limit.
    assert "напоминаний на сегодня: 3" in frame.inner_text(f"{panel} .kd-cp-left")
    frame.click(f"{panel} [data-action='cp-remind']")
    frame.wait_for_function(f"document.querySelector('{panel} .kd-cp-left').textContent.includes(': 2')")
    assert f"Напоминание отправлено на {NEW_EMAIL}" in frame.inner_text(f"{panel} .kd-cp-message")
    for _ in range(2):
        assert kd.api("POST", f"/documents/{doc}/counterparty/remind", MANAGER, DEAL).status_code == 200
    frame.click(f"{panel} [data-action='cp-remind']")
    frame.wait_for_selector(f"{panel} .kd-cp-message.kd-warn")
    assert "Сегодня уже отправлено напоминаний: 3" in frame.inner_text(f"{panel} .kd-cp-message")
    assert frame.is_disabled(f"{panel} [data-action='cp-remind']")
    assert "лимит напоминаний на сегодня исчерпан" in frame.inner_text(f"{panel} .kd-cp-left")
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'counterparty.reminder_queued'") == [(3,)]
    shot(page, "12-tab-counterparty-reminder-limit")

    # The director signed the document but is not its author: the same panel, without the author's actions.
    frame = open_deal_tab(page, kd, DIRECTOR)
    panel = open_document(frame, doc)
    assert NEW_EMAIL in frame.inner_text(f"{panel} .kd-cp-recipient")
    assert frame.locator(f"{panel} .kd-cp-actions").count() == 0


def test_rejection_reason_and_identity_warning(
    tmp_path: Path, emulator: Any, people: People, page: Any, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    srv = start_server(
        tmp_path / "data", env=server_env_for(people, smtp, KLIKDOK_POLICY_COUNTERPARTY_IDENTITY_MISMATCH="warn")
    )
    try:
        kd = Klikdok(srv, emulator)
        kd.install()
        ex = Exchange(kd, smtp, people)
        rejected = ex.company_signed(title="Договор поставки")
        link = link_in(ex.invitation(title="Договор поставки"))
        reason = "Цена в спецификации не согласована с отделом закупок"
        assert ex.reject(link, reason).status_code == 303
        warned = ex.company_signed(files={"Акт сверки.pdf": PDF + b"act"}, title="Акт сверки")
        link = link_in(ex.invitation(title="Акт сверки"))
        fid = ex.file_ids(warned)["Акт сверки.pdf"]
        assert ex.upload(link, {fid: counterparty.sign(counterparty.stranger, PDF + b"act")}).status_code == 303
        assert ex.state(warned) == "completed" and ex.state(rejected) == "rejected_counterparty"

        frame = open_deal_tab(page, kd, MANAGER)
        panel = open_document(frame, rejected)
        assert frame.inner_text(f"#kd-cp-state-{rejected}") == "Отклонён контрагентом"
        assert reason in frame.inner_text(f"#kd-cp-reason-{rejected}")
        assert frame.locator(f"{panel} .kd-cp-actions").count() == 0  # nothing to resend or remind
        assert "отклонено" in frame.inner_text(f"{panel} .kd-cp-history")
        shot(page, "13-tab-counterparty-rejected")

        panel = open_document(frame, warned)
        assert frame.inner_text(f"#kd-cp-state-{warned}") == "Подписан контрагентом"
        warning = frame.inner_text(f"{panel} .kd-cp-warning")
        assert "не совпадает с ИНН контрагента" in warning and "Иванов Пётр" in warning
        assert "подписано" in frame.inner_text(f"{panel} .kd-cp-history")
        shot(page, "14-tab-counterparty-signed-with-warning")
        ex.http.close()
    finally:
        srv.stop()
