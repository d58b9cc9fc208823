"""``/verify`` and ``/v/<id>`` in headless Chromium: a person fills the form and reads the verdict; the pages pass
the accessibility check and fit a phone (390 px); the form works without JavaScript too."""

from __future__ import annotations

from typing import Any

import pytest

from tests.a11y import axe_violations, blocking, describe
from tests.browser import ARTIFACTS

from .conftest import PDF, Signers, Verifier, docx_bytes, gost256
from .test_verdict_page import completed, make_public_id  # noqa: F401 - the fixture of a completed document

SHOTS = ARTIFACTS / "public_verify"


def _shot(page: Any, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def _check(page: Any, url: str, signature: bytes, sig_name: str, document: tuple[str, bytes] | None) -> str:
    page.goto(f"{url}/verify")
    if document is not None:
        page.set_input_files(
            "[data-document]", {"name": document[0], "mimeType": "application/octet-stream", "buffer": document[1]}
        )
    page.set_input_files(
        "[data-signature]", {"name": sig_name, "mimeType": "application/pkcs7-signature", "buffer": signature}
    )
    page.click("[data-check]")
    page.wait_for_selector("[data-headline]")
    return str(page.locator("[data-headline]").get_attribute("data-headline"))


# The phone tests run axe-core (tests/a11y.py), which the test injects into the page: the page's CSP (scripts of
# this server only) would block it, so those contexts bypass the CSP; the flows above run under it.


@pytest.mark.parametrize(
    ("case", "tone", "words"),
    [
        ("valid", "valid", "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"),
        ("tampered", "invalid", "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА"),
        ("untrusted root", "indeterminate", "НЕ ПОДТВЕРЖДЕНА"),
        ("docx", "valid", "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"),
        ("attached", "valid", "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"),
    ],
)
def test_a_person_checks_a_file_and_reads_the_verdict(
    verifier: Verifier, signers: Signers, page: Any, case: str, tone: str, words: str
) -> None:
    """Under the page's own CSP (the ``page`` fixture fails on a script error; a blocked script or style is a
    console error here)."""
    console: list[str] = []
    page.on("console", lambda msg: console.append(msg.text) if "Content Security Policy" in msg.text else None)
    broken: list[str] = []  # the style sheet and the script must load (the browser's own favicon.ico aside)
    page.on("response", lambda r: broken.append(r.url) if r.status >= 400 and "favicon" not in r.url else None)
    docx = docx_bytes()
    document: tuple[str, bytes] | None = ("Акт сверки.pdf", PDF)
    if case == "valid":
        signature = signers.sign(signers.trusted, PDF)
    elif case == "tampered":
        signature = signers.sign(signers.trusted, PDF)
        document = ("Акт сверки.pdf", PDF + b"\n% changed\n")
    elif case == "untrusted root":
        signature = signers.sign(signers.stranger, PDF)
    elif case == "docx":
        signature, document = signers.sign(signers.trusted, docx), ("Спецификация.docx", docx)
    else:
        signature, document = signers.sign(signers.trusted, PDF, attached=True), None
    assert _check(page, verifier.url, signature, "подпись.sig", document) == tone
    headline = page.locator("[data-headline]").inner_text()
    assert words in headline.upper(), headline
    shown = document[1] if document is not None else PDF
    assert page.locator("[data-digest]").inner_text() == gost256(shown)
    assert (document[0] if document else "подпись.sig") in page.locator("[data-file-name]").inner_text()
    # Said once, above the report: the report's own overall verdict is not repeated under it.
    assert page.locator("[data-headline]").get_attribute("data-headline") == tone
    assert page.locator("[data-report] [data-verdict]").count() == 0
    if case == "tampered":
        assert page.locator("[data-mismatch]").is_visible()
    # The form is there again for the next check, and the buttons are back (public.js restores nothing
    # here: the page is new).
    assert page.locator("[data-verify-form] [data-check]").is_enabled()
    assert console == [] and broken == []


def test_the_form_page_on_a_phone_with_a_bad_file_and_its_a11y(
    verifier: Verifier, signers: Signers, browser: Any
) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{verifier.url}/verify")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        found = blocking(axe_violations(page))
        assert found == [], describe(found)
        _shot(page, "verify-form-390")
        assert _check(page, verifier.url, signers.sign(signers.stranger, PDF), "подпись.sig", ("Акт.pdf", PDF)) == (
            "indeterminate"
        )
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        _shot(page, "verify-indeterminate-390")
        page.goto(f"{verifier.url}/verify")
        page.set_input_files("[data-signature]", {"name": "мусор.sig", "mimeType": "text/plain", "buffer": b"junk"})
        page.click("[data-check]")
        page.wait_for_selector("[data-error]")
        assert "не является электронной подписью" in page.locator("[data-error]").inner_text()
        assert page.locator("[data-verify-form]").is_visible()
        found = blocking(axe_violations(page))
        assert found == [], describe(found)
    finally:
        context.close()


def test_the_form_works_without_javascript(verifier: Verifier, signers: Signers, browser: Any) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU", java_script_enabled=False)
    try:
        page = context.new_page()
        assert _check(page, verifier.url, signers.sign(signers.trusted, PDF), "a.sig", ("Акт.pdf", PDF)) == "valid"
    finally:
        context.close()


def test_the_protocol_button_downloads_a_pdf(verifier: Verifier, signers: Signers, page: Any) -> None:
    page.goto(f"{verifier.url}/verify")
    page.set_input_files("[data-document]", {"name": "Акт.pdf", "mimeType": "application/pdf", "buffer": PDF})
    page.set_input_files(
        "[data-signature]",
        {
            "name": "Акт.pdf.sig",
            "mimeType": "application/pkcs7-signature",
            "buffer": signers.sign(signers.trusted, PDF),
        },
    )
    with page.expect_download() as info:
        page.click("[data-check-pdf]")
    download = info.value
    assert download.suggested_filename.endswith(".pdf")
    assert open(download.path(), "rb").read(5) == b"%PDF-"


def test_a_kept_verdict_on_a_phone(completed: Any, browser: Any) -> None:  # noqa: F811  pytest injects the imported fixture of this name
    exchange, doc_id, files = completed
    public_id = make_public_id(exchange.kd.server.data_dir, doc_id)
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="ru-RU", bypass_csp=True)
    try:
        page = context.new_page()
        page.goto(f"{exchange.kd.url}/v/{public_id}")
        assert page.locator("[data-state]").inner_text() == "Подписан"
        assert page.locator("[data-signature]").count() == 4
        digests = page.locator("[data-file] [data-digest]").all_inner_texts()
        assert digests == [gost256(data) for data in files.values()]
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        found = blocking(axe_violations(page))
        assert found == [], describe(found)
        _shot(page, "verdict-390")
        page.goto(f"{exchange.kd.url}/v/{public_id[:-2]}xx")
        assert "Проверка не найдена" in page.locator("h1").inner_text()
        page.click("[data-back]")
        page.wait_for_selector("[data-verify-form]")
    finally:
        context.close()
