"""The whole demo story in headless Chromium, through the pages only, on what `make run` starts and nothing else:
the manager sends a document from the deal's «ЭДО» tab to two signers; the director signs through the demo
agent (paired with the code the page shows); the chief accountant uploads a ``.sig`` made by ``demo.sign``; the
counterparty's letter is opened from the demo inbox, its link leads to the public page, the counterparty
uploads a signature made with the demo counterparty key, and the signed package (ZIP) is downloaded.

The head of sales and the auditor then find it on their views. No test code calls the server's API or reads
its database: what the test checks is what the pages show.
"""

from __future__ import annotations

import io
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo import demo_people
from tests.browser import CHROMIUM, FLAGS, settled
from tests.demo.conftest import Demo

pytestmark = pytest.mark.browser
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "demo"
PDF = b"%PDF-1.7\n" + "Договор поставки серверного оборудования №7 от 07.12.2026".encode() + b"\n%%EOF\n"


@pytest.fixture
def page() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            context = browser.new_context(
                viewport={"width": 1280, "height": 900}, locale="ru-RU", accept_downloads=True
            )
            pg = context.new_page()
            errors: list[str] = []
            pg.on("pageerror", lambda exc: errors.append(str(exc)))
            yield pg
            context.close()
            assert errors == [], errors
        finally:
            browser.close()


