"""The signer's create/change actions in signing.js, in headless Chromium: a double click starts one signing, not
two; every such request carries an ``Idempotency-Key`` (one per start, one per job for a cancel, one per agent for
a revoke, one per pairing code); a refusal is said in Russian next to the control (role="alert"), never in a
native ``alert`` box."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.agent.conftest import Agent, openssl_backend, pdf
from tests.browser import screenshot
from tests.pages.conftest import open_app_page
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)


class Requests:
    """The page's API calls as the browser sent them: (method, path, Idempotency-Key or None)."""

    def __init__(self, page: Any) -> None:
        self.seen: list[tuple[str, str, str | None]] = []
        page.on("request", self._add)

    def _add(self, request: Any) -> None:
        if "/api/v1/" in request.url:
            path = request.url.split("/api/v1", 1)[1].split("?")[0]
            self.seen.append((request.method, path, request.headers.get("idempotency-key")))

    def of(self, method: str, path_start: str) -> list[tuple[str, str, str | None]]:
        return [r for r in self.seen if r[0] == method and r[1].startswith(path_start)]


def refuse(page: Any, pattern: str, method: str, message: str) -> None:
    """The server answers ``method`` on ``pattern`` with a refusal in its own format."""
    body = json.dumps({"error": "refused", "message": message}, ensure_ascii=False)

    def handle(route: Any) -> None:
        if route.request.method == method:
            route.fulfill(status=409, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route(pattern, handle)


def documents(kd: Klikdok, people: People, count: int) -> list[int]:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    return [
        kd.create(MANAGER, DEAL, {f"Счёт {n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"Счёт №{n}")
        for n in range(1, count + 1)
    ]


def test_a_double_click_starts_one_signing_and_every_change_carries_a_key(
    kd: Klikdok, people: People, page: Any
) -> None:
    docs = documents(kd, people, 2)
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.type), d.dismiss()))
    requests = Requests(page)
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    page.check("#kd-select-all")
    # Two clicks in the same moment (a double click): the button is off from the first one on.
    page.evaluate("() => { const b = document.getElementById('kd-sign-cryptoarm'); b.click(); b.click(); }")
    page.wait_for_selector("#kd-cryptoarm-link")
    starts = requests.of("POST", "/documents/sign-request")
    assert len(starts) == 1 and starts[0][2]
    links = requests.of("POST", "/cryptoarm/transactions")
    assert len(links) == 1 and links[0][2] and links[0][2] != starts[0][2]
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions") == [(1,)]

    # The cancel is refused: the reason appears under the panel's buttons and the button comes back.
    refuse(page, "**/api/v1/jobs/*/cancel", "POST", "Задание уже закрыто.")
    page.dispatch_event("#kd-progress-cancel", "click")
    page.wait_for_selector("#kd-progress-error[role='alert']")
    assert "Подписание не отменено: Задание уже закрыто." in page.inner_text("#kd-progress-error")
    page.wait_for_function("!document.getElementById('kd-progress-cancel').disabled")
    screenshot(page, "signing-cancel-refused-1280")
    page.set_viewport_size({"width": 390, "height": 844})
    screenshot(page, "signing-cancel-refused-390")
    page.set_viewport_size({"width": 1280, "height": 900})
    first_keys = {r[1]: r[2] for r in requests.of("POST", "/jobs/")}
    assert len(first_keys) == 2 and all(first_keys.values())

    # Pressed again, each job's cancel goes with the same key as before: the server may answer it from its record.
    page.unroute("**/api/v1/jobs/*/cancel")
    queue_loads = "performance.getEntriesByType('resource').filter(e => e.name.includes('view=queue')).length"
    loads = page.evaluate(queue_loads)
    page.dispatch_event("#kd-progress-cancel", "click")
    page.wait_for_selector("#kd-progress[data-finished='yes']", timeout=20000)
    # The queue reloaded when the jobs changed and kept the signer's selection (it used to drop it, and a click on
    # «Выбрать все» just before a reload was lost).
    page.wait_for_function(f"{queue_loads} > {loads}")
    page.wait_for_load_state("networkidle")
    assert page.locator("#kd-queue .kd-select:checked").count() == 2
    assert page.is_checked("#kd-select-all")
    again = {r[1]: r[2] for r in requests.of("POST", "/jobs/")}
    assert again == first_keys
    assert kd.query("SELECT status, count(*) FROM jobs GROUP BY status") == [("cancelled", 2)]
    for doc in docs:
        assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert dialogs == []  # no native alert at any point


def test_pairing_and_revoking_report_refusals_next_to_the_button(
    kd: Klikdok, people: People, page: Any, make_agent: Any
) -> None:
    agent: Agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent_id = kd.query("SELECT id FROM agents")[0][0]
    dialogs: list[str] = []

    def answer(d: Any) -> None:
        dialogs.append(d.type)
        d.accept()  # the revoke's confirmation: yes

    page.on("dialog", answer)
    requests = Requests(page)
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector(f"#kd-agents tr[data-agent-id='{agent_id}']")

    refuse(page, "**/api/v1/agents/pairing-codes", "POST", "Слишком много кодов сопряжения за час.")
    page.click("#kd-pair")
    page.wait_for_selector("#kd-pairing-error[role='alert']")
    assert page.inner_text("#kd-pairing-error") == "Код не получен: Слишком много кодов сопряжения за час."
    assert page.is_enabled("#kd-pair")
    page.unroute("**/api/v1/agents/pairing-codes")
    page.click("#kd-pair")
    page.wait_for_selector("#kd-pairing-code")
    codes = requests.of("POST", "/agents/pairing-codes")
    assert len(codes) == 2 and all(k for _, _, k in codes) and codes[0][2] != codes[1][2]  # a new code each press

    refuse(page, f"**/api/v1/agents/{agent_id}", "DELETE", "Агент не найден.")
    page.click(f"#kd-agents tr[data-agent-id='{agent_id}'] .kd-revoke")
    page.wait_for_selector(f"#kd-revoke-error-{agent_id}[role='alert']")
    assert page.inner_text(f"#kd-revoke-error-{agent_id}") == "Агент не отключён: Агент не найден."
    screenshot(page, "signing-revoke-refused-1280")
    page.unroute(f"**/api/v1/agents/{agent_id}")
    page.click(f"#kd-agents tr[data-agent-id='{agent_id}'] .kd-revoke")
    page.wait_for_selector("#kd-agents-empty")
    revokes = requests.of("DELETE", f"/agents/{agent_id}")
    assert len(revokes) == 2 and revokes[0][2] and revokes[0][2] == revokes[1][2]  # one key per agent
    assert kd.query("SELECT count(*) FROM agents WHERE revoked_at IS NOT NULL") == [(1,)]
    assert dialogs == ["confirm", "confirm"]  # the confirmations only, never an alert
