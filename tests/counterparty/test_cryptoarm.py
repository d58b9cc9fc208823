"""The counterparty signs in CryptoARM GOST: the page's button mints a transaction, the CryptoARM emulator follows
the cryptoarm:// link exactly as the app does (parameters, downloads, signs with openssl, posts the results)."""

from __future__ import annotations

import re

from tests.counterparty.conftest import ALFA_EMAIL, PDF, Counterparty, Exchange, link_in
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.workflow.conftest import MANAGER, wait_for


def cryptoarm_link(exchange: Exchange, link: str) -> str:
    page = exchange.http.post(f"{link}/cryptoarm")
    assert page.status_code == 200, page.text
    match = re.search(r'href="(cryptoarm://signAndEncrypt/[^"]+)"', page.text)
    assert match, page.text
    return match.group(1).replace("&amp;", "&")


def test_sign_in_cryptoarm_completes_the_document(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed({"Договор №17.pdf": PDF, "Приложение.txt": "Приложение 1".encode()})
    link = link_in(exchange.invitation())
    assert "Подписать в КриптоАРМ ГОСТ" in exchange.page(link).text
    app = CryptoArmEmulator(counterparty.director.cert, counterparty.director.key, allow_http=True, encoding="pem")
    run = app.follow(cryptoarm_link(exchange, link))
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    assert {f["name"] for f in run.files} == {"Договор №17.pdf", "Приложение.txt"}
    assert exchange.state(doc_id) == "completed"
    sources = exchange.kd.query("SELECT source FROM signatures WHERE signer_kind = 'counterparty'")
    assert sources == [("cryptoarm",), ("cryptoarm",)]
    wait_for(lambda: exchange.smtp.mailbox.to(ALFA_EMAIL, "подписан обеими сторонами"), what="confirmation")
    wait_for(
        lambda: [
            n
            for n in exchange.kd.emu.state.notifications
            if n["USER_ID"] == MANAGER and "Контрагент подписал" in n["MESSAGE"]
        ],
        what="author notified",
    )
    # The transaction was single-use.
    again = app.follow(run.link)
    assert again.outcome.startswith("refused:parameters")


def test_cryptoarm_with_another_organisation_and_cancel(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    stranger = CryptoArmEmulator(counterparty.stranger.cert, counterparty.stranger.key, allow_http=True)
    run = stranger.follow(cryptoarm_link(exchange, link))
    assert run.outcome == "uploaded" and run.upload_status == 200, run.to_json()
    assert "другой организации" in str(run.upload_body)
    assert exchange.state(doc_id) == "awaiting_counterparty"
    cancel = CryptoArmEmulator(counterparty.director.cert, counterparty.director.key, allow_http=True, action="cancel")
    assert cancel.follow(cryptoarm_link(exchange, link)).outcome == "cancelled"
    assert exchange.state(doc_id) == "awaiting_counterparty"
    assert exchange.kd.query("SELECT count(*) FROM audit_log WHERE action = 'counterparty.cryptoarm_cancelled'") == [
        (1,)
    ]
    # A transaction minted before a resend dies with the old link.
    pending = cryptoarm_link(exchange, link)
    assert exchange.kd.api("POST", f"/documents/{doc_id}/counterparty/resend", MANAGER, json={}).status_code == 200
    late = CryptoArmEmulator(counterparty.director.cert, counterparty.director.key, allow_http=True).follow(pending)
    assert late.outcome.startswith("refused:parameters") and "новую ссылку" in late.outcome
    assert exchange.state(doc_id) == "awaiting_counterparty"
