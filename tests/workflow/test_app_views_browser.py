"""The app page's views in Chromium (issue 15): each section only for those who may use it, «Мои документы» with
its filters, the audit page in words, and the signing queue by keyboard with an axe-core check.

Screenshots of each view at 1280 and 390 px go to test-artifacts/ (tests.browser.screenshot).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.a11y import axe_violations, blocking, describe
from tests.browser import screenshot
from tests.pages.conftest import open_app_page
from tests.workflow.conftest import (
    ACCOUNTANT,
    AUDITOR,
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    SALES_MANAGER,
    Klikdok,
    People,
)

PDF = b"%PDF-1.4\n" + "Договор оказания услуг".encode() + b"\n%%EOF\n"


def open_app(pg: Any, kd: Klikdok, user_id: int, hash_: str) -> None:
    open_app_page(pg, kd, user_id, hash_)
    pg.wait_for_selector("body[data-session]")


def app_html(kd: Klikdok, user_id: int) -> str:
    query = urlencode({"DOMAIN": f"{kd.emu.host}:{kd.emu.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "sid"})
    resp = httpx.post(f"{kd.url}/b24/app?{query}", data=kd.emu.state.placement_form(user_id, "DEFAULT"), timeout=30)
    assert resp.status_code == 200, resp.text
    return resp.text


def both_widths(pg: Any, name: str) -> None:
    screenshot(pg, f"{name}-1280")
    pg.set_viewport_size({"width": 390, "height": 844})
    screenshot(pg, f"{name}-390")
    pg.set_viewport_size({"width": 1280, "height": 900})


def nav_views(text: str) -> list[str]:
    nav = re.search(r'<nav class="kd-nav".*?</nav>', text, re.S)
    assert nav
    return re.findall(r'data-view="([a-z]+)"', nav.group(0))


def sign(kd: Klikdok, people: People, user_id: int, doc_id: int, data: bytes) -> None:
    fid = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc_id)[0][0]
    resp = kd.api("POST", f"/documents/{doc_id}/files/{fid}/signatures", user_id, content=people.sign(user_id, data))
    assert resp.status_code in (200, 201), resp.text


# ---- each section only for those who may use it ---------------------------------------------------------------


def test_the_page_offers_each_section_only_to_those_who_may_use_it(kd: Klikdok) -> None:
    """Before: everyone got «Отдел» and «Аудит»; a non-auditor's «Аудит» said «Найдено: 0» and no word why."""
    everyone = ["queue", "mine"]
    assert nav_views(app_html(kd, SALES_MANAGER)) == [*everyone, "certificates"]  # neither head nor auditor
    assert nav_views(app_html(kd, CHIEF_ACCOUNTANT)) == [*everyone, "department", "certificates"]  # a head
    assert nav_views(app_html(kd, ACCOUNTANT)) == [*everyone, "department", "audit", "certificates"]  # the auditor
    plain = app_html(kd, SALES_MANAGER)
    assert 'id="kd-log-filters"' not in plain and 'id="kd-dept-filters"' not in plain
    assert "Этот раздел доступен только аудиторам." in plain
    assert "Этот раздел доступен руководителям подразделений и аудиторам." in plain
    # The API refuses their lists as before, with the same words.
    department = kd.api("GET", "/documents", SALES_MANAGER, params={"view": "department"})
    assert department.status_code == 403 and department.json()["error"] == "not_head"
    assert department.json()["message"] == "Этот раздел доступен руководителям подразделений и аудиторам."
    assert kd.api("GET", "/audit", SALES_MANAGER).status_code == 403


