"""Withdrawing a document the counterparty had been sent: the counterparty gets «Документ отозван» with the reason,
once, through the outbox and a real SMTP server (aiosmtpd); a document never sent to them brings no letter.

The reason is the author's free text and the title and names come from the CRM: whatever they carry, the letter
that arrives has exactly KlikDok's headers and goes to the one recipient of the link."""

from __future__ import annotations

import email
import email.policy
import time

import pytest

from server.mail import messages
from server.mail.smtp import SmtpSender
from tests.counterparty.conftest import ALFA_EMAIL, DEAL, PDF, Exchange, Mailbox, link_in, text_of
from tests.counterparty.test_mail_injection import HEADERS, PAYLOADS, header_names, letter, relay  # noqa: F401 - the relay fixture re-exported
from tests.workflow.conftest import DIRECTOR, MANAGER, wait_for

REASON = "Ошибка в реквизитах\r\nBcc: spy@evil.example"


def test_withdrawn_document_is_announced_to_the_counterparty_once(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    r = exchange.kd.api("POST", f"/documents/{doc_id}/withdraw", MANAGER, json={"reason": REASON})
    assert r.status_code == 200, r.text
    letters = wait_for(lambda: exchange.smtp.mailbox.to(ALFA_EMAIL, "Документ отозван"), what="the withdrawal e-mail")
    msg = letters[0]
    assert str(msg["Subject"]) == "Документ отозван: Договор поставки"
    body = text_of(msg)
    assert "«Договор поставки»" in body and "«Договор №17.pdf»" in body
    # The author's reason on one line of the body, never a header; the dead link is not repeated.
    assert "Причина отзыва: Ошибка в реквизитах Bcc: spy@evil.example" in body
    assert "/c/" not in body
    withdrawn = exchange.smtp.mailbox.envelopes[-1]  # the invitation came first, nothing else since
    assert withdrawn.rcpt_tos == [ALFA_EMAIL] and header_names(withdrawn.raw) == HEADERS
    # The link's page says the document was withdrawn.
    page = exchange.page(link)
    assert page.status_code == 410 and "Документ отозван" in page.text
    # The document's history says the letter went out; nothing is sent twice.
    wait_for(
        lambda: [
            h
            for h in exchange.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["history"]
            if h["action"] == "counterparty.email_sent" and h["details"]["kind"] == "mail.withdrawal"
        ],
        what="the history line",
    )
    time.sleep(1.5)  # several more worker rounds
    assert len(exchange.smtp.mailbox.to(ALFA_EMAIL, "Документ отозван")) == 1
    assert exchange.kd.query("SELECT status FROM outbox WHERE kind = 'mail.withdrawal'") == [("delivered",)]


def test_a_bounced_withdrawal_letter_is_told_to_the_author(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    exchange.invitation()
    exchange.smtp.mailbox.refuse = {ALFA_EMAIL}
    r = exchange.kd.api("POST", f"/documents/{doc_id}/withdraw", MANAGER, json={"reason": "Передумали"})
    assert r.status_code == 200, r.text
    wait_for(
        lambda: exchange.kd.query("SELECT status FROM outbox WHERE kind = 'mail.withdrawal'") == [("failed",)],
        what="the bounce recorded",
    )
    history = exchange.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["history"]
    assert any(
        h["action"] == "counterparty.email_failed" and h["details"]["kind"] == "mail.withdrawal" for h in history
    )
    # The link's own invitation stays delivered in the manager's view; the author is told to tell them.
    assert exchange.kd.query("SELECT mail_status FROM counterparty_links") == [("sent",)]
    wait_for(
        lambda: [
            n
            for n in exchange.kd.emu.state.notifications
            if n["USER_ID"] == MANAGER and "Сообщите контрагенту об отзыве сами" in n["MESSAGE"]
        ],
        what="the author's notification",
    )


def test_no_letter_when_the_counterparty_was_never_sent_the_document(exchange: Exchange) -> None:
    exchange.kd.register_cert(DIRECTOR, exchange.people.certs[DIRECTOR])
    doc_id = exchange.kd.create(MANAGER, DEAL, {"Договор №17.pdf": PDF}, signers=[DIRECTOR])
    r = exchange.kd.api("POST", f"/documents/{doc_id}/withdraw", MANAGER, json={"reason": "Передумали"})
    assert r.status_code == 200, r.text
    assert exchange.kd.query("SELECT count(*) FROM outbox WHERE kind LIKE 'mail.%'") == [(0,)]


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
def test_withdrawal_letter_cannot_be_injected(relay: tuple[Mailbox, SmtpSender], payload: str) -> None:  # noqa: F811  pytest injects the imported fixture of this name
    mailbox, sender = relay
    before = len(mailbox.envelopes)
    bad = letter(to_name=PAYLOADS[payload], title=PAYLOADS[payload], sender_company=PAYLOADS[payload], link="")
    sender.send(messages.withdrawal(bad, PAYLOADS[payload]))
    got = mailbox.envelopes[before]
    assert got.rcpt_tos == [ALFA_EMAIL] and header_names(got.raw) == HEADERS
    assert b"\x00" not in got.raw and max(len(line) for line in got.raw.split(b"\r\n")) <= 998
    body = text_of(email.message_from_bytes(got.raw, policy=email.policy.default))  # type: ignore[arg-type]  # policy.default makes an EmailMessage
    paragraphs = body.strip("\n").split("\n\n")
    assert len(paragraphs) == 4 and all("\n" not in p for p in paragraphs), paragraphs
    assert "evil.example" not in str(got.rcpt_tos)
