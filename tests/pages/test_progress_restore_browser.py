"""A reload in the middle of signing, in headless Chromium with a real klikdok-agent: the progress panel comes back
from the server's job state (``GET /api/v1/jobs/in-progress``) with the right counts and keeps watching until the
agent finishes, and every document being signed says «Подписывается…» in the queue and in its panel — it never
looks untouched while its job runs on. The agent's signing program is held at a gate the test opens, so "still
signing" is a fact of the test, not a guess about timing."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import Agent, openssl_backend, pdf
from tests.browser import PageLog, screenshot, wait_or_explain
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.pages.conftest import open_app_page, open_deal_tab
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, wait_for

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)


class Gate:
    """An ``openssl`` earlier on the agent's PATH that waits before each signing (``cms -sign`` over a file, or
    ``dgst -sign`` over the signed attributes, as the backend signs a digest it already has) until :meth:`open`
    (at most two minutes, so a test that fails never leaves it waiting), then runs the real one."""

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.release = directory / "release"
        real = subprocess.run(["which", "openssl"], capture_output=True, text=True, check=True).stdout.strip()
        script = directory / "openssl"
        script.write_text(f"""#!{sys.executable}
import os, sys, time
args = sys.argv[1:]
if ("cms" in args or "dgst" in args) and "-sign" in args:
    with open({str(directory / "waiting.log")!r}, "a") as log:
        log.write("waiting\\n")
    deadline = time.monotonic() + 120
    while not os.path.exists({str(self.release)!r}) and time.monotonic() < deadline:
        time.sleep(0.05)