@pytest.mark.browser
def test_a_section_opened_by_its_address_says_who_may_use_it(kd: Klikdok, page: Any) -> None:
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    open_app(page, kd, SALES_MANAGER, "#audit")
    page.wait_for_selector("#kd-audit-denied")
    assert page.is_visible("#kd-audit-denied")
    assert page.inner_text("#kd-audit-denied") == "Этот раздел доступен только аудиторам."
    assert "Найдено" not in page.inner_text("#view-audit")
    assert page.locator("#kd-nav a[data-view='audit']").count() == 0
    both_widths(page, "app-audit-denied")
    page.evaluate("location.hash = '#department'")
    page.wait_for_selector("#kd-department-denied", state="visible")
    assert "руководителям подразделений" in page.inner_text("#kd-department-denied")
    assert page.is_hidden("#view-audit")
    both_widths(page, "app-department-denied")
    # Nothing was asked of the API for the sections the page knows are closed.
    assert not [u for u in requests if "/api/v1/audit" in u or "view=department" in u or "view=all" in u]


# ---- «Мои документы» ---------------------------------------------------------------------------------------------


def test_mine_by_role_in_the_api(kd: Klikdok, people: People) -> None:
    """view=mine took only what I wrote; now also what waits for me and what I signed (role=...)."""
    kd.register_cert(MANAGER, people.certs[MANAGER])
    created = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Мой договор")
    waiting = kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"b.pdf": PDF + b"b"}, signers=[MANAGER], title="Ждёт меня")
    signed = kd.create(DIRECTOR, ("deal", 1), {"c.pdf": PDF + b"c"}, signers=[MANAGER], title="Подписан мной")
    sign(kd, people, MANAGER, signed, PDF + b"c")
    kd.create(DIRECTOR, ("deal", 2), {"d.pdf": PDF + b"d"}, signers=[CHIEF_ACCOUNTANT], title="Не мой")

    def ids(**params: str) -> list[int]:
        resp = kd.api("GET", "/documents", MANAGER, params={"view": "mine", **params})
        assert resp.status_code == 200, resp.text
        return [d["id"] for d in resp.json()["items"]]

    assert ids(role="created") == [created]
    assert ids(role="waiting") == [waiting]
    assert ids(role="signed") == [signed]
    assert ids() == [signed, waiting, created]
    assert ids(q="ждёт") == [waiting]
    assert ids(state="awaiting_internal") == [waiting, created]
    assert kd.api("GET", "/documents", MANAGER, params={"view": "mine", "role": "other"}).status_code == 400


@pytest.mark.browser
def test_my_documents_filters_search_and_pages(kd: Klikdok, people: People, page: Any) -> None:
    kd.register_cert(MANAGER, people.certs[MANAGER])
    created = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Договор поставки")
    waiting = kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"b.pdf": PDF + b"b"}, signers=[MANAGER], title="Акт сверки")
    signed = kd.create(DIRECTOR, ("deal", 1), {"c.pdf": PDF + b"c"}, signers=[MANAGER], title="Счёт №5")
    sign(kd, people, MANAGER, signed, PDF + b"c")
    open_app(page, kd, MANAGER, "#mine")
    page.wait_for_selector("#kd-mine tr[data-document-id]")

    def shown() -> list[int]:
        return [
            int(x)
            for x in page.locator("#kd-mine tr[data-document-id]").evaluate_all(
                "rows => rows.map(r => r.getAttribute('data-document-id'))"
            )
        ]

    assert shown() == [signed, waiting, created]
    assert page.inner_text("#kd-mine-total") == "Найдено: 3"
    both_widths(page, "app-mine")
    for label, expected in (("Ждут меня", waiting), ("Подписанные мной", signed), ("Созданные мной", created)):
        page.get_by_label(label, exact=True).check()
        page.wait_for_function(
            f"[...document.querySelectorAll('#kd-mine tr[data-document-id]')].map(r => r.dataset.documentId)"
            f".join() === '{expected}'"
        )
    screenshot(page, "app-mine-created-1280")
    page.get_by_label("Все мои", exact=True).check()
    page.fill("#kd-mine-filters input[name=q]", "сверки")
    page.press("#kd-mine-filters input[name=q]", "Enter")
    page.wait_for_function(
        f"document.querySelector('#kd-mine tr[data-document-id]')?.dataset.documentId === '{waiting}'"
        " && document.querySelectorAll('#kd-mine tr[data-document-id]').length === 1"
    )
    page.fill("#kd-mine-filters input[name=q]", "")
    page.select_option("#kd-mine-filters select[name=state]", "awaiting_counterparty")
    # (The search before also found one: wait for the row itself, not for «Найдено: 1».)
    page.wait_for_function(
        f"[...document.querySelectorAll('#kd-mine tr[data-document-id]')].map(r => r.dataset.documentId)"
        f".join() === '{signed}'"
    )
    assert page.inner_text("#kd-mine-total") == "Найдено: 1"
    page.select_option("#kd-mine-filters select[name=state]", "completed")
    page.wait_for_selector("#kd-mine-empty")
    # Past a page: 50 at a time, with the way to the next ones.
    for n in range(50):
        kd.create(
            MANAGER,
            ("deal", 1),
            {f"{n}.pdf": PDF + str(n).encode()},
            signers=[DIRECTOR],
            title=f"Черновик {n}",
            send=False,
        )
    page.select_option("#kd-mine-filters select[name=state]", "")
    page.wait_for_function("document.querySelector('#kd-mine-total').textContent === 'Найдено: 53'")
    assert page.locator("#kd-mine tr[data-document-id]").count() == 50
    assert "Показаны 1–50 из 53" in page.inner_text("#kd-mine-pager")
    page.click("#kd-mine-pager [data-page=next]")
    page.wait_for_function("document.querySelectorAll('#kd-mine tr[data-document-id]').length === 3")
    assert shown() == [signed, waiting, created]
    assert "Показаны 51–53 из 53" in page.inner_text("#kd-mine-pager")
    assert page.is_disabled("#kd-mine-pager [data-page=next]")
    # The keyboard stays in the pager: on the last page «Следующие» is off, so it lands on «Предыдущие».
    assert page.evaluate("document.activeElement.getAttribute('data-page')") == "prev"
    both_widths(page, "app-mine-page-2")


