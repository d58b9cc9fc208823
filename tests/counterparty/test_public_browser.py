"""Headless Chromium on the counterparty's public pages (issue 15): the CryptoARM hand-off page follows the run
live (no «обновите страницу»), and a browser that lands on an action's address or an error finds its way back.
Screenshots: test-artifacts/cryptoarm-handoff-*.png and error-page-*.png at 1280 and 390 px."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from server.counterparty.cryptoarm_handler import WAITING, progress_of
from server.cryptoarm.transaction_store import Txn
from tests.browser import PageLog, browser_page, chromium, open_settled, screenshot, wait_or_explain
from tests.counterparty.conftest import Counterparty, Exchange, link_in
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator

LIVE = 60_000  # verification on a loaded box


def _hand_off(page: Any, link: str) -> str:
    """From the document page, «Подписать в КриптоАРМ ГОСТ»: the hand-off page; returns the cryptoarm:// link."""
    log = PageLog(page)
    open_settled(page, link)
    page.click("[data-cryptoarm]")
    wait_or_explain(page, "[data-cryptoarm-handoff]", LIVE, log)
    return str(page.get_attribute("[data-cryptoarm-link]", "href"))


def test_the_hand_off_page_follows_the_run_live(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    with browser_page() as page:
        app_link = _hand_off(page, link)
        progress = page.locator("[data-progress]")
        progress.wait_for(state="visible")
        assert WAITING in progress.inner_text()
        assert page.locator("[data-manual-step]").is_hidden()  # no «обновите страницу» with JavaScript on
        assert page.locator("[data-live-step]").is_visible()
        page.evaluate("window.__samePage = true")
        screenshot(page, "cryptoarm-handoff-1280")

        # Someone else's certificate: refused, with the reason, on the same page.
        stranger = CryptoArmEmulator(counterparty.stranger.cert, counterparty.stranger.key, allow_http=True)
        assert stranger.follow(app_link).outcome == "uploaded"
        page.wait_for_selector("[data-progress][data-phase=refused]", timeout=LIVE)
        assert "Подпись не принята" in progress.inner_text() and "другой организации" in progress.inner_text()
        assert page.evaluate("window.__samePage === true"), "the page was reloaded"
        screenshot(page, "cryptoarm-handoff-refused-1280")

        # Again, with the right certificate: accepted, the document is signed by both sides.
        app_link = _hand_off(page, link)
        page.evaluate("window.__samePage = true")
        director = CryptoArmEmulator(counterparty.director.cert, counterparty.director.key, allow_http=True)
        assert director.follow(app_link).outcome == "uploaded"
        page.wait_for_selector("[data-progress][data-phase=accepted]", timeout=LIVE)
        assert "Подпись принята" in progress.inner_text() and "подписан обеими сторонами" in progress.inner_text()
        assert page.evaluate("window.__samePage === true"), "the page was reloaded"
        assert page.locator("[data-open]").is_hidden()
        screenshot(page, "cryptoarm-handoff-accepted-1280")
        page.click("[data-progress-page]")
        page.wait_for_selector("[data-message]")
        assert "Ваша подпись принята" in page.locator("[data-message]").inner_text()
    assert exchange.state(doc_id) == "completed"


def test_the_hand_off_page_on_a_phone_and_without_javascript(exchange: Exchange) -> None:
    exchange.company_signed()
    link = link_in(exchange.invitation())
    with browser_page(width=390, height=844) as page:
        _hand_off(page, link)
        page.locator("[data-progress]").wait_for(state="visible")
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        screenshot(page, "cryptoarm-handoff-390")
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU", java_script_enabled=False)
        _hand_off(page, link)
        assert page.locator("[data-progress]").is_hidden()
        assert "обновите её" in page.locator("[data-manual-step]").inner_text()  # still says what to do


def _txn(state: str, outcome: dict[str, Any], expires: str = "2999-01-01T00:00:00+00:00") -> Txn:
    return Txn(
        id=1, kind="counterparty_link", targets=[1], user_id=None, agent_id=None, state=state,
        created_at="2026-01-01T00:00:00+00:00", expires_at=expires, files=[], outcome=outcome, sealed={},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("state", "outcome", "mode", "phase", "words"),
    [
        ("open", {}, "open", "waiting", "Ждём подпись из КриптоАРМ ГОСТ"),
        ("parameters_sent", {}, "open", "waiting", "выберите свой сертификат"),
        ("completed", {"files": 1}, "open", "checking", "Подпись получена, проверяем"),
        ("completed", {"accepted": ["5"], "refused": []}, "signed", "accepted", "подписан обеими сторонами"),
        ("completed", {"accepted": ["5"], "refused": []}, "open", "accepted", "Осталось подписать"),
        ("completed", {"accepted": [], "refused": [{"message": "Сертификат отозван."}]}, "open", "refused", "отозван"),
        ("cancelled", {"status": "Canceled"}, "open", "cancelled", "отменили"),
    ],
)
def test_the_phases_in_words(state: str, outcome: dict[str, Any], mode: str, phase: str, words: str) -> None:
    shown = progress_of(_txn(state, outcome), mode)
    assert shown.phase == phase and words in shown.title + " " + shown.message
    assert progress_of(_txn("open", {}, expires="2000-01-01T00:00:00+00:00"), "open").phase == "expired"
    assert progress_of(None, "open").final


def test_a_browser_finds_its_way_back_from_an_action_address_and_errors(exchange: Exchange, tmp_path: Path) -> None:
    exchange.company_signed()
    link = link_in(exchange.invitation())
    junk = tmp_path / "подпись.sig"
    junk.write_bytes(b"not a signature")
    for width, height in ((1280, 900), (390, 844)):
        with browser_page(width=width, height=height) as page:
            open_settled(page, link)
            page.set_input_files("input[type=file]", str(junk))
            page.click("[data-upload]")
            page.wait_for_selector("[data-error]")
            assert page.url.split("?")[0] == f"{link}/sign"  # the form's action carries its idempotency key
            # Opening the address again (a new tab, the address bar): the document page, not a JSON 405.
            page.goto(page.url)
            assert page.url == link and page.locator("h1.cp-title").inner_text() == "Договор поставки"
            # The portal's pages opened outside the portal: a Russian page that says where KlikDok opens.
            answer = page.goto(f"{exchange.kd.url}/b24/app")
            assert answer is not None and answer.status == 405
            assert "status_code" not in page.content() and "Откройте KlikDok из портала Битрикс24" in page.content()
            assert page.locator("[data-problem]").is_visible()
            screenshot(page, f"error-page-portal-{width}")
            # A file of a link that does not exist: the counterparty's page, with a way back.
            page.goto(f"{link[:-3]}AAA/files/1")
            assert page.locator("[data-problem] h1").inner_text() == "Ссылка не найдена"
            assert page.locator("[data-back]").get_attribute("href") == f"/c/{link.rsplit('/', 1)[1][:-3]}AAA"
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
            screenshot(page, f"error-page-public-{width}")
