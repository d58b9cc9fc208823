"""The CRM-following views in headless Chromium: the company card's roll-up grouped by card with its filters, a
deal's responsible person looking at its document without a single action, and the «ЭДО» tab of a contact and of
a smart process's item creating and sending a document through the form. Screenshots: test-artifacts/crm-*.png.
"""

from __future__ import annotations

from typing import Any

import pytest

from demo.emulator_visibility import SMART_TYPE_ID
from tests.browser import screenshot
from tests.crm.visibility_fixtures import crm_kd_fixture  # noqa: F401 - the crm_kd fixture, used by name
from tests.pages.conftest import hidden_form, query
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, SALES_MANAGER, Klikdok, wait_for

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n" + "Договор".encode() + b"\n%%EOF\n"
FILE = {"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}


def open_card_tab(pg: Any, kd: Klikdok, user_id: int, placement: str, entity_id: int) -> None:
    """The tab of any card on its own, as the portal POSTs it (the create form is the in-page dialog there)."""
    form = kd.emu.state.placement_form(user_id, placement, {"ID": str(entity_id)})
    pg.goto(f"{kd.emu.base_url}/?user={user_id}")
    pg.set_content(
        hidden_form("f", f"{kd.url}/b24/tab?{query(kd)}", "_self", form)
        + '<script>document.getElementById("f").submit();</script>'
    )
    pg.wait_for_url(f"{kd.url}/b24/tab*")
    pg.wait_for_selector("#kd-documents")


def headings(pg: Any) -> list[str]:
    return [str(t) for t in pg.eval_on_selector_all("h3.kd-rollup-card", "els => els.map(e => e.textContent)")]


def test_company_tab_groups_the_roll_up_and_filters_it(crm_kd: Klikdok, page: Any) -> None:
    kd = crm_kd
    kd.create(DIRECTOR, ("company", 2), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Рамочный договор")
    kd.create(DIRECTOR, ("deal", 1), {"b.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Спецификация")
    kd.create(DIRECTOR, ("contact", 1), {"c.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Доверенность")
    open_card_tab(page, kd, DIRECTOR, "CRM_COMPANY_DETAIL_TAB", 2)
    page.wait_for_selector("h3.kd-rollup-card")
    assert headings(page) == [
        "Компания",
        "Сделка «Поставка серверного оборудования»",
        "Контакт Орлов Дмитрий Сергеевич",
    ]
    assert page.inner_text("table.kd-documents >> nth=1").count("Спецификация") == 1
    screenshot(page, "crm-rollup")
    page.select_option("#kd-rollup-kind", "deal")
    page.wait_for_function("document.querySelectorAll('h3.kd-rollup-card').length === 1")
    assert headings(page) == ["Сделка «Поставка серверного оборудования»"]
    page.select_option("#kd-rollup-kind", "")
    page.select_option("#kd-rollup-group", "final")  # right after the kind: the later answer is the one shown
    page.wait_for_selector("#kd-empty")
    assert "Нет документов, подходящих под отбор" in page.inner_text("#kd-empty")
    page.select_option("#kd-rollup-group", "open")
    page.wait_for_function("document.querySelectorAll('h3.kd-rollup-card').length === 3")


def test_responsible_person_sees_the_deal_document_without_actions(crm_kd: Klikdok, page: Any) -> None:
    kd = crm_kd
    doc = kd.create(DIRECTOR, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Договор по сделке")
    open_card_tab(page, kd, MANAGER, "CRM_DEAL_DETAIL_TAB", 1)
    page.click(f"[data-document-id='{doc}'] .kd-open")
    page.wait_for_selector("#kd-detail [data-download]")
    offered = page.eval_on_selector_all("#kd-detail [data-action]", "els => els.map(e => e.dataset.action)")
    assert sorted(offered) == ["Отчёт о проверке", "Скачать пакет (ZIP)"]  # reading only: no sign, withdraw, remind
    screenshot(page, "crm-read-only")
    # The author, for contrast, has the actions; a stranger's tab lists nothing.
    open_card_tab(page, kd, DIRECTOR, "CRM_DEAL_DETAIL_TAB", 1)
    page.click(f"[data-document-id='{doc}'] .kd-open")
    page.wait_for_selector("#kd-detail [data-action='Отозвать']")
    open_card_tab(page, kd, SALES_MANAGER, "CRM_DEAL_DETAIL_TAB", 1)
    page.wait_for_selector("#kd-empty")
    assert page.locator(f"[data-document-id='{doc}']").count() == 0


@pytest.mark.parametrize(
    ("placement", "entity", "label"),
    [
        ("CRM_CONTACT_DETAIL_TAB", ("contact", 2), "Контакт «Белова Анна Игоревна»"),
        (
            f"CRM_DYNAMIC_{SMART_TYPE_ID}_DETAIL_TAB",
            (f"dynamic_{SMART_TYPE_ID}", 1),
            "Элемент смарт-процесса «Поставка оборудования на 2026 год»",
        ),
    ],
    ids=["contact", "smart-process"],
)
def test_contact_and_smart_process_tabs_create_and_send(
    crm_kd: Klikdok, page: Any, placement: str, entity: tuple[str, int], label: str
) -> None:
    kd = crm_kd
    assert any(p["placement"] == placement for p in kd.emu.state.placements)  # bound at install
    open_card_tab(page, kd, MANAGER, placement, entity[1])
    assert page.inner_text("#kd-entity") == label
    page.click("#kd-new")
    page.fill("#kd-title", "Договор из карточки")
    page.set_input_files("#kd-files", files=[FILE])
    page.wait_for_selector("#kd-signer-options option")
    page.select_option("#kd-signer-options", str(DIRECTOR))
    page.click("#kd-signer-add")
    page.click("#kd-create-send")
    page.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    screenshot(page, f"crm-create-{entity[0]}")
    [(doc, entity_type, entity_id)] = kd.query("SELECT id, entity_type, entity_id FROM documents")
    assert (entity_type, entity_id) == entity
    # The card's timeline gets the comment and its Disk folder the file, through the outbox.
    wait_for(
        lambda: any(
            c["ENTITY_TYPE"] == entity[0] and c["ENTITY_ID"] == entity[1] for c in kd.emu.state.timeline_comments
        ),
        what="the timeline comment on the card",
    )
    wait_for(lambda: any(f["NAME"] == "Договор.pdf" for f in kd.emu.state.files.values()), what="the file on Disk")
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