# ---- the audit page --------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_audit_page_speaks_russian_filters_by_day_and_pages(kd: Klikdok, page: Any) -> None:
    a = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[DIRECTOR], title="Договор с Альфой")
    kd.create(CHIEF_ACCOUNTANT, ("deal", 2), {"b.pdf": PDF + b"b"}, signers=[DIRECTOR], title="Акт с Технопарком")
    for _ in range(60):  # refused requests, each one row of the log
        assert kd.api("GET", "/audit", SALES_MANAGER).status_code == 403
    open_app(page, kd, AUDITOR, "#audit")
    page.wait_for_selector("#kd-log tr[data-audit-id]")
    log = page.inner_text("#kd-log")
    assert "user:" not in log and "document.sent" not in log and "portal.installed" not in log
    assert "Попов Сергей Николаевич" in log and "Отказ в доступе" in log
    assert page.locator("#kd-log tr[data-audit-id]").count() == 50
    assert "из " in page.inner_text("#kd-log-pager")
    page.click("#kd-log-pager [data-page=next]")
    page.wait_for_function("document.querySelector('#kd-log-pager').textContent.includes('Показаны 51–')")
    both_widths(page, "app-audit-log")

    # The action filter lists phrases, not codes.
    options = page.locator("#kd-log-filters select[name=action] option").all_inner_texts()
    assert "Документ отправлен на подпись" in options and not [o for o in options if "." in o and " " not in o]
    page.select_option("#kd-log-filters select[name=action]", label="Документ отправлен на подпись")
    page.click("#kd-log-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#kd-log tr[data-audit-id]').length === 2")
    assert page.inner_text("#kd-log-total") == "Записей: 2"
    rows = page.locator("#kd-log tr[data-audit-id]").all_inner_texts()
    assert any("Морозова Ольга Ивановна" in r and "Документ отправлен на подпись" in r for r in rows), rows
    both_widths(page, "app-audit-filtered")

    # A day before today in the portal's zone holds none of it.
    yesterday = (datetime.now(ZoneInfo("Europe/Moscow")) - timedelta(days=1)).date().isoformat()
    page.fill("#kd-log-filters input[name=date_to]", yesterday)
    page.click("#kd-log-filters button[type=submit]")
    page.wait_for_selector("#kd-log-empty")
    page.fill("#kd-log-filters input[name=date_to]", "")
    page.fill("#kd-log-filters input[name=date_from]", yesterday)
    page.click("#kd-log-filters button[type=submit]")
    page.wait_for_function("document.querySelectorAll('#kd-log tr[data-audit-id]').length === 2")

    # The document's title opens its panel.
    page.click(f"#kd-log .kd-log-document[data-document-id='{a}']")
    page.wait_for_selector(f"#kd-doc-{a}")
    assert "Договор с Альфой" in page.inner_text(f"#kd-doc-{a} .kd-subtitle")
    # Its history speaks the same vocabulary, which the page got from the server (#kd-audit-actions).
    history = page.inner_text(f"#kd-doc-{a} .kd-history")
    assert "документ создан" in history and "документ отправлен на подпись" in history and "document." not in history
    screenshot(page, "app-audit-document-1280")


