"""Each role's story on the pages, in Chromium, with a screenshot of every step at 1280 and 390 px: the manager
sends a document from the deal's «ЭДО» tab and follows its status; the director signs it from «На подпись» with
a ``.sig`` made by openssl; the counterparty opens the e-mail's link, looks at the document and signs it (or
refuses another with a reason); the head of sales finds the department's documents; the auditor finds a
document, opens its verification report and searches the log; the admin approves a certificate. Every step
checks what the person must see, in Russian; no step loads anything from outside the server (the ``page``
fixture fails the test on such a request), and at 390 px no step scrolls sideways (``snap``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import open_settled
from tests.counterparty.conftest import ALFA_EMAIL, Counterparty, Exchange, link_in
from tests.stories.conftest import open_app_page, open_create_form, open_deal_tab, snap
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import GostPki
from tests.workflow.conftest import ACCOUNTANT, DIRECTOR, GROUP_HEAD, MANAGER, OWN_INN, SALES_HEAD

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)  # "Поставка серверного оборудования", ООО «Альфа-Поставка»
OTHER_INN = "7707083893"


def pdf(text: str) -> bytes:
    return b"%PDF-1.7\n" + text.encode() + b"\n%%EOF\n"


def test_manager_creates_and_sends_a_document_from_the_deal_tab(story: Exchange, page: Any) -> None:
    kd = story.kd
    tab = open_deal_tab(page, kd, MANAGER)
    assert "Поставка серверного оборудования" in tab.inner_text("#kd-entity")
    assert tab.inner_text("#kd-new") == "Создать документ"
    snap(page, "01-manager-deal-tab", tab)

    # Inside the portal the form opens in a slider, as the CRM's own long forms do.
    form = open_create_form(page, tab, kd)
    assert form.inner_text("#kd-create-heading") == "Новый документ"
    form.fill("#kd-title", "Договор поставки №41")
    form.set_input_files("#kd-files", files=[{"name": "Договор №41.pdf", "mimeType": "application/pdf",
                                                "buffer": pdf("Договор поставки №41")}])  # fmt: skip
    form.wait_for_selector(f"#kd-signer-options option[value='{DIRECTOR}']")
    form.fill("#kd-signer-search", "Соколов")
    form.select_option("#kd-signer-options", str(DIRECTOR))
    form.click("#kd-signer-add")
    assert "Соколов Андрей" in form.inner_text("#kd-signers")
    assert form.is_enabled("#kd-create-send")
    snap(page, "02-manager-create-form", form)

    form.click("#kd-create-send")
    page.wait_for_selector("#frame-status[data-slider='closed']", state="attached")
    row = "table.kd-documents tr[data-document-id]:has-text('Договор поставки №41')"
    tab.wait_for_selector(f"{row} .kd-badge[data-state='awaiting_internal']")
    assert tab.inner_text(f"{row} .kd-badge") == "На подписи"
    assert "Соколов" in tab.inner_text(row)  # who signs now
    doc = int(tab.get_attribute(row, "data-document-id") or 0)
    tab.wait_for_selector(f"#kd-doc-{doc} .kd-badge[data-state='awaiting_internal']")
    panel = tab.inner_text(f"#kd-doc-{doc}")
    assert "Договор поставки №41" in panel and "Договор №41.pdf" in panel and "Маршрут" in panel
    assert "Соколов Андрей Викторович" in panel  # the route: who signs
    snap(page, "03-manager-sent", tab)

    # The director signs (his story is the next test); the manager sees the document go on to the client.
    files = {"Договор №41.pdf": pdf("Договор поставки №41")}
    detail = kd.api("GET", f"/documents/{doc}", DIRECTOR).json()
    for f in detail["files"]:
        resp = kd.api("POST", f"/documents/{doc}/files/{f['id']}/signatures", DIRECTOR,
                      content=story.people.sign(DIRECTOR, files[f["name"]]))  # fmt: skip
        assert resp.status_code == 201, resp.text
    tab = open_deal_tab(page, kd, MANAGER)
    tab.wait_for_selector(f"{row} .kd-badge[data-state='awaiting_counterparty']")
    assert tab.inner_text(f"{row} .kd-badge") == "Ожидает контрагента"
    tab.click(f"{row} .kd-open")
    tab.wait_for_selector(f"#kd-cp-state-{doc}")
    assert tab.inner_text(f"#kd-cp-state-{doc}") == "Ждём подписи контрагента"
    assert ALFA_EMAIL in tab.inner_text(f"#kd-cp-{doc}")
    snap(page, "04-manager-awaiting-counterparty", tab)


def test_signer_signs_from_the_queue_by_uploading_a_sig(story: Exchange, page: Any, tmp_path: Path) -> None:
    kd = story.kd
    content = pdf("Счёт на оплату №7")
    doc = kd.create(MANAGER, DEAL, {"Счёт №7.pdf": content}, signers=[DIRECTOR], title="Счёт на оплату №7")
    open_app_page(page, kd, DIRECTOR, "#queue")
    row = f"#kd-queue tr[data-document-id='{doc}']"
    page.wait_for_selector(row)
    assert "Счёт на оплату №7" in page.inner_text(row)
    assert page.inner_text(f"{row} .kd-badge") == "На подписи"
    assert int(page.inner_text("#kd-queue-count")) >= 1
    assert page.get_attribute("#kd-nav a.kd-active", "data-view") == "queue"
    snap(page, "10-signer-queue")

    page.click(f"{row} .kd-open")
    box = f"#kd-sign-{doc}"
    page.wait_for_selector(f"{box} .kd-sig-input")
    text = page.inner_text(box)
    assert "Подписать вручную" in text and "Счёт №7.pdf" in text and "ГОСТ Р 34.11-2012" in text
    assert "gost12sum" in text  # the command that checks the downloaded file's digest
    snap(page, "11-signer-document-open")

    sig = tmp_path / "Счёт №7.pdf.sig"
    sig.write_bytes(story.people.sign(DIRECTOR, content))  # openssl cms -sign with the gost engine, now
    page.locator(f"{box} .kd-sig-input").set_input_files(str(sig))
    page.wait_for_selector(f"#kd-doc-{doc} .kd-badge[data-state='awaiting_counterparty']", timeout=30000)
    assert page.inner_text(f"#kd-doc-{doc} .kd-badge[data-state]") == "Ожидает контрагента"
    assert page.inner_text(f"#kd-doc-{doc} [data-verdict]") == "Подпись действительна"
    page.wait_for_selector(row, state="detached")  # gone from the queue
    snap(page, "12-signer-signed")


def test_counterparty_opens_the_link_previews_and_signs(
    story: Exchange, counterparty: Counterparty, page: Any, tmp_path: Path
) -> None:
    content = pdf("Договор аренды №3")
    doc = story.company_signed({"Договор аренды №3.pdf": content}, title="Договор аренды №3")
    link = link_in(story.invitation(title="Договор аренды №3"))
    open_settled(page, link)
    assert page.inner_text("h1.cp-title") == "Договор аренды №3"
    assert "направляет вам документ на подпись" in page.inner_text(".cp-from")
    assert page.locator("iframe.cp-preview[title='Просмотр: Договор аренды №3.pdf']").count() == 1
    assert "Подпись действительна" in page.inner_text("[data-signature]")
    assert "Соколов Андрей Викторович" in page.inner_text("[data-signature]")
    assert page.inner_text("[data-upload]") == "Отправить подпись"
    snap(page, "20-counterparty-document")

    sig = tmp_path / "Договор аренды №3.pdf.sig"
    sig.write_bytes(counterparty.sign(counterparty.director, content))
    page.set_input_files("input[type=file]", str(sig))
    page.click("[data-upload]")
    page.wait_for_selector("[data-message]", timeout=60000)
    assert "Ваша подпись принята" in page.inner_text("[data-message]")
    assert page.inner_text("[data-package]") == "Скачать подписанный комплект (ZIP)"
    assert "Орлов Дмитрий Сергеевич" in page.inner_text("section.cp-card:has(h2:text('Ваши подписи'))")
    snap(page, "21-counterparty-signed")
    assert story.state(doc) == "completed"


def test_counterparty_rejects_with_a_reason(story: Exchange, page: Any) -> None:
    doc = story.company_signed({"Допсоглашение №2.pdf": pdf("Допсоглашение №2")}, title="Допсоглашение №2")
    link = link_in(story.invitation(title="Допсоглашение №2"))
    open_settled(page, link)
    assert page.inner_text("h1.cp-title") == "Допсоглашение №2"
    page.click("summary.cp-danger")
    assert page.is_visible("textarea[name=reason]")
    assert "Причина отказа" in page.inner_text("[data-reject-form]")
    page.fill("textarea[name=reason]", "Неверный срок аренды в п. 2")
    snap(page, "22-counterparty-reject-reason")
    page.click("[data-reject]")
    page.wait_for_selector("[data-message]", timeout=60000)
    assert "Отказ отправлен" in page.inner_text("[data-message]")
    assert page.locator("[data-upload]").count() == 0  # nothing left to answer
    snap(page, "23-counterparty-rejected")
    assert story.state(doc) == "rejected_counterparty"


def test_department_head_finds_the_departments_documents(story: Exchange, page: Any) -> None:
    kd = story.kd
    doc = kd.create(MANAGER, DEAL, {"Акт сверки.pdf": pdf("Акт сверки")}, signers=[DIRECTOR], title="Акт сверки Q4")
    open_app_page(page, kd, SALES_HEAD, "#department")
    page.wait_for_selector(f"#kd-department tr[data-document-id='{doc}']")
    assert page.get_attribute("#kd-nav a.kd-active", "data-view") == "department"
    row = page.inner_text(f"#kd-department tr[data-document-id='{doc}']")
    assert "Акт сверки Q4" in row and "На подписи" in row and "Морозова" in row  # the author, of a sub-department
    snap(page, "30-head-department")

    page.fill("#kd-dept-filters input[name=q]", "Акт сверки")
    page.select_option("#kd-dept-filters select[name=state]", "awaiting_internal")
    page.click("#kd-dept-filters button[type=submit]")
    page.wait_for_function("document.getElementById('kd-dept-total').textContent === 'Найдено: 1'")
    page.click(f"#kd-department tr[data-document-id='{doc}'] .kd-open")
    page.wait_for_selector(f"#kd-doc-{doc}")
    assert "Акт сверки Q4" in page.inner_text(f"#kd-doc-{doc} h2")
    assert "Морозова Ольга" in page.inner_text(f"#kd-doc-{doc}")
    snap(page, "31-head-filtered-and-opened")


def test_auditor_finds_a_document_opens_its_report_and_searches_the_log(story: Exchange, page: Any) -> None:
    kd = story.kd
    doc = story.company_signed({"Спецификация.pdf": pdf("Спецификация №5")}, title="Спецификация №5")
    open_app_page(page, kd, ACCOUNTANT, "#audit")
    page.fill("#kd-audit-filters input[name=q]", "Спецификация")
    page.click("#kd-audit-filters button[type=submit]")
    row = f"#kd-audit tr[data-document-id='{doc}']"
    # The view lists every document as it opens; wait for the search's answer, not for a row both contain.
    page.wait_for_function("document.getElementById('kd-audit').textContent.includes('Найдено: 1')")
    page.wait_for_selector(row)
    assert "Найдено: 1" in page.inner_text("#kd-audit")
    assert "Ожидает контрагента" in page.inner_text(row)
    snap(page, "40-auditor-search")

    page.click(f"{row} .kd-open")
    page.wait_for_selector(f"#kd-doc-{doc} [data-verdict='valid']")
    assert page.inner_text(f"#kd-doc-{doc} [data-verdict]") == "Подпись действительна"
    with page.context.expect_page() as popup:
        page.click(f"#kd-doc-{doc} [data-action='Отчёт о проверке']")
    report = popup.value
    report.wait_for_load_state()
    assert report.inner_text("h1") == "Отчёт о проверке подписей: Спецификация №5"
    assert report.locator(".verdicts [data-verdict]").all_inner_texts() == [
        report.inner_text(".verdicts [data-verdict='valid']")
    ]  # one file, one headline, and it is valid
    assert "«Спецификация.pdf»" in report.inner_text(".verdicts") and "Соколов" in report.inner_text("body")
    snap(report, "41-auditor-report")
    report.close()

    page.fill("#kd-log-filters input[name=q]", "Спецификация")
    page.click("#kd-log-filters button[type=submit]")
    page.wait_for_selector("#kd-log table tr:nth-child(2)")
    assert page.locator("#kd-log table tr").count() >= 2
    snap(page, "42-auditor-log")


@pytest.fixture(scope="module")
def foreign_certificate(gost_pki: GostPki) -> Issued:
    """The head of the North group's name on a certificate of another organisation: it waits for the admin."""
    pki = gost_pki.pki
    return pki.issue(
        gost_pki.inter,
        "story-volkov-else",
        subject=pki.subject(C="RU", O="ООО «Сторонняя»", SN="Волков", GN="Игорь Сергеевич", CN="Волков Игорь Сергеевич",
                            INNLE=OTHER_INN, SNILS="12121212121"),
    )  # fmt: skip


