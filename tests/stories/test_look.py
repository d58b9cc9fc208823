"""The look of the portal the pages live in: Bitrix24's font stack, page grey, ui-btn colours and 39 px controls
with 2 px corners, tabs, a busy button that shows it works, a visible keyboard focus; the counterparty's pages
with the same tokens. At 390 px (a phone, or the portal's narrow frame) no page scrolls sideways: every view of
the app page with documents in it and a document open, the CRM tab with its create dialog open, and the
counterparty's page. And no page loads anything from outside the server: every request goes to 127.0.0.1.

Screenshots: test-artifacts/stories/narrow-*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import open_settled
from tests.counterparty.conftest import ALFA_EMAIL, Exchange, link_in, text_of
from tests.stories.conftest import (
    ARTIFACTS,
    DESKTOP,
    PHONE,
    Outside,
    no_horizontal_overflow,
    open_app_page,
    open_create_form,
    open_deal_tab,
    overflow_culprits,
    settle,
    shot,
)
from tests.workflow.conftest import ACCOUNTANT, DIRECTOR, MANAGER, SALES_HEAD, wait_for

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)
# Long words and names are what pushes a narrow page sideways.
TITLE = "Дополнительное соглашение о пролонгации договора поставки серверного оборудования №2026-07/15"
FILE = "Дополнительное_соглашение_о_пролонгации_договора_№2026-07-15_с_приложениями.pdf"
CONTENT = b"%PDF-1.7\n" + TITLE.encode() + b"\n%%EOF\n"


@pytest.fixture(scope="module")
def documents(story: Exchange) -> dict[str, int]:
    """One document waiting for the director, one signed by him and waiting for the counterparty."""
    kd = story.kd
    waiting = kd.create(MANAGER, DEAL, {FILE: CONTENT}, signers=[DIRECTOR], title=TITLE)
    signed = story.company_signed({FILE: CONTENT}, title=TITLE + " (подписан)")
    return {"waiting": waiting, "signed": signed}


def counterparty_link(story: Exchange) -> str:
    """The link in the invitation for the signed document, found by the title in the letter's text (a long
    subject comes back from the mail with a space lost where Python's email package folds it)."""
    title = f"«{TITLE} (подписан)»"
    letters = wait_for(
        lambda: [m for m in story.smtp.mailbox.to(ALFA_EMAIL) if title in text_of(m)], what="the invitation"
    )
    return link_in(letters[0])


def assert_fits(doc: Any, what: str) -> None:
    assert no_horizontal_overflow(doc), (what, overflow_culprits(doc))


GREY, PRIMARY, SUCCESS = "rgb(238, 242, 244)", "rgb(59, 200, 245)", "rgb(187, 237, 33)"