# ---- the signing queue by keyboard ---------------------------------------------------------------------------------


@pytest.mark.browser
def test_the_queue_by_keyboard_alone_and_axe_finds_nothing_serious(kd: Klikdok, page: Any) -> None:
    first = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Счёт №1")
    second = kd.create(MANAGER, ("deal", 1), {"b.pdf": PDF + b"b"}, signers=[CHIEF_ACCOUNTANT], title="Счёт №2")
    open_app(page, kd, CHIEF_ACCOUNTANT, "#queue")
    page.wait_for_selector("#kd-queue tr[data-document-id]")

    def focused() -> str:
        return str(
            page.evaluate(
                """() => { const a = document.activeElement;
                       return a.id || a.getAttribute('aria-label') || a.textContent.trim().slice(0, 40); }"""
            )
        )

    # From the top of the page: the sections, then «Выбрать все», then the list.
    order = []
    for _ in range(30):
        page.keyboard.press("Tab")
        order.append(focused())
        if order[-1].startswith("Выбрать «"):
            break
    assert order[0].startswith("На подпись") and "Мои документы" in order[1], order
    assert order.index("kd-select-all") < len(order) - 1, order
    assert order[-1] == "Выбрать «Счёт №2»", order  # the newest first; each box says what it selects
    page.keyboard.press("Space")
    assert page.is_checked(f"#kd-queue tr[data-document-id='{second}'] .kd-select")
    assert page.is_enabled("#kd-sign-manual")
    page.keyboard.press("Tab")
    assert focused() == "Счёт №2"
    page.keyboard.press("Tab")
    assert focused() == "Выбрать «Счёт №1»"
    page.keyboard.press("Space")
    assert page.locator("#kd-queue .kd-select:checked").count() == 2
    both_widths(page, "app-queue-keyboard")

    violations = axe_violations(page)
    assert blocking(violations) == [], describe(blocking(violations))

    # Open one with Enter: its panel opens and the keyboard lands on its title.
    page.keyboard.press("Tab")
    assert focused() == "Счёт №1"
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#kd-doc-{first}")
    page.wait_for_function("document.activeElement && document.activeElement.matches('#kd-detail .kd-subtitle')")
    assert focused() == "Счёт №1"
    both_widths(page, "app-queue-document")
    violations = axe_violations(page, "#view-queue")
    assert blocking(violations) == [], describe(blocking(violations))


@pytest.mark.browser
def test_each_view_has_no_serious_accessibility_violation(kd: Klikdok, page: Any) -> None:
    kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Счёт №1")
    open_app(page, kd, AUDITOR, "#mine")
    for view, ready in (
        ("mine", "#kd-mine-total:not(:empty)"),
        ("department", "#kd-dept-total"),
        ("audit", "#kd-log tr[data-audit-id]"),
    ):
        page.evaluate(f"location.hash = '#{view}'")
        page.wait_for_selector(ready)
        violations = axe_violations(page)
        assert blocking(violations) == [], f"{view}:\n" + describe(blocking(violations))
    both_widths(page, "app-department")
