"""The signer's page ("На подпись") in headless Chromium: pairing a real klikdok-agent from the code the page
shows, the agent going online in the list, "Подписать" signing the selected documents through it, revoking it;
and "Открыть в КриптоАРМ ГОСТ" handing out a cryptoarm:// link that the CryptoARM GOST emulator follows —
cancelled once (the documents keep waiting), then signed."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.agent.conftest import Agent, openssl_backend, pdf
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)


def queue_of(kd: Klikdok, count: int, title: str) -> list[int]:
    return [
        kd.create(MANAGER, DEAL, {f"{title} {n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"{title} №{n}")
        for n in range(1, count + 1)
    ]


def test_pair_an_agent_from_the_page_and_sign_the_selection_with_it(
    kd: Klikdok, people: People, page: Any, make_agent: Any
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    docs = queue_of(kd, 3, "Счёт")
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    page.wait_for_selector("#kd-agents-empty")
    assert page.inner_text("#kd-agent-chip-text") == "Агент подписи не подключён"
    page.check("#kd-select-all")
    # No agent: "Подписать" stays off and the page says why; CryptoARM and the manual route stay available.
    assert page.is_disabled("#kd-sign-agent")
    assert page.is_enabled("#kd-sign-cryptoarm") and page.is_enabled("#kd-sign-manual")
    assert "когда агент подписи в сети" in page.inner_text("#kd-sign-hint")

    page.click("#kd-pair")
    page.wait_for_selector("#kd-pairing-code")
    code = page.inner_text("#kd-pairing-code")
    command = page.inner_text("#kd-pairing-command")
    assert re.fullmatch(r"[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{4}-[2-9A-HJKMNP-Z]{2}", code), code
    assert command == f"klikdok-agent pair {kd.url} {code}"
    first = page.inner_text("#kd-pairing-left")
    assert re.fullmatch(r"Действует ещё (10:00|9:5\d)", first), first
    page.wait_for_function("t => document.getElementById('kd-pairing-left').textContent !== t", arg=first)
    assert "klikdok-agent setup" in page.inner_text("#kd-pairing-setup")  # how to choose the program and certificate
    shot(page, "01-queue-pairing-code")

    # The person runs the command the page shows, on their own computer (here: a real klikdok-agent process).
    agent: Agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    _, _, url, typed = command.split()
    done = agent.cli("pair", url, typed)
    assert done.returncode == 0, done.stderr
    page.wait_for_selector("#kd-paired", timeout=15000)
    assert "klikdok-agent setup" in page.inner_text("#kd-paired")
    # The next steps per signing program: the person picks theirs until the agent reports it.
    assert page.get_attribute("#kd-next-steps", "data-backend") == "cryptoarm"
    assert "Сертификат в агенте не выбирается" in page.inner_text("#kd-next-steps")
    page.select_option("#kd-paired-backend", "cryptopro")
    assert "pycades" in page.inner_text("#kd-next-steps")
    page.select_option("#kd-paired-backend", "openssl")
    steps = page.inner_text("#kd-next-steps")
    assert "файл ключа" in steps and "klikdok-agent setup" in steps and "«Мои сертификаты»" in steps
    shot(page, "01b-queue-agent-paired")
    page.wait_for_selector("#kd-agents tr[data-agent-id][data-online='no']")
    assert "ещё не запускался" in page.inner_text("#kd-agents")
    agent.start()
    page.wait_for_selector("#kd-agents tr[data-agent-id][data-online='yes']", timeout=20000)
    page.wait_for_selector("#kd-agent-chip[data-online='yes']")
    assert page.inner_text("#kd-agent-chip-text").startswith("Агент в сети")
    assert page.locator("#kd-paired").count() == 0  # the "paired, now start it" note is gone once it is online
    # The backend arrives with the agent's first heartbeat; the list shows it on a later refresh.
    page.wait_for_function("document.getElementById('kd-agents').textContent.includes('OpenSSL (ГОСТ)')", timeout=15000)
    # What is left for that backend: bind the certificate in «Мои сертификаты».
    page.wait_for_selector("#kd-agent-next[data-backend='openssl']", timeout=15000)
    assert page.get_attribute("#kd-agent-next a[href='#certificates']", "href") == "#certificates"
    assert "OpenSSL (ГОСТ)" in page.inner_text("#kd-agent-next")
    shot(page, "01c-queue-agent-next-steps")
    page.click("#kd-agent-next-close")
    assert page.locator("#kd-agent-next").count() == 0
    page.wait_for_function("!document.getElementById('kd-sign-agent').disabled")
    shot(page, "02-queue-agent-online")

    page.click("#kd-sign-agent")
    page.wait_for_selector("#kd-progress[data-route='agent']")
    page.wait_for_selector("#kd-progress-done", timeout=60000)
    assert page.inner_text("#kd-progress-count") == "Подписано 3 из 3"
    assert page.locator("#kd-progress li[data-status='done']").count() == 3
    page.wait_for_selector("#kd-queue-empty")
    shot(page, "03-queue-signed-by-agent")
    for doc in docs:
        assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_counterparty",)]
        assert kd.query("SELECT source, signer_user_id FROM signatures WHERE document_id = ?", doc) == [
            ("agent", DIRECTOR)
        ]
    assert kd.query("SELECT channel, status, count(*) FROM jobs GROUP BY channel, status") == [("agent", "done", 3)]

    # Revoke from the list: the key dies at once, the running agent is cut off and stops.
    page.on("dialog", lambda d: d.accept())
    page.click("#kd-agents .kd-revoke")
    page.wait_for_selector("#kd-agents-empty")
    assert page.inner_text("#kd-agent-chip-text") == "Агент подписи не подключён"
    assert kd.query("SELECT count(*) FROM agents WHERE revoked_at IS NOT NULL") == [(1,)]
    assert agent.proc is not None and agent.proc.wait(20) == 3
    shot(page, "04-queue-agent-revoked")


def test_agent_offline_leaves_jobs_waiting_and_says_so(kd: Klikdok, people: People, page: Any, make_agent: Any) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = queue_of(kd, 1, "Акт")[0]
    agent: Agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: kd.api("GET", "/agents", DIRECTOR).json()["online"], what="agent online")
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-agent-chip[data-online='yes']")
    page.check("#kd-select-all")
    agent.stop()  # the agent goes away between the page's last look and the click
    page.click("#kd-sign-agent")
    page.wait_for_selector("#kd-progress li[data-status='pending']")
    page.wait_for_selector("#kd-agent-chip[data-online='no']", timeout=20000)
    page.wait_for_selector("#kd-progress .kd-warning")
    assert "ждёт агента" in page.inner_text("#kd-progress li")
    shot(page, "05-queue-agent-offline")
    # It comes back: the waiting job is delivered and signed without another click.
    agent.start()
    page.wait_for_selector("#kd-progress-done", timeout=60000)
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("agent",)]


def test_cryptoarm_link_from_the_page_cancelled_then_signed(kd: Klikdok, people: People, page: Any) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    docs = queue_of(kd, 2, "Договор")
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    page.check("#kd-select-all")
    page.click("#kd-sign-cryptoarm")
    page.wait_for_selector("#kd-cryptoarm-link")
    link = page.get_attribute("#kd-cryptoarm-link", "href")
    assert link and link.startswith(f"cryptoarm://signAndEncrypt/{kd.url}/cryptoarm/json?id=")
    # The page handed the same link to the OS handler (a hidden frame, so the page itself stays).
    assert page.get_attribute("#kd-cryptoarm-launcher", "src") == link
    assert kd.query("SELECT channel, status, count(*) FROM jobs GROUP BY channel, status") == [
        ("cryptoarm", "pending", 2)
    ]
    shot(page, "06-queue-cryptoarm-opened")

    # The signer presses «Отмена» in CryptoARM GOST: nothing is signed, the page says so and offers a new run.
    run = CryptoArmEmulator(cert.cert, cert.key, action="cancel", allow_http=True).follow(link)
    assert run.outcome == "cancelled", run.outcome
    page.wait_for_selector("#kd-progress-cancelled")
    assert page.locator("#kd-progress li[data-cryptoarm='cancelled']").count() == 2
    assert "отменено в КриптоАРМ ГОСТ" in page.inner_text("#kd-progress")
    assert kd.query("SELECT count(*) FROM signatures") == [(0,)]
    shot(page, "07-queue-cryptoarm-cancelled")

    # Once a cryptoarm:// link went to the OS, headless Chromium keeps its "open the external app?" prompt up
    # and it swallows real mouse input (a person would answer it); the click is dispatched to the button.
    page.dispatch_event("#kd-cryptoarm-again", "click")
    page.wait_for_function(
        "l => { const a = document.getElementById('kd-cryptoarm-link'); return a && a.href !== l; }", arg=link
    )
    second = page.get_attribute("#kd-cryptoarm-link", "href")
    assert second and second != link
    # The first link is single-use: following it again gets nothing signed.
    assert CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link).outcome.startswith("refused:")
    run = CryptoArmEmulator(cert.cert, cert.key, encoding="pem", allow_http=True).follow(second)
    assert run.outcome == "uploaded" and run.upload_status == 204, run
    assert len(run.files) == 2  # one CryptoARM run for the whole selection
    page.wait_for_selector("#kd-progress-done", timeout=30000)
    page.wait_for_selector("#kd-queue-empty")
    shot(page, "08-queue-cryptoarm-signed")
    for doc in docs:
        assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("cryptoarm",)]
        assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_counterparty",)]


def test_document_panel_offers_both_routes_and_the_manual_one(kd: Klikdok, people: People, page: Any) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = queue_of(kd, 1, "Спецификация")[0]
    open_app_page(page, kd, DIRECTOR)
    page.click("#kd-queue .kd-open")
    box = f"#kd-sign-{doc}"
    page.wait_for_selector(f"{box} [data-action='sign-cryptoarm']")
    assert page.is_disabled(f"{box} [data-action='sign-agent']")  # no agent
    assert "агент подписи не в сети" in page.inner_text(box)
    assert page.locator(f"{box} .kd-sig-input").count() == 1  # the manual route stays
    shot(page, "09-document-sign-routes")
    page.click(f"{box} [data-action='sign-cryptoarm']")
    page.wait_for_selector("#kd-cryptoarm-link")
    link = page.get_attribute("#kd-cryptoarm-link", "href")
    run = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link)
    assert run.outcome == "uploaded", run
    page.wait_for_selector("#kd-progress-done", timeout=30000)
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("cryptoarm",)]


def test_signer_signs_from_the_crm_tab_in_cryptoarm(kd: Klikdok, people: People, page: Any) -> None:
    """The signer may open the deal card instead of the app page: the same buttons work inside the tab's frame."""
    from tests.pages.conftest import open_deal_tab

    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = queue_of(kd, 1, "Протокол")[0]
    frame = open_deal_tab(page, kd, DIRECTOR)
    frame.click(f"#kd-documents tr[data-document-id='{doc}'] .kd-open")
    box = f"#kd-sign-{doc}"
    frame.wait_for_selector(f"{box} [data-action='sign-cryptoarm']")
    frame.wait_for_function(f"document.querySelector(\"{box}\").textContent.includes('агент подписи не в сети')")
    frame.click(f"{box} [data-action='sign-cryptoarm']")
    frame.wait_for_selector("#kd-cryptoarm-link")
    link = frame.get_attribute("#kd-cryptoarm-link", "href")
    shot(page, "15-tab-signer-cryptoarm")
    run = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link)
    assert run.outcome == "uploaded", run
    # Signed: the document panel reloads by itself and shows the next step, the counterparty.
    frame.wait_for_selector(f"#kd-doc-{doc} .kd-badge[data-state='awaiting_counterparty']", timeout=30000)
    frame.wait_for_selector(f"#kd-cp-{doc}[data-loaded='yes']")
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("cryptoarm",)]
    shot(page, "16-tab-signed-counterparty-next")