os.execv({real!r}, [{real!r}, *args])
""")
        script.chmod(0o755)
        self.env = {"PATH": f"{directory}:{os.environ.get('PATH', '')}"}
        self.waiting_log = directory / "waiting.log"

    def holding(self) -> bool:
        return self.waiting_log.exists()

    def open(self) -> None:
        self.release.touch()


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = Gate(tmp_path / "gate")
    yield g
    g.open()  # whatever happened, nothing stays waiting behind the test


def documents(kd: Klikdok, people: People, count: int) -> list[int]:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    return [
        kd.create(MANAGER, DEAL, {f"Акт {n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"Акт сверки №{n}")
        for n in range(1, count + 1)
    ]


def held_agent(kd: Klikdok, people: People, make_agent: Any, gate: Gate) -> Agent:
    agent: Agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start(env=gate.env)
    wait_for(lambda: kd.api("GET", "/agents", DIRECTOR).json()["online"], what="agent online")
    return agent


def test_the_progress_panel_comes_back_after_a_reload_and_finishes(
    kd: Klikdok, people: People, page: Any, make_agent: Any, gate: Gate
) -> None:
    docs = documents(kd, people, 2)
    held_agent(kd, people, make_agent, gate)
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-agent-chip[data-online='yes']")
    page.check("#kd-select-all")
    page.click("#kd-sign-agent")
    page.wait_for_selector("#kd-progress li[data-status='delivered']", timeout=20000)
    wait_for(gate.holding, what="the agent's signing program waiting at the gate")

    # The signer reloads the page (the portal posts the app page again): the same panel is back.
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-progress[data-restored='yes']")
    assert page.get_attribute("#kd-progress", "data-route") == "agent"
    assert page.get_attribute("#kd-progress", "data-finished") == "no"
    assert page.inner_text("#kd-progress-count") == "Подписано 0 из 2"
    assert page.locator("#kd-progress li").count() == 2
    page.wait_for_selector("#kd-progress li[data-status='delivered']")
    assert "агент подписывает" in page.inner_text("#kd-progress")
    assert "Акт сверки №1" in page.inner_text("#kd-progress")  # titles from the server, not «Документ №…»
    assert page.locator("#kd-progress-cancel").count() == 1
    # The queue does not pretend the documents are untouched.
    for doc in docs:
        page.wait_for_selector(f"#kd-queue tr[data-document-id='{doc}'] .kd-signing-mark")
    assert page.inner_text(f"#kd-queue tr[data-document-id='{docs[0]}'] .kd-signing-mark") == "Подписывается…"
    # ...nor does the document's own panel.
    page.click(f"#kd-queue tr[data-document-id='{docs[0]}'] .kd-open")
    page.wait_for_selector(f"#kd-doc-{docs[0]} .kd-head .kd-signing-mark")
    screenshot(page, "progress-restored-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "progress-restored-390")
    page.set_viewport_size({"width": 1280, "height": 900})

    # The agent finishes: the restored panel saw it through and the marks are gone.
    gate.open()
    page.wait_for_selector("#kd-progress-done", timeout=60000)
    assert page.inner_text("#kd-progress-count") == "Подписано 2 из 2"
    assert page.locator("#kd-progress li[data-status='done']").count() == 2
    page.wait_for_selector("#kd-queue-empty")
    assert page.locator(".kd-signing-mark").count() == 0
    assert page.is_disabled("#kd-select-all") and not page.is_checked("#kd-select-all")  # nothing to select
    for doc in docs:
        assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("agent",)]


def test_nothing_is_restored_when_nothing_is_being_signed(kd: Klikdok, people: People, page: Any) -> None:
    doc = documents(kd, people, 1)[0]
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector(f"#kd-queue tr[data-document-id='{doc}']")
    page.wait_for_load_state("networkidle")
    assert page.locator("#kd-progress > *").count() == 0
    assert page.locator(".kd-signing-mark").count() == 0


def test_the_crm_tab_shows_the_signing_under_the_document_after_a_reload(
    kd: Klikdok, people: People, page: Any, make_agent: Any, gate: Gate
) -> None:
    doc = documents(kd, people, 1)[0]
    held_agent(kd, people, make_agent, gate)
    resp = kd.api("POST", "/documents/sign-request", DIRECTOR, json={"document_ids": [doc], "channel": "agent"})
    assert resp.status_code == 200, resp.text
    wait_for(gate.holding, what="the agent's signing program waiting at the gate")

    frame = open_deal_tab(page, kd, DIRECTOR)
    frame.wait_for_selector(f"tr[data-document-id='{doc}'] .kd-signing-mark")
    frame.click(f"tr[data-document-id='{doc}'] .kd-open")
    frame.wait_for_selector("#kd-progress[data-restored='yes'] li[data-status='delivered']")
    assert frame.inner_text("#kd-progress-count") == "Подписано 0 из 1"
    assert frame.locator(f"#kd-doc-{doc} .kd-signing-mark").count() == 1
    screenshot(page, "progress-restored-tab-1280")
    gate.open()
    # Signed: the tab redraws the document (no longer the signer's to sign) and the mark goes with the job.
    frame.wait_for_function("!document.querySelector('.kd-signing-mark')", timeout=60000)
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("agent",)]


def test_a_cryptoarm_run_in_progress_comes_back_after_a_reload(kd: Klikdok, people: People, page: Any) -> None:
    cert = people.certs[DIRECTOR]
    docs = documents(kd, people, 2)
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    page.check("#kd-select-all")
    page.click("#kd-sign-cryptoarm")
    page.wait_for_selector("#kd-cryptoarm-link")
    link = str(page.get_attribute("#kd-cryptoarm-link", "href"))

    log = PageLog(page)
    open_app_page(page, kd, DIRECTOR)  # the reload: the one-time link itself is not shown again
    page.wait_for_selector("#kd-progress[data-restored='yes'][data-route='cryptoarm']")
    assert page.inner_text("#kd-progress-count") == "Подписано 0 из 2"
    assert page.locator("#kd-progress li[data-cryptoarm='open']").count() == 2
    assert page.locator("#kd-cryptoarm-link").count() == 0
    for doc in docs:
        page.wait_for_selector(f"#kd-queue tr[data-document-id='{doc}'] .kd-signing-mark")

    # CryptoARM GOST, opened before the reload, signs: the restored panel sees it through.
    run = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link)
    assert run.outcome == "uploaded", run
    wait_or_explain(page, "#kd-progress-done", 30_000, log)
    assert page.inner_text("#kd-progress-count") == "Подписано 2 из 2"
    page.wait_for_selector("#kd-queue-empty")
    assert page.locator(".kd-signing-mark").count() == 0
