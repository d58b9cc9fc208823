"""E-mail delivery: the relay down for a while (nothing lost, nothing doubled), a bounce (shown on the document,
the author told), and the SMTP sender itself over STARTTLS and implicit TLS with AUTH against aiosmtpd."""

from __future__ import annotations

import ssl
import subprocess
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import msgspec
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from server.config import SmtpSettings
from server.mail.smtp import PermanentFailure, SmtpSender, TemporaryFailure
from tests.counterparty.conftest import ALFA_EMAIL, PDF, Counterparty, Exchange, Mailbox, link_in
from tests.support.server import free_port
from tests.workflow.conftest import MANAGER, wait_for


def test_relay_down_for_a_while_then_everything_arrives_once(exchange: Exchange, counterparty: Counterparty) -> None:
    exchange.smtp.stop()
    first = exchange.company_signed(title="Договор А")
    second = exchange.company_signed(title="Договор Б")
    # Both invitations are retried while the relay is down, and the manager can see it.
    wait_for(
        lambda: (
            all(a >= 2 for (a,) in exchange.kd.query("SELECT attempts FROM outbox WHERE kind = 'mail.invitation'"))
            and len(exchange.kd.query("SELECT 1 FROM outbox WHERE kind = 'mail.invitation'")) == 2
        ),
        timeout=20,
        what="retries",
    )
    status = exchange.kd.api("GET", f"/documents/{first}/counterparty/", MANAGER).json()
    assert status["current"]["mail_status"] == "retrying" and "недоступен" in status["current"]["mail_error"]
    assert exchange.smtp.mailbox.messages == []
    exchange.smtp.start()
    a = exchange.invitation(title="Договор А")
    b = exchange.invitation(title="Договор Б")
    time.sleep(2.5)  # several more worker rounds: nothing may be sent again
    assert len(exchange.smtp.mailbox.to(ALFA_EMAIL, "Документ на подпись")) == 2
    assert exchange.kd.query("SELECT status, count(*) FROM outbox WHERE kind LIKE 'mail.%' GROUP BY status") == [
        ("delivered", 2)
    ]
    # Both links work.
    for doc_id, mail in ((first, a), (second, b)):
        link = link_in(mail)
        fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
        assert exchange.upload(link, {fid: counterparty.sign(counterparty.director, PDF)}).status_code == 303
        assert exchange.state(doc_id) == "completed"


def test_bounce_is_shown_on_the_document_and_the_author_is_told(exchange: Exchange) -> None:
    exchange.smtp.mailbox.refuse = {ALFA_EMAIL}
    doc_id = exchange.company_signed()
    wait_for(
        lambda: (
            exchange.kd.query("SELECT mail_status FROM counterparty_links")[0][0] == "failed"
            if exchange.kd.query("SELECT 1 FROM counterparty_links")
            else False
        ),
        what="the bounce recorded",
    )
    # A 5xx is final: one attempt, no retries.
    assert exchange.kd.query("SELECT status, attempts FROM outbox WHERE kind = 'mail.invitation'") == [("failed", 1)]
    status = exchange.kd.api("GET", f"/documents/{doc_id}/counterparty/", MANAGER).json()
    assert status["current"]["mail_status"] == "failed" and "550" in status["current"]["mail_error"]
    detail = exchange.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    assert any(h["action"] == "counterparty.email_failed" for h in detail["history"])
    emu = exchange.kd.emu.state
    wait_for(
        lambda: [n for n in emu.notifications if n["USER_ID"] == MANAGER and "не доставлено" in n["MESSAGE"]],
        what="the author's notification",
    )
    wait_for(lambda: [c for c in emu.timeline_comments if "не доставлено" in c["COMMENT"]], what="timeline comment")
    # The manager fixes the address.
    r = exchange.kd.api(
        "POST", f"/documents/{doc_id}/counterparty/resend", MANAGER, json={"email": "orlov@alfa-postavka.example"}
    )
    assert r.status_code == 200
    exchange.invitation("orlov@alfa-postavka.example")


# -- the sender against a TLS relay --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tls_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    d = tmp_path_factory.mktemp("smtp-tls")
    key, cert = d / "key.pem", d / "cert.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


class Accounts:
    def __init__(self) -> None:
        self.logins: list[str] = []

    def __call__(self, server: Any, session: Any, envelope: Any, mechanism: str, auth_data: Any) -> AuthResult:
        if isinstance(auth_data, LoginPassword) and auth_data.login == b"klikdok" and auth_data.password == b"s3cret":
            self.logins.append(auth_data.login.decode())
            return AuthResult(success=True)
        return AuthResult(success=False, handled=False)


def letter(to: str = "someone@example.org") -> EmailMessage:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "edo@vector.example", to, "Проверка"
    msg.set_content("Тело письма")
    return msg


@pytest.mark.parametrize("security", ["starttls", "ssl"])
def test_sender_over_tls_with_auth(tls_files: tuple[Path, Path], security: str) -> None:
    cert, key = tls_files
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    mailbox, accounts, port = Mailbox(), Accounts(), free_port()
    # aiosmtpd does not count implicit TLS as TLS for auth_require_tls, so that check is only asked of STARTTLS.
    kwargs: dict[str, Any] = (
        {"ssl_context": context, "auth_require_tls": False}
        if security == "ssl"
        else {"tls_context": context, "require_starttls": True, "auth_require_tls": True}
    )
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, authenticator=accounts, **kwargs)
    controller.start()
    try:
        settings = SmtpSettings(
            host="127.0.0.1",
            port=port,
            security=security,
            username="klikdok",  # type: ignore[arg-type]  # the parametrized word is a plain str
            password="s3cret",
            ca_file=str(cert),
            timeout_seconds=10,
        )
        SmtpSender(settings).send(letter())
        assert accounts.logins == ["klikdok"] and len(mailbox.messages) == 1
        assert str(mailbox.messages[0]["Subject"]) == "Проверка"
        with pytest.raises(TemporaryFailure, match="логин и пароль"):
            SmtpSender(msgspec.structs.replace(settings, password="wrong")).send(letter())
        # A relay whose certificate we do not trust is not talked to.
        with pytest.raises(TemporaryFailure):
            SmtpSender(
                SmtpSettings(
                    host="127.0.0.1",
                    port=port,
                    security=security,
                    username="klikdok",  # type: ignore[arg-type]  # the parametrized word is a plain str
                    password="s3cret",
                    timeout_seconds=10,
                )
            ).send(letter())
        assert len(mailbox.messages) == 1
    finally:
        controller.stop()


def test_sender_sorts_failures() -> None:
    mailbox, port = Mailbox(), free_port()
    mailbox.refuse = {"nobody@example.org"}
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        sender = SmtpSender(SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=10))
        with pytest.raises(PermanentFailure) as bounced:
            sender.send(letter("nobody@example.org"))
        assert bounced.value.code == 550
    finally:
        controller.stop()
    with pytest.raises(TemporaryFailure, match="недоступен"):
        SmtpSender(SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=5)).send(letter())
