"""Согласование in headless Chromium (issue 17): the create dialog with approvers and observers, the panel's
approval progress, «Согласовать», «Вернуть на доработку» with a required comment in an in-page dialog, the app
page's «На согласование», and an axe-core check of the panel. Screenshots: test-artifacts/approval-*.png."""

from __future__ import annotations

from typing import Any

import pytest

from tests.a11y import assert_accessible
from tests.browser import screenshot
from tests.pages.conftest import open_app_page
from tests.pages.conftest import open_tab as open_tab_page
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, GROUP_HEAD, MANAGER, SALES_HEAD, Klikdok
from tests.workflow.test_document_panel_browser import open_tab

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n" + "Договор поставки".encode() + b"\n%%EOF\n"
FILE = {"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}


def pick(pg: Any, prefix: str, user_id: int, search: str) -> None:
    """Search, choose and add one person in the approvers' or the observers' picker."""
    pg.fill(f"#{prefix}-search", search)
    pg.select_option(f"#{prefix}-options", str(user_id))
    pg.click(f"#{prefix}-add")
    pg.wait_for_selector(f"#{prefix}-chosen li[data-user-id='{user_id}']")


def test_create_with_approvers_approve_and_return_from_the_panel(kd: Klikdok, page: Any) -> None:
    # The author creates it in the tab's dialog: a signer, two approvers one after another, an observer.
    open_tab_page(page, kd, MANAGER)
    page.click("#kd-new")
    page.wait_for_selector("dialog#kd-create[open]")
    page.fill("#kd-title", "Договор на согласование")
    page.set_input_files("#kd-files", files=[FILE])
    page.wait_for_selector("#kd-approvers-options option")
    page.fill("#kd-signer-search", "Соколов")
    page.select_option("#kd-signer-options", str(DIRECTOR))
    page.click("#kd-signer-add")
    assert page.inner_text("#kd-create-send") == "Отправить на подпись"
    pick(page, "kd-approvers", CHIEF_ACCOUNTANT, "Новикова")
    assert page.inner_text("#kd-create-send") == "Отправить на согласование"
    pick(page, "kd-approvers", SALES_HEAD, "Кузнецова")
    pick(page, "kd-observers", GROUP_HEAD, "")
    assert page.is_checked("#kd-approval-sequential")
    screenshot(page, "approval-create-dialog")
    page.click("#kd-create-send")
    page.wait_for_selector("dialog#kd-create", state="hidden")
    doc_id = kd.query("SELECT max(id) FROM documents")[0][0]
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("in_approval",)]
    assert kd.query(
        "SELECT user_id, state FROM approval_steps WHERE document_id = ? AND round = 1 ORDER BY position", doc_id
    ) == [(CHIEF_ACCOUNTANT, "current"), (SALES_HEAD, "waiting")]
    assert kd.query("SELECT user_id FROM document_observers WHERE document_id = ?", doc_id) == [(GROUP_HEAD,)]
    panel = f"#kd-doc-{doc_id}"
    page.wait_for_selector(f"{panel} [data-approval]")
    assert page.locator(f"{panel} [data-action='Согласовать']").count() == 0  # the author does not approve

    # The first approver sees it in «На согласование» on the app page and approves it from the panel.
    open_app_page(page, kd, CHIEF_ACCOUNTANT)
    page.wait_for_selector(f"#kd-approvals tr[data-document-id='{doc_id}']")
    page.click(f"#kd-approvals tr[data-document-id='{doc_id}'] .kd-open")
    page.wait_for_selector(f"{panel} [data-action='Согласовать']")
    assert "Наблюдатели:" in page.inner_text(f"{panel} [data-observers]")
    assert_accessible(page, panel)
    screenshot(page, "approval-panel-approver")
    page.click(f"{panel} [data-action='Согласовать']")
    page.wait_for_selector(f"{panel} li[data-approver='{CHIEF_ACCOUNTANT}'][data-approval-state='approved']")
    assert page.locator(f"{panel} [data-action='Согласовать']").count() == 0
    page.wait_for_selector("#kd-approvals-empty")

    # The second one returns it: the comment is required, in an in-page dialog.
    open_tab(page, kd, SALES_HEAD, doc_id)
    page.click(f"{panel} [data-action='Вернуть на доработку']")
    page.wait_for_selector("dialog#kd-return[open]")
    assert page.evaluate("document.activeElement.id") == "kd-return-comment"
    assert_accessible(page, "dialog#kd-return")
    page.click("#kd-return-ok")
    assert "Напишите, что нужно исправить" in page.inner_text("#kd-return-error")
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("in_approval",)]
    page.fill("#kd-return-comment", "Уточните сроки поставки")
    screenshot(page, "approval-return-dialog")
    page.click("#kd-return-ok")
    page.wait_for_selector("dialog#kd-return", state="detached")
    page.wait_for_selector(f"{panel} [data-returned-comment]")
    assert "Уточните сроки поставки" in page.inner_text(f"{panel} [data-returned-comment]")
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("returned",)]
    assert kd.query(
        "SELECT user_id, state, comment FROM approval_steps WHERE document_id = ? AND round = 1 ORDER BY position",
        doc_id,
    ) == [(CHIEF_ACCOUNTANT, "approved", ""), (SALES_HEAD, "sent_back", "Уточните сроки поставки")]

    # The author sees it returned with the comment and sends it again: a new round starts.
    open_tab(page, kd, MANAGER, doc_id)
    assert "На доработке" in page.inner_text(f"{panel} .kd-badge")
    # The history names the approvers who acted.
    history = page.inner_text(f"{panel} .kd-history")
    assert "документ возвращён на доработку · Кузнецова Мария Андреевна" in history
    assert_accessible(page, panel)
    screenshot(page, "approval-panel-returned")
    page.click(f"{panel} [data-action='Отправить на согласование']")
    page.wait_for_selector(f"{panel} ol[aria-label='Согласование, круг 2']")
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("in_approval",)]
    assert kd.query(
        "SELECT count(*) FROM audit_log WHERE object_id = ? AND action = 'document.approval_requested'", str(doc_id)
    ) == [(2,)]
