"""Issue 17 in headless Chromium: «Новая версия» on a withdrawn document's panel in the deal's tab makes version 2,
opens it with «Версия 2 из 2» and a link back, and the list marks it «v2»; a returned document's author attaches
the corrected files to it; axe finds nothing serious on the panel. Screenshots:
test-artifacts/versions-panel-*.png and versions-returned-files-*.png at 1280 and 390 px."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tests.a11y import axe_violations, blocking, describe
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, Klikdok
from tests.workflow.test_approval import create as create_with_approvers
from tests.workflow.test_document_panel_browser import PDF, both_widths, create, open_tab

pytestmark = pytest.mark.browser


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context per test; an uncaught script error or a native dialog fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    pg.on("dialog", lambda d: (problems.append(f"native {d.type}: {d.message}"), d.dismiss()))
    yield pg
    context.close()
    assert problems == [], problems


def test_new_version_button_makes_version_two_and_links_both_ways(kd: Klikdok, page: Any) -> None:
    v1 = create(kd, [("Договор.pdf", PDF, "application/pdf")], [DIRECTOR], "Договор подряда")
    # While it is being signed the panel offers no new version.
    panel = open_tab(page, kd, MANAGER, v1)
    assert page.locator(f"{panel} button[data-action='Новая версия']").count() == 0
    assert page.locator(f"{panel} [data-versions]").count() == 0
    assert kd.api("POST", f"/documents/{v1}/withdraw", MANAGER, json={"reason": "Другой срок"}).status_code == 200

    panel = open_tab(page, kd, MANAGER, v1)
    button = page.locator(f"{panel} button[data-action='Новая версия']")
    assert button.count() == 1
    button.click()
    page.wait_for_selector("[data-versions] [data-previous-version]")
    ids = [r[0] for r in kd.query("SELECT id FROM documents WHERE previous_id = ?", v1)]
    assert len(ids) == 1
    v2 = ids[0]
    new_panel = f"#kd-doc-{v2}"
    page.wait_for_selector(new_panel)
    assert page.locator(f"{new_panel} [data-version-number]").inner_text() == "Версия 2 из 2"
    assert page.locator(f"{new_panel} [data-previous-version]").get_attribute("data-previous-version") == str(v1)
    assert page.locator(f"{new_panel} button[data-action='Новая версия']").count() == 0  # it is being signed
    assert kd.query("SELECT state FROM documents WHERE id = ?", v2) == [("awaiting_internal",)]
    # The list beside it marks version 2.
    page.wait_for_selector(f"table.kd-documents tr[data-document-id='{v2}'] [data-version='2']")
    assert page.locator(f"table.kd-documents tr[data-document-id='{v1}'] [data-version]").count() == 0
    both_widths(page, "versions-panel")
    found = blocking(axe_violations(page, new_panel))
    assert found == [], describe(found)
    # Back to version 1: «Версия 1 из 2», a link forward, and no second «Новая версия» from it.
    page.click(f"{new_panel} [data-previous-version]")
    old_panel = f"#kd-doc-{v1}"
    page.wait_for_selector(old_panel)
    assert page.locator(f"{old_panel} [data-version-number]").inner_text() == "Версия 1 из 2"
    assert page.locator(f"{old_panel} [data-next-version]").get_attribute("data-next-version") == str(v2)
    assert page.locator(f"{old_panel} button[data-action='Новая версия']").count() == 0
    found = blocking(axe_violations(page, old_panel))
    assert found == [], describe(found)
    page.click(f"{old_panel} [data-next-version]")
    page.wait_for_selector(new_panel)


def test_a_returned_document_gets_its_corrected_files_as_a_new_version(kd: Klikdok, page: Any) -> None:
    """«Вернуть на доработку»: the author picks the corrected file in «Новые файлы…» and presses «Новая
    версия»; version 2 carries the new file and goes to the same approver again."""
    v1 = create_with_approvers(kd, approvers=[CHIEF_ACCOUNTANT])
    back = kd.api(
        "POST",
        f"/documents/{v1}/return",
        CHIEF_ACCOUNTANT,
        json={"comment": "Исправьте сумму в п. 3"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert back.status_code == 200, back.text
    panel = open_tab(page, kd, MANAGER, v1)
    page.set_input_files(
        f"{panel} [data-version-files]",
        files=[{"name": "Договор №25 (испр.).pdf", "mimeType": "application/pdf", "buffer": PDF + b"%fixed\n"}],
    )
    assert page.inner_text(f"{panel} [data-version-chosen]") == "Выбрано новых файлов: 1, они заменят прежние"
    both_widths(page, "versions-returned-files")
    page.click(f"{panel} button[data-action='Новая версия']")
    page.wait_for_selector("[data-versions] [data-previous-version]")
    [(v2,)] = kd.query("SELECT id FROM documents WHERE previous_id = ?", v1)
    new_panel = f"#kd-doc-{v2}"
    page.wait_for_selector(new_panel)
    assert "На согласовании" in page.inner_text(new_panel)
    assert "Договор №25 (испр.).pdf" in page.inner_text(new_panel)
    assert kd.query("SELECT state, reason FROM documents WHERE id = ?", v1) == [("withdrawn", "Заменён версией 2.")]
    found = blocking(axe_violations(page, new_panel))
    assert found == [], describe(found)
