"""«Мои сертификаты» → «В КриптоАРМ ГОСТ» in headless Chromium: the signer presses «Подписать код в КриптоАРМ
ГОСТ», the page hands out a cryptoarm:// link and waits; the CryptoARM GOST emulator follows it: cancelled in
the app once (the page says so and offers another try), withdrawn on the page once (the link dies), then
signed: the certificate is bound and appears in the list. Only the page's own controls are used."""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import DIRECTOR, Klikdok, People

pytestmark = pytest.mark.browser
STATUS = "#kd-bind-cryptoarm-status"


def new_link(page: Any, old: str | None) -> str:
    """Press the start button (dispatched: once a cryptoarm:// link went to the OS, headless Chromium keeps its
    "open the external app?" prompt up and it swallows real mouse input) and wait for the new link."""
    page.dispatch_event("#kd-bind-cryptoarm-start", "click")
    page.wait_for_function(
        "old => { const a = document.getElementById('kd-bind-cryptoarm-link'); return a && a.href !== old; }",
        arg=old or "",
    )
    link = page.get_attribute("#kd-bind-cryptoarm-link", "href")
    assert link and link.startswith("cryptoarm://signAndEncrypt/")
    return str(link)


def test_signer_binds_a_certificate_through_the_cryptoarm_panel(kd: Klikdok, people: People, page: Any) -> None:
    cert = people.certs[DIRECTOR]
    open_app_page(page, kd, DIRECTOR, "#certificates")
    page.wait_for_selector("#kd-bind [data-channel='cryptoarm'] #kd-bind-cryptoarm-start")
    page.wait_for_selector("#kd-certificates .kd-cert-empty")
    assert page.inner_text("#kd-bind-cryptoarm-start") == "Подписать код в КриптоАРМ ГОСТ"
    assert not page.is_visible("#kd-bind-cryptoarm-cancel")  # nothing to cancel yet

    page.click("#kd-bind-cryptoarm-start")
    page.wait_for_selector("#kd-bind-cryptoarm-link")
    link = str(page.get_attribute("#kd-bind-cryptoarm-link", "href"))
    assert link.startswith(f"cryptoarm://signAndEncrypt/{kd.url}/cryptoarm/json?id=")
    # The page handed the same link to the OS handler, waits visibly, and does not send twice.
    assert page.get_attribute("#kd-bind-cryptoarm-launcher", "src") == link
    assert "Ждём подпись из КриптоАРМ ГОСТ…" in page.inner_text(STATUS)
    assert page.is_disabled("#kd-bind-cryptoarm-start") and page.is_visible("#kd-bind-cryptoarm-cancel")
    page.dispatch_event("#kd-bind-cryptoarm-start", "click")
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions WHERE kind = 'certificate'") == [(1,)]
    shot(page, "20-certificates-cryptoarm-waiting")

    # «Отмена» in the app: the page says so and offers another try.
    assert CryptoArmEmulator(cert.cert, cert.key, action="cancel", allow_http=True).follow(link).outcome == "cancelled"
    page.wait_for_selector(f"{STATUS}[data-state='refused']")
    assert "отменено в КриптоАРМ ГОСТ" in page.inner_text(STATUS)
    assert page.inner_text("#kd-bind-cryptoarm-start") == "Попробовать ещё раз"
    assert page.is_enabled("#kd-bind-cryptoarm-start") and not page.is_visible("#kd-bind-cryptoarm-cancel")

    # Another try, withdrawn on the page: the app's late signature binds nothing.
    second = new_link(page, link)
    page.wait_for_selector("#kd-bind-cryptoarm-cancel", state="visible")
    page.dispatch_event("#kd-bind-cryptoarm-cancel", "click")
    page.wait_for_selector(f"{STATUS}[data-code='withdrawn']")
    late = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(second)
    assert "transaction_used" in late.outcome, late.to_json()
    assert kd.query("SELECT count(*) FROM signer_certificates") == [(0,)]

    # Signed in the app: bound, said, listed.
    third = new_link(page, second)
    run = CryptoArmEmulator(cert.cert, cert.key, encoding="pem", allow_http=True).follow(third)
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    page.wait_for_selector(f"{STATUS}[data-state='done']", timeout=30000)
    assert "привязан" in page.inner_text(STATUS)
    page.wait_for_selector("#kd-certificates >> text=Соколов")
    assert page.inner_text("#kd-bind-cryptoarm-start") == "Привязать ещё один сертификат"
    assert not page.is_visible("#kd-bind-cryptoarm-cancel")
    shot(page, "21-certificates-cryptoarm-bound")
    assert kd.query("SELECT user_id, status FROM signer_certificates") == [(DIRECTOR, "active")]