def shot_path(name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS / f"{name}.png"


def css(doc: Any, selector: str, prop: str, pseudo: str | None = None) -> str:
    return str(
        doc.eval_on_selector(selector, "(e, [p, s]) => getComputedStyle(e, s).getPropertyValue(p)", [prop, pseudo])
    )


def test_the_app_page_looks_like_the_portal(story: Exchange, documents: dict[str, int], page: Any) -> None:
    open_app_page(page, story.kd, DIRECTOR, "#queue")
    page.wait_for_selector("#kd-queue tr[data-document-id]")
    assert css(page, "body", "font-family").startswith('"Open Sans", "Helvetica Neue", Helvetica, Arial')
    assert css(page, "body", "background-color") == GREY
    assert css(page, "#kd-sign-agent", "background-color") == PRIMARY  # ui-btn-primary
    assert css(page, "#kd-sign-cryptoarm", "background-color") == SUCCESS  # ui-btn-success
    assert css(page, "#kd-pair", "border-top-color") == "rgb(198, 205, 211)"  # ui-btn-light-border
    for selector in ("#kd-pair", "#kd-dept-filters input[name=q]", "#kd-dept-filters select"):
        assert css(page, selector, "min-height") == "39px", selector  # ui-btn and ui-ctl height
        assert css(page, selector, "border-top-left-radius") == "2px", selector
    assert css(page, "#kd-nav a.kd-active", "border-bottom-color") == PRIMARY  # the current tab
    assert css(page, "#kd-nav a.kd-active", "font-weight") == "600"

    # A busy button (kd_core.js busy()) spins and stays readable; a disabled one is only faded.
    assert css(page, "#kd-sign-agent", "opacity") == "0.45"  # disabled: no agent online
    page.eval_on_selector("#kd-pair", "b => { b.disabled = true; b.setAttribute('aria-busy', 'true'); }")
    assert css(page, "#kd-pair", "animation-name", "::before") == "kd-spin"
    assert css(page, "#kd-pair", "opacity") == "0.85"
    assert css(page, "#kd-pair", "cursor") == "progress"
    page.locator("#kd-agent-panel").screenshot(path=str(shot_path("look-busy-button")))
    page.eval_on_selector("#kd-pair", "b => { b.disabled = false; b.removeAttribute('aria-busy'); }")
    assert css(page, "#kd-pair", "content", "::before") == "none"

    # The keyboard's focus is visible: a 2 px ring on the tabs and on the buttons.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.matches('#kd-nav a')")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    for _ in range(40):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.classList.contains('kd-btn')"):
            break
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineWidth") == "2px"
    shot(page, "look-keyboard-focus")


def test_the_counterparty_page_shares_the_look(story: Exchange, documents: dict[str, int], page: Any) -> None:
    open_settled(page, counterparty_link(story))
    page.wait_for_selector("[data-upload-form]")
    assert css(page, "body", "font-family").startswith('"Open Sans", "Helvetica Neue", Helvetica, Arial')
    assert css(page, "body", "background-color") == GREY
    assert css(page, "[data-upload]", "background-color") == SUCCESS
    assert css(page, "[data-upload]", "border-top-left-radius") == "2px"
    assert css(page, "a[data-download]", "border-top-color") == "rgb(198, 205, 211)"
    shot(page, "look-counterparty")


@pytest.mark.parametrize(
    ("user", "view", "ready"),
    [
        (DIRECTOR, "queue", "#kd-queue tr[data-document-id]"),
        (SALES_HEAD, "department", "#kd-department tr[data-document-id]"),
        (ACCOUNTANT, "audit", "#kd-audit tr[data-document-id]"),
        (DIRECTOR, "certificates", "#kd-certificates tr.kd-cert"),
        (DIRECTOR, "admin", "#kd-admin-certificates tr.kd-cert"),
    ],
)
def test_app_page_views_fit_a_phone(
    story: Exchange, documents: dict[str, int], page: Any, user: int, view: str, ready: str
) -> None:
    page.set_viewport_size(PHONE)
    open_app_page(page, story.kd, user, f"#{view}")
    if view == "audit":
        page.click("#kd-audit-filters button[type=submit]")
        page.click("#kd-log-filters button[type=submit]")
        page.wait_for_selector("#kd-log table")
    page.wait_for_selector(ready)
    assert_fits(page, view)
    if view in ("queue", "department", "audit"):
        doc = documents["waiting"] if view != "audit" else documents["signed"]
        page.click(f"#kd-{view} tr[data-document-id='{doc}'] .kd-open")
        page.wait_for_selector(f"#kd-doc-{doc}")
        if view == "queue":
            page.wait_for_selector(f"#kd-sign-{doc} .kd-sig-input")
            page.click("#kd-pair")
            page.wait_for_selector("#kd-pairing-code")
        assert_fits(page, f"{view} with a document open")
    shot(page, f"narrow-{view}")


def test_crm_tab_with_the_create_dialog_open_fits_a_phone(
    story: Exchange, documents: dict[str, int], page: Any
) -> None:
    page.set_viewport_size(PHONE)
    tab = open_deal_tab(page, story.kd, MANAGER)
    tab.wait_for_selector("table.kd-documents tr[data-document-id]")
    assert_fits(tab, "the tab's list")
    tab.click(f"table.kd-documents tr[data-document-id='{documents['signed']}'] .kd-open")
    tab.wait_for_selector(f"#kd-cp-{documents['signed']}")  # the counterparty panel with its resend fields
    assert_fits(tab, "the tab with a document open")
    # The create form (a slider inside the portal) is filled in a wide window, then the window narrows to a phone's.
    page.set_viewport_size(DESKTOP)
    form = open_create_form(page, tab, story.kd)
    form.fill("#kd-title", TITLE)
    form.set_input_files("#kd-files", files=[{"name": FILE, "mimeType": "application/pdf", "buffer": CONTENT}])
    form.wait_for_selector(f"#kd-signer-options option[value='{DIRECTOR}']")
    form.select_option("#kd-signer-options", str(DIRECTOR))
    form.press("#kd-signer-add", "Enter")
    assert "Соколов" in form.inner_text("#kd-signers")
    page.set_viewport_size(PHONE)
    settle(page, form)
    assert_fits(form, "the create form")
    shot(page, "narrow-tab-create-dialog")


def test_counterparty_page_fits_a_phone(story: Exchange, documents: dict[str, int], page: Any) -> None:
    page.set_viewport_size(PHONE)
    open_settled(page, counterparty_link(story))
    page.wait_for_selector("[data-upload-form]")
    assert_fits(page, "the counterparty's page")
    page.click("summary.cp-danger")
    assert_fits(page, "the counterparty's page with the refusal form")
    shot(page, "narrow-counterparty")


def test_pages_load_nothing_from_outside_the_server(
    story: Exchange, documents: dict[str, int], page: Any, requests_seen: Outside
) -> None:
    """Fonts, styles and scripts are the server's own: a portal without Internet access shows the same pages."""
    open_app_page(page, story.kd, DIRECTOR, "#queue")
    page.wait_for_selector("#kd-queue tr[data-document-id]")
    tab = open_deal_tab(page, story.kd, MANAGER)
    open_create_form(page, tab, story.kd)
    open_settled(page, counterparty_link(story))
    page.wait_for_selector("[data-upload-form]")
    paths = {url.split("?")[0].split("/", 3)[-1] for url in requests_seen.seen}
    assert {"static/klikdok.css", "static/kd_core.js", "static/b24frame.js", "c/public.css"} <= paths, paths
    assert requests_seen.outside == []
    fonts = page.evaluate("Array.from(document.fonts).map(f => f.family)")
    assert fonts == []  # no @font-face: the font stack is the computer's own
