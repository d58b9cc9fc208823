"""A document's panel in headless Chromium (the CRM tab, opened the way the portal opens it): previews of a PDF
and a picture fetched with the page session and shown from blobs, a download with its digest for anything else;
the route as a timeline (who, when, with which certificate, what is now and next); every signature naming its
file; and withdrawing through an in-page dialog that works from the keyboard (no window.prompt).
Screenshots: test-artifacts/panel-*-1280.png and -390.png."""

from __future__ import annotations

import html
import struct
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.browser import screenshot, settled
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, Klikdok, People

pytestmark = pytest.mark.browser

DEAL = ("deal", 1)


def pdf(text: str = "Dogovor okazaniya uslug No 17") -> bytes:
    """A small valid one-page PDF (so the browser's viewer shows a page, not an error)."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R"
        b" /Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = b"%PDF-1.4\n"
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return out


PDF = pdf()
XML = "<spec>Сервер ×2</spec>".encode()
HTML = b"<!doctype html><p>not a pdf</p><script>document.title='pwned'</script>"


def png(width: int = 240, height: int = 120) -> bytes:
    """A real (decodable) RGB PNG, so the page's <img> has a natural size to check."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    rows = b"".join(
        b"\x00" + b"".join(bytes([40, 160, 220] if (x // 20 + y // 20) % 2 else [230, 240, 245]) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


PNG = png()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh context per test; an uncaught script error or a native dialog (alert, prompt) fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU", accept_downloads=True)
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(str(exc)))
    pg.on("dialog", lambda d: (problems.append(f"native {d.type}: {d.message}"), d.dismiss()))
    yield pg
    context.close()
    assert problems == [], problems


def open_tab(pg: Any, kd: Klikdok, user_id: int, doc_id: int) -> str:
    """The deal's ЭДО tab as the portal opens it (a form POSTed with the user's tokens), then the document's
    panel; returns the panel's selector."""
    form = kd.emu.state.placement_form(user_id, "CRM_DEAL_DETAIL_TAB", {"ID": str(DEAL[1])})
    query = urlencode({"DOMAIN": f"{kd.emu.host}:{kd.emu.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "sid"})
    inputs = "".join(f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in form.items())
    pg.goto(f"{kd.emu.base_url}/?user={user_id}")
    pg.set_content(
        f'<form id="f" method="POST" action="{kd.url}/b24/tab?{query}">{inputs}</form>'
        '<script>document.getElementById("f").submit();</script>'
    )
    pg.wait_for_url(f"{kd.url}/b24/tab*")
    settled(pg)  # a click sent while the tab still loads its list was lost under load (tests/browser.py)
    pg.click(f"table.kd-documents tr[data-document-id='{doc_id}'] .kd-open")
    panel = f"#kd-doc-{doc_id}"
    pg.wait_for_selector(panel)
    return panel


def create(kd: Klikdok, files: list[tuple[str, bytes, str]], signers: list[int], title: str) -> int:
    resp = kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        data={"title": title, "signers": ",".join(map(str, signers)), "send": "1"},
        files=[("files", f) for f in files],
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def both_widths(pg: Any, name: str) -> None:
    screenshot(pg, f"{name}-1280")
    pg.set_viewport_size({"width": 390, "height": 844})
    screenshot(pg, f"{name}-390")
    pg.set_viewport_size({"width": 1280, "height": 900})


def test_previews_timeline_and_signatures_naming_their_files(kd: Klikdok, people: People, page: Any) -> None:
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    files = {
        "Договор.pdf": (PDF, "application/pdf"),
        "Схема.png": (PNG, "image/png"),
        "Спецификация.xml": (XML, "text/xml"),
        "Письмо.pdf": (HTML, "application/pdf"),  # HTML under a PDF's name and claim
    }
    doc_id = create(kd, [(n, d, t) for n, (d, t) in files.items()], [CHIEF_ACCOUNTANT, DIRECTOR], "Договор услуг")
    detail = kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    ids = {f["name"]: f["id"] for f in detail["files"]}
    for name, (data, _) in files.items():
        r = kd.api(
            "POST",
            f"/documents/{doc_id}/files/{ids[name]}/signatures",
            CHIEF_ACCOUNTANT,
            content=people.sign(CHIEF_ACCOUNTANT, data),
        )
        assert r.status_code == 201, r.text
    company = kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["counterparty_name"]
    assert company

    panel = open_tab(page, kd, MANAGER, doc_id)

    def item(name: str) -> str:
        return f"{panel} li.kd-doc-file[data-file-id='{ids[name]}']"

    # The PDF, when asked for (its viewer takes the focus when loaded): an inline frame showing a blob the page
    # fetched with its session; the server typed it by its bytes.
    assert page.locator(f"{item('Договор.pdf')} iframe").count() == 0
    page.focus(f"{item('Договор.pdf')} details.kd-preview > summary")
    page.keyboard.press("Enter")
    frame = page.wait_for_selector(f"{item('Договор.pdf')} iframe.kd-preview-pdf")
    src = frame.get_attribute("src")
    assert src.startswith("blob:") and frame.get_attribute("title") == "Просмотр: Договор.pdf"
    got = page.evaluate(
        "src => fetch(src).then(r => r.arrayBuffer().then(b => [r.headers.get('content-type') || '', "
        "new TextDecoder().decode(new Uint8Array(b).slice(0, 5))]))",
        src,
    )
    assert got == ["application/pdf", "%PDF-"]
    # The picture: an <img> from a blob, decoded by the browser.
    img = page.wait_for_selector(f"{item('Схема.png')} img.kd-preview-img")
    assert img.get_attribute("src").startswith("blob:") and img.get_attribute("alt") == "Просмотр: Схема.png"
    page.wait_for_function("img => img.complete && img.naturalWidth === 240", arg=img)
    # Anything else (the HTML named .pdf included): no preview, a download button and the digest.
    for name in ("Спецификация.xml", "Письмо.pdf"):
        box = page.locator(item(name))
        assert box.locator(".kd-preview, iframe, img, object, embed").count() == 0, name
        assert box.locator("button[data-download]").inner_text() == "Скачать"
        digest = next(f["streebog256"] for f in detail["files"] if f["name"] == name)
        assert box.locator(".kd-digest").inner_text() == digest
        assert "ГОСТ Р 34.11-2012 (256)" in box.inner_text()
    with page.expect_download() as dl:
        page.click(f"{item('Спецификация.xml')} button[data-download]")
    assert dl.value.suggested_filename == "Спецификация.xml"
    assert page.title() != "pwned"

    # The route: an ordered list with words for every state, not only colours.
    steps = page.locator(f"{panel} ol.kd-timeline > li")
    assert steps.count() == 3
    first, second, third = (steps.nth(i) for i in range(3))
    assert first.get_attribute("data-step-state") == "signed"
    text = first.inner_text()
    assert "1. Новикова Елена Петровна" in text and "подписано, " in text and "МСК" in text
    assert "Сертификат: Новикова Елена Петровна, №" in text and "действует с " in text and " по " in text
    assert first.locator(".kd-tl-cert").count() == 1  # one certificate, however many files it signed
    assert second.get_attribute("data-step-state") == "current" and second.get_attribute("aria-current") == "step"
    assert "2. Соколов Андрей Викторович" in second.inner_text() and "Сейчас" in second.inner_text()
    assert "ждёт подписи" in second.inner_text() and second.locator(".kd-tl-cert").count() == 0
    assert f"3. Контрагент — {company}" in third.inner_text() and "Далее" in third.inner_text()
    assert "(а)" not in page.inner_text(panel)

    # Every signature line says which file it signs.
    lines = page.locator(f"{panel} li[data-signature]")
    assert lines.count() == 4
    named = sorted(lines.nth(i).locator(".kd-sig-file strong").inner_text() for i in range(4))
    assert named == sorted(f"«{n}»" for n in files)
    for i in range(4):
        assert "Новикова Елена Петровна" in lines.nth(i).inner_text()
    both_widths(page, "panel-previews-timeline")


def test_withdraw_dialog_from_the_keyboard(kd: Klikdok, people: People, page: Any) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    # With a PDF: its viewer takes the keyboard focus whenever it finishes loading, so the panel loads it only
    # when asked; the typing below must never be interrupted by it.
    doc_id = create(
        kd, [("Договор.pdf", PDF, "application/pdf"), ("Скан.png", PNG, "image/png")], [DIRECTOR], "Договор на отзыв"
    )
    panel = open_tab(page, kd, MANAGER, doc_id)
    keys: list[str] = []
    page.on(
        "request",
        lambda r: keys.append(r.headers.get("idempotency-key", "")) if r.url.endswith(f"/{doc_id}/withdraw") else None,
    )
    opener = f"{panel} [data-action='Отозвать']"
    page.focus(opener)
    page.keyboard.press("Enter")
    dialog = page.wait_for_selector("dialog#kd-withdraw[open]")
    assert page.evaluate("document.activeElement.id") == "kd-withdraw-reason"
    # The reason has a label; the dialog is named by its heading.
    assert page.get_by_label("Причина отзыва (необязательно)").count() == 1
    assert "Отозвать документ «Договор на отзыв»?" in dialog.inner_text()
    page.keyboard.type("черновик")
    both_widths(page, "panel-withdraw-dialog")
    # Esc closes it without withdrawing, and the focus goes back to the button.
    page.keyboard.press("Escape")
    page.wait_for_selector("dialog#kd-withdraw", state="detached")
    assert page.evaluate("document.activeElement.getAttribute('data-action')") == "Отозвать"
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("awaiting_internal",)]
    # It opens clean; «Отмена» closes it too.
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog#kd-withdraw[open]")
    assert page.input_value("#kd-withdraw-reason") == ""
    page.click("#kd-withdraw-cancel")
    page.wait_for_selector("dialog#kd-withdraw", state="detached")
    # Typed, tabbed to «Отозвать», Enter: withdrawn once, with one idempotency key.
    page.focus(opener)
    page.keyboard.press("Enter")
    page.wait_for_selector("dialog#kd-withdraw[open]")
    page.keyboard.type("Ошибка в реквизитах")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "kd-withdraw-ok"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "kd-withdraw-cancel"
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector(f"{panel} .kd-badge[data-state='withdrawn']")
    page.wait_for_selector("dialog#kd-withdraw", state="detached")
    assert "Ошибка в реквизитах" in page.inner_text(panel)
    assert len(keys) == 1 and len(keys[0]) >= 16
    assert kd.query("SELECT reason FROM documents WHERE id = ?", doc_id) == [("Ошибка в реквизитах",)]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'document.withdrawn'") == [(1,)]
    # The route says what became of the steps.
    assert page.locator(f"{panel} ol.kd-timeline > li[data-step-state='cancelled']").count() == 2
    assert "не потребовалось" in page.inner_text(f"{panel} ol.kd-timeline")
    both_widths(page, "panel-withdrawn")


def test_a_refused_action_is_said_next_to_its_button_not_in_a_native_alert(
    kd: Klikdok, people: People, page: Any
) -> None:
    """A refusal of «Отклонить» (no reason given) used to come as window.alert; it is said in the panel, in the
    signing block next to the button, and the page fixture fails on any native dialog."""
    doc = create(kd, [("Договор.pdf", pdf(), "application/pdf")], [DIRECTOR], "Договор с отказом без причины")
    panel = open_tab(page, kd, DIRECTOR, doc)
    page.click(f"#kd-sign-{doc} [data-action='reject']")
    page.wait_for_selector(f"#kd-sign-{doc} [data-reject-error]:not(:empty)")
    said = page.inner_text(f"#kd-sign-{doc} [data-reject-error]")
    assert "причин" in said.lower(), said
    assert page.get_attribute(f"#kd-sign-{doc} [data-reject-error]", "role") == "alert"
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert page.is_visible(panel)
