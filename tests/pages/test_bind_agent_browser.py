"""«Мои сертификаты» in headless Chromium, the agent channel: the signer lists the certificates of their running
klikdok-agent (openssl backend) and binds one through the page; the agent signs the server's one-time code and
the list shows the certificate. Only the binding-channel contract of certificates.js is relied on (a box inside
#kd-bind), and this channel's own element ids."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest

from tests.agent.conftest import Agent, online, openssl_backend
from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import DIRECTOR, OWN_INN, Klikdok, People, wait_for

pytestmark = pytest.mark.browser


def test_bind_the_agents_certificate_from_my_certificates(
    kd: Klikdok, people: People, page: Any, make_agent: Any
) -> None:
    cert = people.certs[DIRECTOR]
    thumbprint = hashlib.sha1(cert.cert_der).hexdigest()
    open_app_page(page, kd, DIRECTOR, "#certificates")
    page.wait_for_selector("#kd-bind #kd-bind-agent-list")

    # No agent yet: the page says so and points at the pairing panel.
    page.click("#kd-bind-agent-list")
    page.wait_for_selector("#kd-bind-agent-offline")
    assert "Подключить агент подписи" in page.inner_text("#kd-bind-agent-offline")
    assert page.get_attribute("#kd-bind-agent-offline a", "href") == "#queue"
    shot(page, "bind-agent-01-offline")

    agent: Agent = make_agent()
    agent.write_config(openssl_backend(cert))
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")

    page.click("#kd-bind-agent-list")
    page.wait_for_selector(f"#kd-bind-agent-certs input[data-thumbprint='{thumbprint}']")
    text = page.inner_text("#kd-bind-agent-certs")
    for shown in (
        "Соколов Андрей Викторович",
        "ООО «Вектор»",
        f"ИНН организации {OWN_INN}",
        "СНИЛС 123-456-789 01",
        "Действует с ",
        "издатель: ",
        f"Отпечаток: {thumbprint}",
        "этим сертификатом агент подписывает",
    ):
        assert shown in text, (shown, text)
    assert page.locator("#kd-bind-agent-offline").count() == 0
    page.check(f"#kd-bind-agent-certs input[data-thumbprint='{thumbprint}']")
    shot(page, "bind-agent-02-list")

    # A double click sends one request: the button is off from the first click until the answer.
    assert page.evaluate(
        "() => { const b = document.getElementById('kd-bind-agent-go'); b.click(); b.click(); return b.disabled; }"
    )
    page.wait_for_selector("#kd-bind-agent-done", timeout=60000)
    assert "привязан" in page.inner_text("#kd-bind-agent-done")
    page.wait_for_function("document.getElementById('kd-certificates').textContent.includes('Соколов')")
    shot(page, "bind-agent-03-bound")

    assert kd.query("SELECT user_id FROM signer_certificates") == [(DIRECTOR,)]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'certificate.registered'") == [(1,)]
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'certificate.refused'") == [(0,)]