def shot(pg: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    pg.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def app_frame(pg: Any, server: str, ready: str, name: str = "app-frame") -> Any:
    """The KlikDok frame (or the slider's, ``name="app-slider"``) inside the emulated portal's page, once ``ready``
    is on it."""
    for _ in range(300):  # wait_for_timeout lets Playwright process the frame's navigation meanwhile
        frame = pg.frame(name=name)
        if frame is not None and frame.url.startswith(server):
            frame.wait_for_selector(ready, timeout=30000)
            return frame
        pg.wait_for_timeout(100)
    raise AssertionError("KlikDok did not load in the portal's frame")


def test_the_demo_story_from_the_banner_to_the_signed_package(demo: Demo, page: Any, tmp_path: Path) -> None:
    banner = demo.output()
    card = f"{demo.portal}/crm/deal/details/{demo_people.DEAL_ID}/?user={demo_people.role_user('manager')}"
    assert card in banner
    for _, label, uid in demo_people.ROLES:
        assert label in banner and f"?user={uid}" in banner
    assert f"{demo.portal}/mail/" in banner
    assert "-m demo.agent director" in banner
    assert "-m demo.sign counterparty" in banner
    assert "Установка приложения: выполнена" in banner
    assert f"Карточка сделки с вкладкой «ЭДО»: {card}\n" in banner

    # 1. The manager opens the deal card from the banner and sends a document to the director, then the
    #    chief accountant.
    page.goto(card)
    tab = app_frame(page, demo.server, "#kd-new")
    tab.click("#kd-new")
    # The form opens in the portal's slider (BX24.openApplication), the app's page showing the form alone.
    form = app_frame(page, demo.server, "#kd-create-form", name="app-slider")
    form.fill("#kd-title", "Договор поставки №7")
    form.set_input_files("#kd-files", files=[{"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}])
    form.wait_for_selector("#kd-signer-options option")
    for who in ("director", "accountant"):
        form.select_option("#kd-signer-options", str(demo_people.role_user(who)))
        form.click("#kd-signer-add")
    assert "Соколов" in form.inner_text("#kd-signers") and "Новикова" in form.inner_text("#kd-signers")
    form.click("#kd-create-send")
    tab.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    doc = tab.get_attribute("table.kd-documents tr[data-document-id]", "data-document-id")
    assert doc
    shot(page, "01-manager-sent")

    # 2. The director opens the app, pairs the demo agent with the code the page shows, and signs through it.
    page.goto(f"{demo.portal}/marketplace/app/?user={demo_people.role_user('director')}")
    app = app_frame(page, demo.server, "#kd-queue table.kd-documents")
    app.click("#kd-pair")
    app.wait_for_selector("#kd-pairing-code")
    code = app.inner_text("#kd-pairing-code")
    agent = demo.start("-m", "demo.agent", "director", "--code", code, log=tmp_path / "agent.log")
    app.wait_for_selector("#kd-agent-chip[data-online='yes']", timeout=30000)
    app.check("#kd-select-all")
    app.wait_for_function("!document.getElementById('kd-sign-agent').disabled")
    shot(page, "02-director-agent-online")
    app.click("#kd-sign-agent")
    app.wait_for_selector("#kd-progress-done", timeout=60000)
    assert app.inner_text("#kd-progress-count") == "Подписано 1 из 1", (tmp_path / "agent.log").read_text()
    app.wait_for_selector("#kd-queue-empty")
    shot(page, "03-director-signed")
    assert agent.poll() is None  # still running, as a signer's agent does

    # 3. The chief accountant signs the same file elsewhere (here: demo.sign) and uploads the .sig.
    document = tmp_path / "Договор.pdf"
    document.write_bytes(PDF)
    made = demo.run("-m", "demo.sign", "accountant", str(document))
    assert made.returncode == 0, made.stderr
    assert "openssl cms -sign" in made.stdout
    page.goto(f"{demo.portal}/marketplace/app/?user={demo_people.role_user('accountant')}")
    app = app_frame(page, demo.server, f"#kd-queue tr[data-document-id='{doc}']")
    app.click("#kd-queue .kd-open")
    app.wait_for_selector(f"#kd-sign-{doc} .kd-sig-input")
    app.locator(f"#kd-sign-{doc} .kd-sig-input").set_input_files(str(tmp_path / "Договор.pdf.sig"))
    app.wait_for_selector(f"#kd-doc-{doc} .kd-badge[data-state='awaiting_counterparty']", timeout=30000)
    shot(page, "04-accountant-signed")

    # 4. The counterparty's letter, from the demo inbox: the link in it opens the public page.
    address = demo_people.counterparty_email()
    page.goto(f"{demo.portal}/mail/")
    for _ in range(150):
        if page.locator(f"a.kd-mailbox:has-text('{address}')").count():
            break
        page.wait_for_timeout(200)
        page.reload()
    page.click(f"a.kd-mailbox:has-text('{address}')")
    page.wait_for_selector("a.kd-letter")
    assert "Договор поставки №7" in page.inner_text("a.kd-letter")  # the subject, RFC 2047-decoded
    page.click("a.kd-letter")
    letter = page.frame_locator("#kd-letter-html")
    link = letter.locator(f"a[href^='{demo.server}/c/']").first
    href = link.get_attribute("href")
    assert href and re.fullmatch(re.escape(demo.server) + r"/c/[A-Za-z0-9_-]{43}", href), href
    shot(page, "05-letter")
    link.click()
    page.wait_for_url(href)
    page.wait_for_selector("h1.cp-title")
    settled(page)  # the PDF preview loaded: a click before that may be lost (tests/browser.py)
    assert page.locator("h1.cp-title").inner_text() == "Договор поставки №7"
    assert page.locator("[data-signature]").count() == 2
    # Valid, not just accepted: the demo root is trusted and the demo CRLs answer the revocation question.
    assert page.locator("[data-signature]:has-text('Подпись действительна')").count() == 2
    shot(page, "06-counterparty-page")

    # 5. The counterparty signs with the demo counterparty key and downloads the signed package.
    cp_sig = tmp_path / "cp.sig"
    made = demo.run("-m", "demo.sign", "counterparty", str(document), str(cp_sig))
    assert made.returncode == 0, made.stderr
    page.set_input_files("input[type=file]", str(cp_sig))
    page.click("[data-upload]")
    page.wait_for_selector("[data-message]", timeout=30000)
    assert "Ваша подпись принята" in page.locator("[data-message]").inner_text()
    shot(page, "07-counterparty-signed")
    settled(page)
    with page.expect_download() as download:
        page.click("[data-package]")
    package = zipfile.ZipFile(io.BytesIO(Path(download.value.path()).read_bytes()))
    names = package.namelist()
    assert any(n.endswith("Договор.pdf") for n in names), names
    assert sum(n.endswith(".sig") for n in names) == 3, names
    assert any(package.read(n) == PDF for n in names if n.endswith("Договор.pdf")), names
    report = package.read(next(n for n in names if n.endswith(".json"))).decode()
    # Each of the three signers' certificates was checked against the demo CA's current CRL.
    assert report.count('"revocation": "good"') >= 3, report

    # 6. The head of sales sees it on the department board, the auditor in the audit view.
    for who, view in (("head", "department"), ("auditor", "audit")):
        page.goto(f"{demo.portal}/marketplace/app/?user={demo_people.role_user(who)}")
        app = app_frame(page, demo.server, f"a[data-view='{view}']")
        app.click(f"a[data-view='{view}']")
        app.wait_for_selector(f"#kd-{view} tr[data-document-id='{doc}']", timeout=30000)
        shot(page, f"08-{who}")
