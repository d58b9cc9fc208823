"""The CRM tab's create form in headless Chromium (issue 15): every opening starts clean, the deadline, message
and contact person fields, keyboard-only use with an axe-core check, and the frame protocol — the frame grows for
an open dialog and shrinks after it, and inside the portal the form opens in a slider (BX24.openApplication) whose
closing reloads the tab's list.

The frame tests host the tab in an <iframe> on a parent page of the portal's own origin (the page below written into
a document loaded from the emulator's address), which records every command the frame posts and answers it in the
portal's wire format ("command:params:callbackId:APP_SID" in, "callbackId:json" out).
Screenshots: test-artifacts/create-*.png.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from tests.a11y import assert_accessible
from tests.browser import screenshot, settled
from tests.pages.conftest import hidden_form, open_tab, query
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok

pytestmark = pytest.mark.browser

PDF = b"%PDF-1.4\n" + "Договор поставки".encode() + b"\n%%EOF\n"
FILE = {"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}
MOSCOW = ZoneInfo("Europe/Moscow")
# The create dialog's controls in their Tab order (a chosen signer's «убрать» comes after «Добавить подписанта»).
DIALOG_ORDER = [
    "kd-title",
    "kd-template",
    "kd-files",
    "kd-signer-search",
    "kd-signer-options",
    "kd-signer-add",
    # Согласование and observers (issue 17): the order's radio group is one Tab stop.
    "kd-approvers-search",
    "kd-approvers-options",
    "kd-approvers-add",
    "kd-approval-sequential",
    "kd-observers-search",
    "kd-observers-options",
    "kd-observers-add",
    "kd-contact",
    "kd-cp-email",
    "kd-due",
    "kd-message",
    "kd-create-send",
    "kd-create-draft",
    "kd-create-cancel",
]


def today() -> date:
    return datetime.now(UTC).astimezone(MOSCOW).date()


def tab_to(pg, element_id: str, limit: int = 40) -> list[str]:  # type: ignore[no-untyped-def]  # pg is a Playwright page or frame
    """Press Tab until ``element_id`` has the focus; the ids passed on the way, in order."""
    seen: list[str] = []
    for _ in range(limit):
        pg.keyboard.press("Tab")
        current = pg.evaluate("() => document.activeElement && document.activeElement.id")
        seen.append(current)
        if current == element_id:
            return seen
    raise AssertionError(f"Tab never reached #{element_id}: {seen}")


def fill_everything(pg) -> None:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    pg.fill("#kd-title", "Старое название")
    pg.set_input_files("#kd-files", files=[FILE])
    pg.wait_for_selector("#kd-signer-options option")
    pg.fill("#kd-signer-search", "Соколов")
    pg.select_option("#kd-signer-options", str(DIRECTOR))
    pg.click("#kd-signer-add")
    pg.fill("#kd-cp-email", "old@alfa-postavka.example")
    pg.wait_for_selector("#kd-contact option[data-contact-id='2']", state="attached")
    pg.select_option("#kd-contact", index=2)
    pg.fill("#kd-due", (today() + timedelta(days=3)).isoformat())
    pg.fill("#kd-message", "Старое сообщение")


def end_of(day: date) -> str:
    return datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=MOSCOW).astimezone(UTC).isoformat()


def test_a_reopened_dialog_is_clean_and_sends_to_no_previous_signer(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    open_tab(page, kd)
    default_day = today() + timedelta(days=14)
    # One document sent with everything filled in.
    page.click("#kd-new")
    fill_everything(page)
    page.click("#kd-create-send")
    page.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    # Another one started, filled, cancelled; then the dialog opened again.
    page.click("#kd-new")
    fill_everything(page)
    page.click("#kd-create-cancel")
    assert not page.is_visible("#kd-create")
    page.click("#kd-new")
    state = page.evaluate(
        """() => ({
            title: document.getElementById("kd-title").value,
            files: document.getElementById("kd-files").files.length,
            signers: document.querySelectorAll("#kd-signers li").length,
            search: document.getElementById("kd-signer-search").value,
            email: document.getElementById("kd-cp-email").value,
            contact: document.getElementById("kd-contact").value,
            due: document.getElementById("kd-due").value,
            message: document.getElementById("kd-message").value,
            error: document.getElementById("kd-create-error").textContent,
            focus: document.activeElement.id,
        })"""
    )
    assert state == {
        "title": "",
        "files": 0,
        "signers": 0,
        "search": "",
        "email": "",
        "contact": "",
        "due": default_day.isoformat(),
        "message": "",
        "error": "",
        "focus": "kd-title",
    }
    # A document made now is meant for no one: sending is refused, a draft has no signer of the earlier one.
    page.set_input_files("#kd-files", files=[FILE])
    page.click("#kd-create-send")
    assert page.inner_text("#kd-create-error") == "Добавьте хотя бы одного подписанта."
    page.click("#kd-create-draft")
    page.wait_for_selector("table.kd-documents [data-state='draft']")
    drafts = kd.query(
        "SELECT id, title, message, contact_id, counterparty_email, due_at FROM documents WHERE state = 'draft'"
    )
    assert [d[1:] for d in drafts] == [("Договор.pdf", "", None, "info@alfa-postavka.example", end_of(default_day))]
    internal = kd.query("SELECT count(*) FROM route_steps WHERE document_id = ? AND kind = 'internal'", drafts[0][0])
    assert internal == [(0,)]
    sent = kd.query("SELECT title, message, contact_name, counterparty_email FROM documents WHERE state != 'draft'")
    assert sent == [("Старое название", "Старое сообщение", "Белова Анна Игоревна", "old@alfa-postavka.example")]


def test_the_server_says_why_a_day_is_refused_and_the_next_try_goes_through(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    open_tab(page, kd)
    page.click("#kd-new")
    page.set_input_files("#kd-files", files=[FILE])
    # The picker's bounds are the server's: min today, max a year ahead.
    assert page.get_attribute("#kd-due", "min") == today().isoformat()
    assert page.get_attribute("#kd-due", "max") == (today() + timedelta(days=365)).isoformat()
    # Past the bounds anyway (an old page, a typed year): the server refuses, in Russian, and nothing is created.
    page.eval_on_selector("#kd-due", "(e, v) => { e.value = v; }", (today() - timedelta(days=1)).isoformat())
    page.click("#kd-create-draft")
    page.wait_for_function("document.getElementById('kd-create-error').textContent.includes('уже прошёл')")
    assert kd.query("SELECT count(*) FROM documents") == [(0,)]
    later = today() + timedelta(days=40)
    page.fill("#kd-due", later.isoformat())
    page.click("#kd-create-draft")
    page.wait_for_selector("table.kd-documents [data-state='draft']")
    assert kd.query("SELECT due_at FROM documents") == [(end_of(later),)]


def test_keyboard_only_creates_a_document_and_the_open_dialog_passes_axe(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    open_tab(page, kd)
    tab_to(page, "kd-new")
    page.keyboard.press("Enter")
    page.wait_for_selector("#kd-create[open]")
    assert page.evaluate("document.activeElement.id") == "kd-title"
    seen = ["kd-title"]
    page.keyboard.type("Договор по клавиатуре")
    seen += tab_to(page, "kd-files")
    with page.expect_file_chooser() as chooser:
        page.keyboard.press("Space")
    chooser.value.set_files(files=[FILE])
    seen += tab_to(page, "kd-signer-search")
    page.wait_for_selector("#kd-signer-options option")
    page.keyboard.type("Соколов")
    page.keyboard.press("ArrowDown")  # into the list, its first match chosen
    seen.append(page.evaluate("document.activeElement.id"))
    page.keyboard.press("Enter")
    assert "Соколов" in page.inner_text("#kd-signers")
    seen += tab_to(page, "kd-contact")
    page.wait_for_selector("#kd-contact option[data-contact-id='2']", state="attached")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # the second contact's first address: Белова
    assert page.eval_on_selector("#kd-contact", "e => e.value") == "a.belova@alfa-postavka.example"
    seen += tab_to(page, "kd-due")
    # The date is operable from the keyboard (which part comes first depends on the browser's locale, so the test
    # steps it up and back down, leaving the default).
    default = (today() + timedelta(days=14)).isoformat()
    page.keyboard.press("ArrowUp")
    assert page.eval_on_selector("#kd-due", "e => e.value") != default
    page.keyboard.press("ArrowDown")
    due = page.eval_on_selector("#kd-due", "e => e.value")
    assert due == default
    seen += tab_to(page, "kd-message")
    page.keyboard.type("Просим подписать.")
    seen += tab_to(page, "kd-create-cancel")
    order = [i for n, i in enumerate(seen) if i and (n == 0 or seen[n - 1] != i)]
    assert order == DIALOG_ORDER, order
    # Every control has a label, the dialog a name; no serious or critical axe finding on the open dialog.
    assert_accessible(page, "#kd-create")
    screenshot(page, "create-dialog-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    assert_accessible(page, "#kd-create")
    screenshot(page, "create-dialog-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("document.activeElement.id") == "kd-create-send"
    page.keyboard.press("Enter")
    page.wait_for_function(
        "document.querySelector(\"table.kd-documents [data-state='awaiting_internal']\")"
        " || document.getElementById('kd-create-error').textContent"
    )
    assert page.inner_text("#kd-create-error") == "", (due, page.inner_text("#kd-create-error"))
    rows = kd.query("SELECT title, message, contact_name, counterparty_email, due_at FROM documents")
    assert rows == [
        (
            "Договор по клавиатуре",
            "Просим подписать.",
            "Белова Анна Игоревна",
            "a.belova@alfa-postavka.example",
            end_of(date.fromisoformat(due)),
        )
    ]
    steps = kd.query("SELECT user_id FROM route_steps WHERE kind = 'internal'")
    assert steps == [(DIRECTOR,)]
    # The opened document shows what the author wrote and to whom it goes.
    page.wait_for_selector("#kd-detail [data-author-message]")
    assert "Просим подписать." in page.inner_text("#kd-detail [data-author-message]")
    assert "контактное лицо Белова Анна Игоревна" in page.inner_text("#kd-detail")


def test_escape_closes_the_dialog_and_gives_the_focus_back(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    open_tab(page, kd)
    tab_to(page, "kd-new")
    page.keyboard.press("Enter")
    page.keyboard.type("Черновик")
    page.keyboard.press("Escape")
    assert not page.is_visible("#kd-create")
    assert page.evaluate("document.activeElement.id") == "kd-new"
    page.keyboard.press("Enter")
    assert page.eval_on_selector("#kd-title", "e => e.value") == ""


# ---- inside the portal's frame -------------------------------------------------------------------------------

PARENT_SCRIPT = """
(function () {
  var appOrigin = __ORIGIN__, appSid = __SID__;
  var tab = document.getElementById("tab");
  var box = document.getElementById("slider-box");
  var slider = document.getElementById("slider");
  var opener = null;
  window.kdCommands = [];
  // A frame that navigated away since it posted (the slider closing) has no window left to answer.
  function answer(source, id, value) { if (source) source.postMessage(id + ":" + JSON.stringify(value), appOrigin); }
  window.kdCloseSlider = function () {
    if (box.hidden) return;
    box.hidden = true;
    slider.src = "about:blank";
    if (opener) { answer(opener.source, opener.id, {}); opener = null; }
  };
  window.addEventListener("message", function (event) {
    if (event.origin !== appOrigin || typeof event.data !== "string") return;
    var first = event.data.indexOf(":");
    var command = event.data.slice(0, first);
    var rest = event.data.slice(first + 1).split(":");
    if (rest.length < 2 || rest[rest.length - 1] !== appSid) return;
    var id = rest[rest.length - 2];
    var raw = rest.slice(0, -2).join(":");
    var params = raw ? JSON.parse(raw) : {};
    var from = event.source === tab.contentWindow ? "tab" : "slider";
    window.kdCommands.push({ command: command, params: params, from: from });
    if (command === "resizeWindow" && from === "tab") {
      tab.style.height = parseInt(params.height, 10) + "px";
      answer(event.source, id, {});
    } else if (command === "openApplication") {
      var options = {};
      Object.keys(params).forEach(function (k) { if (k.indexOf("bx24_") !== 0) options[k] = params[k]; });
      var form = document.getElementById("slider-form");
      form.elements.PLACEMENT_OPTIONS.value = JSON.stringify(options);
      box.hidden = false;
      opener = { source: event.source, id: id };
      form.submit();
    } else if (command === "closeApplication") {
      answer(event.source, id, {});
      window.kdCloseSlider();
    } else {
      answer(event.source, id, {});
    }
  });
  document.getElementById("tab-form").submit();
})();
"""


def open_in_portal(pg, kd: Klikdok, user_id: int = MANAGER) -> Any:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    """A card page of the portal's own origin (the frame speaks only to it) with the tab in its frame and the recording
    parent side of the protocol; returns the tab's frame."""
    sid = "a1b2c3"
    tab = kd.emu.state.placement_form(user_id, "CRM_DEAL_DETAIL_TAB", {"ID": "1"})
    app = kd.emu.state.placement_form(user_id, "DEFAULT")
    script = PARENT_SCRIPT.replace("__ORIGIN__", json.dumps(kd.url)).replace("__SID__", json.dumps(sid))
    body = (
        '<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>Сделка</title></head><body>'
        "<h1>Поставка серверного оборудования</h1>"
        + hidden_form("tab-form", f"{kd.url}/b24/tab?{query(kd, sid)}", "tab", tab)
        + hidden_form("slider-form", f"{kd.url}/b24/app?{query(kd, sid)}", "slider", app)
        + '<iframe name="tab" id="tab" title="ЭДО" style="width:100%;height:240px;border:1px solid #ccc"></iframe>'
        '<div id="slider-box" hidden style="position:fixed;top:0;right:0;bottom:0;width:760px;max-width:100%;'
        'background:#fff;box-shadow:-4px 0 16px rgba(0,0,0,.3)">'
        '<iframe name="slider" id="slider" title="Слайдер" style="width:100%;height:100%;border:0"></iframe></div>'
        f"<script>{script}</script></body></html>"
    )
    pg.goto(f"{kd.emu.base_url}/?user={user_id}")
    pg.set_content(body)  # the document stays at the portal's origin
    frame = wait_frame(pg, "tab", kd.url)
    frame.wait_for_selector("#kd-empty")
    return frame


