"""The signer's page switching ways of signing, in headless Chromium with a real klikdok-agent and the CryptoARM
GOST emulator: "Подписать" after a CryptoARM link that was never used signs through the agent; while CryptoARM
holds the document the page says so and offers to stop that run; "Отменить" in the progress panel stops the
agent's signing and the document keeps waiting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import Agent, fake_openssl, openssl_backend, pdf
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)


def one_document(kd: Klikdok, people: People, title: str) -> int:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    return kd.create(MANAGER, DEAL, {f"{title}.pdf": pdf(len(title))}, signers=[DIRECTOR], title=title)


def online_agent(kd: Klikdok, people: People, make_agent: Any, env: dict[str, str] | None = None) -> Agent:
    agent: Agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start(env=env)
    wait_for(lambda: kd.api("GET", "/agents", DIRECTOR).json()["online"], what="agent online")
    return agent


def open_in_cryptoarm(page: Any, kd: Klikdok) -> str:
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-agent-chip[data-online='yes']")
    page.check("#kd-select-all")
    page.click("#kd-sign-cryptoarm")
    page.wait_for_selector("#kd-cryptoarm-link")
    return str(page.get_attribute("#kd-cryptoarm-link", "href"))


def test_agent_signs_after_an_unused_cryptoarm_link(kd: Klikdok, people: People, page: Any, make_agent: Any) -> None:
    doc = one_document(kd, people, "Договор хранения")
    online_agent(kd, people, make_agent)
    open_in_cryptoarm(page, kd)  # CryptoARM GOST is not installed on this computer: nothing happens
    # Headless Chromium keeps the "open the external app?" prompt up after a cryptoarm:// link and it swallows
    # real mouse input (a person would answer it): clicks are dispatched to the buttons from here on.
    page.dispatch_event("#kd-sign-agent", "click")
    page.wait_for_selector("#kd-progress[data-route='agent']")
    page.wait_for_selector("#kd-progress-done", timeout=60000)
    shot(page, "20-agent-after-unused-cryptoarm-link")
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("agent",)]
    assert kd.query("SELECT channel, status, error FROM jobs ORDER BY id") == [
        ("cryptoarm", "cancelled", "moved: agent"),
        ("agent", "done", ""),
    ]


def test_a_document_open_in_cryptoarm_is_handed_to_the_agent_on_request(
    kd: Klikdok, people: People, page: Any, make_agent: Any
) -> None:
    cert = people.certs[DIRECTOR]
    doc = one_document(kd, people, "Акт приёмки")
    online_agent(kd, people, make_agent)
    link = open_in_cryptoarm(page, kd)
    # The app opened the link and shows its window; the signer goes back to the page and presses "Подписать".
    assert CryptoArmEmulator(cert.cert, cert.key, action="close", allow_http=True).follow(link).outcome == "closed"
    page.dispatch_event("#kd-sign-agent", "click")
    page.wait_for_selector("#kd-progress-takeover")
    assert "Документ «Акт приёмки» уже открыт для подписи в КриптоАРМ ГОСТ" in page.inner_text("#kd-progress .kd-error")
    assert kd.query("SELECT channel, status FROM jobs") == [("cryptoarm", "pending")]
    shot(page, "21-document-busy-in-cryptoarm")
    page.dispatch_event("#kd-progress-takeover", "click")
    page.wait_for_selector("#kd-progress-done", timeout=60000)
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("agent",)]
    assert kd.query("SELECT channel, status, error FROM jobs ORDER BY id") == [
        ("cryptoarm", "cancelled", "cancelled_by_signer: Подписание отменено подписантом."),
        ("agent", "done", ""),
    ]
    # The app's late answer for the cancelled run changes nothing.
    assert kd.query("SELECT count(*) FROM signatures") == [(1,)]


def test_cancel_in_the_progress_panel_stops_the_agent(
    kd: Klikdok, people: People, page: Any, make_agent: Any, tmp_path: Path
) -> None:
    doc = one_document(kd, people, "Счёт на оплату")
    agent = online_agent(kd, people, make_agent, env=fake_openssl(tmp_path / "slow", "slow", seconds=6.0))
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-agent-chip[data-online='yes']")
    page.check("#kd-select-all")
    page.click("#kd-sign-agent")
    page.wait_for_selector("#kd-progress li[data-status='delivered']", timeout=20000)
    assert "агент подписывает" in page.inner_text("#kd-progress li")
    shot(page, "22-agent-signing-cancel-offered")
    page.click("#kd-progress-cancel")
    page.wait_for_selector("#kd-progress-stopped", timeout=20000)
    assert page.locator("#kd-progress li[data-status='cancelled']").count() == 1
    assert "подписание отменено" in page.inner_text("#kd-progress li")
    assert page.locator("#kd-progress-cancel").count() == 0 and page.inner_text("#kd-progress-close") == "Закрыть"
    wait_for(lambda: "cancelled by the server" in agent.logs(), what="the agent told to drop the job")
    shot(page, "23-agent-signing-cancelled")
    page.wait_for_timeout(7000)  # the slow signature is done by now and was dropped by the agent
    assert kd.query("SELECT count(*) FROM signatures WHERE document_id = ?", doc) == [(0,)]
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    page.wait_for_selector(f"#kd-queue tr[data-document-id='{doc}']")  # still in the signer's queue