def test_admin_approves_a_certificate_that_waits(story: Exchange, page: Any, foreign_certificate: Issued) -> None:
    kd = story.kd
    assert kd.try_register_cert(GROUP_HEAD, foreign_certificate).json()["status"] == "pending"
    assert OWN_INN != OTHER_INN
    open_app_page(page, kd, DIRECTOR, "#admin")
    row = "#kd-admin-certificates tr.kd-cert:has-text('Волков Игорь Сергеевич')"
    page.wait_for_selector(f"{row}[data-status='pending']")
    assert page.get_attribute("#kd-nav a.kd-active", "data-view") == "admin"
    assert "Сертификаты сотрудников" in page.inner_text("#view-admin")
    assert page.inner_text(f"{row} .kd-cert-status") == "Ждёт одобрения администратора"
    assert OTHER_INN in page.inner_text(row)
    snap(page, "50-admin-pending")

    page.click(f"{row} .kd-approve")
    page.wait_for_selector(f"{row}[data-status='active']")
    assert page.inner_text(f"{row} .kd-cert-status") == "Действует"
    assert page.locator(f"{row} .kd-revoke").count() == 1
    snap(page, "51-admin-approved")

    open_app_page(page, kd, GROUP_HEAD, "#certificates")
    page.wait_for_selector("#kd-certificates tr.kd-cert[data-status='active']")
    assert page.inner_text("#kd-certificates tr.kd-cert[data-status='active'] .kd-cert-status") == "Действует"
    snap(page, "52-signer-certificate-active")