def wait_frame(pg, name: str, url: str) -> Any:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    for _ in range(150):  # page.wait_for_timeout lets Playwright process the frame's navigation meanwhile
        frame = pg.frame(name=name)
        if frame is not None and frame.url.startswith(url):
            return frame
        pg.wait_for_timeout(100)
    raise AssertionError(f"the frame {name} did not load")


def commands(pg, name: str, source: str = "tab") -> list[dict[str, Any]]:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    got = pg.evaluate("window.kdCommands")
    return [c for c in got if c["command"] == name and c["from"] == source]


def frame_height(pg) -> int:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    return int(pg.eval_on_selector("#tab", "e => e.getBoundingClientRect().height"))


def test_the_frame_grows_for_an_open_dialog_and_shrinks_after_it(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    frame = open_in_portal(page, kd)
    page.wait_for_function("window.kdCommands.some(c => c.command === 'resizeWindow')")
    before = frame_height(page)
    # Any dialog of the tab (the create form's is the tallest): its whole height counts, not the part the frame shows.
    frame.evaluate("document.getElementById('kd-create').showModal()")
    needed = frame.evaluate("document.getElementById('kd-create').scrollHeight")
    assert needed > before
    page.wait_for_function(f"document.getElementById('tab').getBoundingClientRect().height >= {needed}", timeout=10000)
    squeezed = frame.evaluate(
        "(() => { const d = document.getElementById('kd-create'); return d.scrollHeight - d.clientHeight; })()"
    )
    assert squeezed <= 1, "the dialog still scrolls inside a frame too low for it"
    screenshot(page, "create-frame-dialog-1280")
    frame.evaluate("document.getElementById('kd-create').close()")
    page.wait_for_function(f"document.getElementById('tab').getBoundingClientRect().height < {needed}", timeout=10000)
    assert frame_height(page) <= before + 2
    assert all(c["params"]["width"] == "100%" for c in commands(page, "resizeWindow"))


def test_in_the_portal_the_form_opens_in_a_slider_and_the_list_reloads_when_it_closes(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    frame = open_in_portal(page, kd)
    settled(page)  # the app's frame loaded: a click sent into it while it still loads was lost under load (CI)
    frame.click("#kd-new")
    page.wait_for_function("window.kdCommands.some(c => c.command === 'openApplication')")
    opened = commands(page, "openApplication")
    assert opened == [
        {
            "command": "openApplication",
            "from": "tab",
            "params": {
                "klikdok": "create",
                "entity_type": "deal",
                "entity_id": 1,
                "bx24_title": "Новый документ",
                "bx24_width": 760,
            },
        }
    ]
    assert not frame.evaluate("document.getElementById('kd-create').open"), "no dialog in the frame as well"
    slider = wait_frame(page, "slider", kd.url)
    slider.wait_for_selector("#kd-create-form")
    # The form alone, for the tab's card; the cursor in its first field.
    assert slider.locator("#kd-new").count() == 0 and slider.locator("dialog").count() == 0
    assert "Поставка серверного оборудования" in slider.inner_text("#kd-create")
    assert slider.evaluate("document.activeElement.id") == "kd-title"
    slider.fill("#kd-title", "Договор из слайдера")
    slider.set_input_files("#kd-files", files=[FILE])
    slider.wait_for_selector("#kd-signer-options option")
    slider.fill("#kd-signer-search", "Соколов")
    page.keyboard.press("Enter")
    slider.wait_for_selector("#kd-contact option[data-contact-id='1']", state="attached")
    slider.select_option("#kd-contact", index=1)
    slider.fill("#kd-message", "Из слайдера.")
    assert_accessible(slider, "#kd-create")
    screenshot(page, "create-slider-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "create-slider-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    slider.click("#kd-create-send")
    # The slider's page closes it; the tab hears the slider closed, reloads its list and opens the new document.
    page.wait_for_function("document.getElementById('slider-box').hidden")
    assert len(commands(page, "closeApplication", "slider")) == 1
    frame.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    frame.wait_for_selector(".kd-history li")
    assert "Договор из слайдера" in frame.inner_text("#kd-detail")
    rows = kd.query("SELECT title, entity_type, entity_id, contact_name, message FROM documents")
    assert rows == [("Договор из слайдера", "deal", 1, "Орлов Дмитрий Сергеевич", "Из слайдера.")]
    # Cancel in a new slider: it closes, nothing is created.
    frame.click("#kd-new")
    slider = wait_frame(page, "slider", kd.url)
    slider.wait_for_selector("#kd-create-form")
    assert slider.eval_on_selector("#kd-title", "e => e.value") == ""
    slider.click("#kd-create-cancel")
    page.wait_for_function("document.getElementById('slider-box').hidden")
    # And Esc, from the keyboard, in a third one.
    frame.click("#kd-new")
    slider = wait_frame(page, "slider", kd.url)
    slider.wait_for_selector("#kd-create-form")
    page.keyboard.type("Передумали")
    assert slider.eval_on_selector("#kd-title", "e => e.value") == "Передумали"  # the keyboard is in the slider
    page.keyboard.press("Escape")
    page.wait_for_function("document.getElementById('slider-box').hidden")
    assert len(commands(page, "closeApplication", "slider")) == 3
    assert kd.query("SELECT count(*) FROM documents") == [(1,)]
