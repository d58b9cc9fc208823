"""The pages in headless Chromium (Debian's chromium through Playwright): the CRM tab inside the emulator's deal
card, the signer's queue with batch selection and .sig uploads (the manual route; the agent and CryptoARM routes
and the counterparty panel are in tests/pages/), and the department board with filters.
Screenshots go to test-artifacts/workflow/ (gitignored)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.pages.conftest import frame_named, open_app_page
from tests.support.server import REPO
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, SALES_HEAD, Klikdok, People, wait_for

pytestmark = pytest.mark.browser

ARTIFACTS = REPO / "test-artifacts" / "workflow"
PDF = b"%PDF-1.4\n" + "Договор оказания услуг".encode() + b"\n%%EOF\n"


def shot(pg, name: str) -> None:  # type: ignore[no-untyped-def]  # pg is a Playwright page, untyped here
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def app_frame(page, name: str, url: str):  # type: ignore[no-untyped-def]  # Playwright objects, untyped here
    return frame_named(page, name, url)


def test_crm_tab_in_the_deal_card_create_send_and_history(kd: Klikdok, page, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    # Issue 15: inside the portal the create form opens in a slider with the app's own page (BX24.openApplication),
    # not as a dialog squeezed into the tab's frame; the portal knows the app's handler.
    kd.emu.state.app_handler = f"{kd.url}/b24/app"
    page.goto(f"{kd.emu.base_url}/crm/deal/details/1/?user={MANAGER}")
    frame = app_frame(page, "app-frame", kd.url)
    frame.wait_for_selector("#kd-new")
    assert "Поставка серверного оборудования" in frame.inner_text("#kd-entity")
    frame.wait_for_selector("#kd-empty")
    frame.click("#kd-new")
    slider = app_frame(page, "app-slider", kd.url)
    slider.wait_for_selector("#kd-create-form")
    slider.fill("#kd-title", "Договор оказания услуг")
    slider.set_input_files(
        "#kd-files",
        files=[
            {"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF},
            {"name": "Приложение 1.pdf", "mimeType": "application/pdf", "buffer": PDF + b"appendix"},
        ],
    )
    slider.wait_for_selector("#kd-signer-options option")
    slider.fill("#kd-signer-search", "Соколов")
    slider.select_option("#kd-signer-options", str(DIRECTOR))
    slider.click("#kd-signer-add")
    assert "Соколов" in slider.inner_text("#kd-signers")
    shot(page, "01-tab-create-dialog")
    slider.click("#kd-create-send")
    page.wait_for_selector("#frame-status[data-slider='closed']", state="attached")
    frame.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    frame.wait_for_selector(".kd-history li")
    assert "отправлен на подпись" in frame.inner_text(".kd-history")
    assert "Соколов" in frame.inner_text(".kd-steps")
    assert frame.locator(".kd-digest").count() >= 2
    shot(page, "02-tab-document-sent")
    doc_id = kd.query("SELECT id FROM documents")[0][0]
    wait_for(lambda: [n for n in kd.emu.state.notifications if n["USER_ID"] == DIRECTOR], what="signer notified")
    # Withdraw from the tab (the in-page dialog replaced window.prompt); the badge and the history follow.
    frame.click("[data-action='Отозвать']")
    frame.fill("#kd-withdraw-reason", "Ошибка в реквизитах")
    frame.click("#kd-withdraw-ok")
    frame.wait_for_selector("table.kd-documents [data-state='withdrawn']")
    frame.wait_for_selector(f"#kd-doc-{doc_id} .kd-badge[data-state='withdrawn']")
    assert "Ошибка в реквизитах" in frame.inner_text(f"#kd-doc-{doc_id}")
    shot(page, "03-tab-withdrawn")


def test_signers_queue_select_all_and_sign_the_batch(kd: Klikdok, people: People, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    docs = {
        kd.create(
            MANAGER, ("deal", 1), {f"Счёт {n}.pdf": PDF + str(n).encode()}, signers=[DIRECTOR], title=f"Счёт №{n}"
        ): PDF + str(n).encode()
        for n in (1, 2, 3)
    }
    open_app_page(page, kd, DIRECTOR, "#queue")
    page.wait_for_selector("#kd-queue table.kd-documents")
    assert page.locator("#kd-queue tr[data-document-id]").count() == 3
    assert page.inner_text("#kd-queue-count") == "3"
    page.check("#kd-select-all")
    assert page.is_enabled("#kd-sign-manual")
    page.click("#kd-sign-manual")
    page.wait_for_selector("#kd-batch-note")
    page.wait_for_selector("#kd-batch .kd-sig-input >> nth=2")
    shot(page, "04-queue-batch-selected")
    assert kd.query("SELECT count(*) FROM jobs") == [(0,)]  # by hand: no job for an agent to pick up
    sig_dir = kd.server.data_dir.parent / "sigs"
    sig_dir.mkdir()
    for doc_id, data in docs.items():
        box = page.locator(f"#kd-sign-{doc_id}")
        path = sig_dir / f"{doc_id}.sig"
        path.write_bytes(people.sign(DIRECTOR, data))
        box.locator(".kd-sig-input").set_input_files(str(path))
        page.wait_for_selector(f"#kd-doc-{doc_id} .kd-badge[data-state='awaiting_counterparty']")
    page.wait_for_selector("#kd-queue-empty")
    states = {row[0] for row in kd.query("SELECT state FROM documents")}
    assert states == {"awaiting_counterparty"}
    assert kd.query("SELECT source, count(*) FROM signatures GROUP BY source") == [("upload", 3)]
    shot(page, "05-queue-signed")


def test_queue_refuses_a_wrong_signature_and_rejects_with_reason(kd: Klikdok, people: People, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, ("deal", 1), {"Акт.pdf": PDF}, signers=[DIRECTOR], title="Акт")
    open_app_page(page, kd, DIRECTOR, "#queue")
    page.click("#kd-queue .kd-open")
    page.wait_for_selector(f"#kd-sign-{doc} .kd-sig-input")
    wrong = kd.server.data_dir.parent / "wrong.sig"
    wrong.write_bytes(people.sign(DIRECTOR, b"another document"))
    page.locator(f"#kd-sign-{doc} .kd-sig-input").set_input_files(str(wrong))
    page.wait_for_selector(f"#kd-sign-{doc} .kd-error")
    assert "не для этого документа" in page.inner_text(f"#kd-sign-{doc}")
    shot(page, "06-queue-wrong-signature")
    page.fill(f"#kd-sign-{doc} .kd-reason", "Нет подписи контрагента на приложении")
    page.click(f"#kd-sign-{doc} .kd-btn-red")
    page.wait_for_selector(f"#kd-doc-{doc} .kd-badge[data-state='rejected_internal']")
    assert kd.query("SELECT reason FROM documents WHERE id = ?", doc) == [("Нет подписи контрагента на приложении",)]


def test_department_board_filters_and_overdue(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    a = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[DIRECTOR], title="Поставка: договор")
    b = kd.create(MANAGER, ("deal", 1), {"b.pdf": PDF}, signers=[DIRECTOR], title="Поставка: спецификация")
    assert kd.api("POST", f"/documents/{b}/withdraw", MANAGER, json={"reason": "другая редакция"}).status_code == 200
    c = kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"c.pdf": PDF}, signers=[DIRECTOR], title="Акт бухгалтерии")
    # A draft is its author's alone: the head of the author's department does not see it on the board.
    draft = kd.create(
        MANAGER, ("deal", 1), {"d.pdf": PDF}, signers=[SALES_HEAD], title="Поставка: черновик", send=False
    )
    # Test setup: make the first document's deadline lie in the past (what fourteen days of waiting would do).
    conn = sqlite3.connect(kd.server.data_dir / "klikdok.db")
    conn.execute("UPDATE documents SET deadline = '2020-01-01T00:00:00+00:00' WHERE id = ?", [a])
    conn.commit()
    conn.close()
    open_app_page(page, kd, SALES_HEAD, "#department")
    page.wait_for_selector("#kd-department table.kd-documents")
    ids = {
        int(x)
        for x in page.locator("#kd-department tr[data-document-id]").evaluate_all(
            "rows => rows.map(r => r.dataset.documentId)"
        )
    }
    assert ids == {a, b}  # c belongs to Accounting, not to the head of sales' subtree; the draft is not shown
    assert draft not in ids
    assert page.locator(f"#kd-department tr[data-document-id='{a}'].kd-overdue").count() == 1
    shot(page, "07-department-board")
    page.check("#kd-dept-filters input[name=overdue]")
    page.click("#kd-dept-filters button")
    page.wait_for_function("document.querySelector('#kd-dept-total').textContent.includes('1')")
    assert page.locator("#kd-department tr[data-document-id]").count() == 1
    page.uncheck("#kd-dept-filters input[name=overdue]")
    page.select_option("#kd-dept-filters select[name=state]", "withdrawn")
    page.click("#kd-dept-filters button")
    page.wait_for_selector(f"#kd-department tr[data-document-id='{b}']")
    assert page.locator("#kd-department tr[data-document-id]").count() == 1
    page.select_option("#kd-dept-filters select[name=state]", "")
    page.fill("#kd-dept-filters input[name=q]", "спецификация")
    page.click("#kd-dept-filters button")
    page.wait_for_function("document.querySelectorAll('#kd-department tr[data-document-id]').length === 1")
    page.click("#kd-department .kd-open")
    page.wait_for_selector(f"#kd-doc-{b}")
    shot(page, "08-department-filtered")
    assert c not in ids


def test_auditor_searches_everything_reads_the_log_and_exports(kd: Klikdok, people: People, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    from tests.workflow.conftest import AUDITOR

    kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[DIRECTOR], title="Договор с Альфой")
    kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"b.pdf": PDF}, signers=[DIRECTOR], title="Акт с Технопарком")
    open_app_page(page, kd, AUDITOR, "#audit")
    page.fill("#kd-audit-filters input[name=q]", "альфой")
    page.click("#kd-audit-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#kd-audit tr[data-document-id]').length === 1")
    with page.expect_download() as dl:
        page.click("#kd-audit-export")
    csv = Path(dl.value.path()).read_text(encoding="utf-8-sig")
    assert "Договор с Альфой" in csv and "Акт с Технопарком" not in csv
    # The action filter is a list of phrases now (issue 15), and the log loads with the view.
    page.select_option("#kd-log-filters select[name=action]", "document.sent")
    page.click("#kd-log-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#kd-log table tr').length === 3")  # header + two sends
    shot(page, "09-audit")


def test_document_page_shows_each_signatures_verdict(kd: Klikdok, people: People, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """Issue 13: the page words a signature's verdict as the server's vocabulary does; one accepted without a
    revocation check (what `[trust] revocation = "warn"` stores) is amber and says so, never «действительна»."""
    import json

    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    files = {"Договор.pdf": PDF + b"1", "Приложение.pdf": PDF + b"2"}
    doc = kd.create(MANAGER, ("deal", 1), files, signers=[DIRECTOR, CHIEF_ACCOUNTANT], title="Договор с приложением")
    detail = kd.api("GET", f"/documents/{doc}", DIRECTOR).json()
    for f in detail["files"]:
        r = kd.api("POST", f"/documents/{doc}/files/{f['id']}/signatures", DIRECTOR,
                   content=people.sign(DIRECTOR, files[f["name"]]))  # fmt: skip
        assert r.status_code == 201, r.text
    # Test setup: the second signature as the warn policy stores it (revocation unknown, accepted).
    [(sig_id, verification)] = kd.query("SELECT id, verification FROM signatures ORDER BY id DESC LIMIT 1")
    result = json.loads(verification)
    result["status"] = result["signatures"][0]["status"] = "indeterminate"
    result["signatures"][0]["reasons"] = ["revocation_unknown"]
    result["signatures"][0]["certificate"]["revocation"] = "unknown"
    conn = sqlite3.connect(kd.server.data_dir / "klikdok.db")
    conn.execute("UPDATE signatures SET status = 'indeterminate', verification = ? WHERE id = ?",
                 [json.dumps(result), sig_id])  # fmt: skip
    conn.commit()
    conn.close()

    open_app_page(page, kd, CHIEF_ACCOUNTANT, "#queue")
    page.click("#kd-queue .kd-open")
    page.wait_for_selector(f"#kd-doc-{doc} [data-signature='{sig_id}'] [data-verdict]")
    panel = f"#kd-doc-{doc}"
    valid = page.locator(f"{panel} li[data-signature]:not([data-signature='{sig_id}'])")
    warned = page.locator(f"{panel} li[data-signature='{sig_id}']")
    assert valid.locator("[data-verdict]").get_attribute("data-verdict") == "valid"
    assert valid.locator("[data-verdict]").inner_text() == "Подпись действительна"
    assert warned.locator("[data-verdict]").get_attribute("data-verdict") == "indeterminate"
    text = warned.inner_text()
    assert "Принята без проверки отзыва" in text and "ПОДПИСЬ ПРИНЯТА БЕЗ ПРОВЕРКИ ОТЗЫВА" in text
    assert "действительна" not in text.lower()
    colour = warned.locator("[data-verdict]").evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(255, 241, 214)"  # amber, never the green of a valid one
    shot(page, "07-document-verdicts")
