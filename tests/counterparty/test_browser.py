"""Headless Chromium: the counterparty opens the page from the e-mail, uploads a signature for one document and
rejects another; on a phone-sized screen too. Screenshots go to test-artifacts/counterparty-*.png."""

from __future__ import annotations

from pathlib import Path

from tests.browser import PageLog, browser_page, open_settled, screenshot, wait_or_explain
from tests.counterparty.conftest import PDF, Counterparty, Exchange, link_in


def test_counterparty_signs_one_document_and_rejects_another(
    exchange: Exchange, counterparty: Counterparty, tmp_path: Path
) -> None:
    signed_doc = exchange.company_signed(title="Договор поставки")
    rejected_doc = exchange.company_signed(title="Дополнительное соглашение")
    sign_link = link_in(exchange.invitation(title="Договор поставки"))
    reject_link = link_in(exchange.invitation(title="Дополнительное соглашение"))
    sig_file = tmp_path / "Договор №17.pdf.sig"
    sig_file.write_bytes(counterparty.sign(counterparty.director, PDF))

    with browser_page(width=390, height=844) as page:  # a phone
        open_settled(page, sign_link)
        assert page.locator("h1.cp-title").inner_text() == "Договор поставки"
        assert page.locator("[data-signature]").count() == 1
        assert "Подпись действительна" in page.locator("[data-signature]").inner_text()
        # Nothing wider than the screen: no horizontal scrolling on a phone.
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(page, "counterparty-phone-document")
        page.set_input_files("input[type=file]", str(sig_file))
        page.click("[data-upload]")
        wait_or_explain(page, "[data-message]", 60_000)  # verification under a loaded CI box
        assert "Ваша подпись принята" in page.locator("[data-message]").inner_text()
        assert page.locator("[data-package]").count() == 1
        screenshot(page, "counterparty-phone-signed")
    assert exchange.state(signed_doc) == "completed"

    with browser_page() as page:  # a desktop
        open_settled(page, reject_link)
        screenshot(page, "counterparty-desktop-document")
        page.click("summary.cp-danger")
        page.click("[data-reject]")
        # The browser itself insists on a reason (required field): still on the same page, nothing sent.
        assert page.url == reject_link
        page.fill("textarea[name=reason]", "Сумма в п. 3.1 не совпадает со счётом")
        page.click("[data-reject]")
        wait_or_explain(page, "[data-message]", 60_000)  # verification under a loaded CI box
        assert "Отказ отправлен" in page.locator("[data-message]").inner_text()
        screenshot(page, "counterparty-desktop-rejected")
        # A signature over another file, uploaded on the first document's page, is explained.
    assert exchange.state(rejected_doc) == "rejected_counterparty"
    assert (
        exchange.kd.query("SELECT reason FROM documents WHERE id = ?", rejected_doc)[0][0]
        == "Сумма в п. 3.1 не совпадает со счётом"
    )


def test_signature_over_another_file_is_explained_in_the_browser(
    exchange: Exchange, counterparty: Counterparty, tmp_path: Path
) -> None:
    exchange.company_signed()
    link = link_in(exchange.invitation())
    wrong = tmp_path / "другой.sig"
    wrong.write_bytes(counterparty.sign(counterparty.director, b"some other file"))
    with browser_page() as page:
        log = PageLog(page)
        open_settled(page, link)
        page.set_input_files("input[type=file]", str(wrong))
        page.click("[data-upload]")
        wait_or_explain(page, "[data-error]", 60_000, log)
        assert "Подпись сделана для другого файла" in page.locator("[data-error]").inner_text()
        screenshot(page, "counterparty-desktop-wrong-file")
