"""E-mail header and body injection through names and titles, checked on the bytes a real SMTP server received.

A display name or a title may carry RFC 2047 encoded words that decode to CR/LF (``=?utf-8?q?X=0D=0A...?=``), raw
CR/LF, NUL, or be very long. Whatever it carries, the letter that arrives has exactly KlikDok's headers, goes to
exactly the one recipient in the envelope, and its body is KlikDok's text with the personal link.
"""

from __future__ import annotations

import email
import email.policy
import re
import sqlite3
from collections.abc import Iterator
from email.message import EmailMessage

import pytest
from aiosmtpd.controller import Controller

from server.config import SmtpSettings
from server.mail import messages
from server.mail.smtp import SmtpSender
from tests.counterparty.conftest import ALFA_EMAIL, Exchange, Mailbox, Received
from tests.support.server import free_port
from tests.workflow.conftest import DIRECTOR, MANAGER, wait_for

EVIL_LINK = "http://evil.example/c/steal"
PAYLOADS = {
    # Decodes to CR LF CR LF: the header block would end and the attacker's text would open the body.
    "encoded_body": "=?utf-8?q?X=0D=0A=0D=0A=D0=9E=D1=82=D0=BA=D1=80=D0=BE=D0=B9=D1=82=D0=B5_" + EVIL_LINK + "?=",
    "encoded_bcc": "=?utf-8?q?X=0D=0ABcc:_evil@x.example?=",
    "encoded_b64": "=?utf-8?b?WA0KQmNjOiBldmlsQHguZXhhbXBsZQ==?=",
    # An encoded word whose decoded text is itself an encoded word with CR LF.
    "nested": "=?utf-8?q?=3D=3Futf-8=3Fq=3FX=3D0D=3D0ABcc=3A=5Fevil=40x.example=3F=3D?=",
    "raw_crlf": f"X\r\nBcc: evil@x.example\r\n\r\n{EVIL_LINK}",
    "raw_lf": f"X\nBcc: evil@x.example\n\n{EVIL_LINK}",
    "nul": "X\x00Bcc: evil@x.example",
    "long": "Я" * 3000 + " =?utf-8?q?=0D=0ABcc:_evil@x.example?= " + "W" * 3000,
}
HEADERS = [
    "Subject",
    "From",
    "To",
    "Date",
    "Message-ID",
    "Auto-Submitted",
    "X-Auto-Response-Suppress",
    "MIME-Version",
    "Content-Type",
]
LINK = "https://edo.vector.example/c/" + "A" * 43
CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def header_names(raw: bytes) -> list[str]:
    head = raw.split(b"\r\n\r\n", 1)[0]
    return [line.split(b":", 1)[0].decode() for line in head.split(b"\r\n") if line and line[:1] not in b" \t"]


def assert_clean_letter(got: Received, *, sender: str, recipient: str, link: str) -> EmailMessage:
    """Exactly KlikDok's headers, one envelope recipient, every line short, the body ours with the link."""
    assert got.rcpt_tos == [recipient]
    assert got.mail_from == sender
    assert b"\x00" not in got.raw
    assert re.search(rb"[^\r]\n|\r[^\n]", got.raw) is None, "a bare CR or LF in the message"
    assert max(len(line) for line in got.raw.split(b"\r\n")) <= 998
    assert header_names(got.raw) == HEADERS
    msg = email.message_from_bytes(got.raw, policy=email.policy.default)
    assert [a.addr_spec for a in msg["To"].addresses] == [recipient]
    assert [a.addr_spec for a in msg["From"].addresses] == [sender]
    for name in ("Subject", "To", "From"):
        value = str(msg[name])
        assert not CONTROL.search(value), (name, value)
        assert "=?" not in value, (name, value)
        assert len(value) <= 600, (name, len(value))
    plain = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]  # the letter has this part; None would fail the test
    html = msg.get_body(preferencelist=("html",)).get_content()  # type: ignore[union-attr]  # the letter has this part; None would fail the test
    assert plain.startswith("Здравствуйте!\n\n") and html.startswith("<!doctype html>")
    assert link in plain and link in html
    # Our six paragraphs, each one line (the link the fifth): nothing the attacker wrote stands on a line of its own.
    paragraphs = plain.strip("\n").split("\n\n")
    assert len(paragraphs) == 6 and paragraphs[4] == link, paragraphs
    assert all("\n" not in p for p in paragraphs), paragraphs
    return msg


@pytest.fixture(scope="module")
def relay() -> Iterator[tuple[Mailbox, SmtpSender]]:
    mailbox, port = Mailbox(), free_port()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield mailbox, SmtpSender(SmtpSettings(host="127.0.0.1", port=port, timeout_seconds=10))
    finally:
        controller.stop()


def letter(**fields: object) -> messages.Letter:
    values: dict[str, object] = dict(
        to=ALFA_EMAIL,
        to_name="ООО «Альфа-Поставка»",
        sender="edo@vector.example",
        sender_company="ООО «Вектор»",
        author_name="Морозова Ольга Ивановна",
        title="Договор поставки",
        files=["Договор №17.pdf"],
        deadline="20.05.2026 18:00 (МСК)",
        link=LINK,
        outbox_id=7,
    )
    values.update(fields)
    return messages.Letter(**values)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


@pytest.mark.parametrize("payload", sorted(PAYLOADS))
@pytest.mark.parametrize("field", ["to_name", "title", "sender_company", "author_name"])
def test_names_and_titles_cannot_inject_headers_or_body(
    relay: tuple[Mailbox, SmtpSender], field: str, payload: str
) -> None:
    mailbox, sender = relay
    before = len(mailbox.envelopes)
    sender.send(messages.invitation(letter(**{field: PAYLOADS[payload]})))
    got = mailbox.envelopes[before]
    msg = assert_clean_letter(got, sender="edo@vector.example", recipient=ALFA_EMAIL, link=LINK)
    if field == "to_name":
        shown = msg["To"].addresses[0].display_name
        # (Python's reader puts a space between the encoded words a long name is folded into.)
        assert shown.startswith(("X", "Я")) and len(shown.replace(" ", "")) <= 200
    if field == "title":
        assert str(msg["Subject"]).startswith("Документ на подпись: ")


@pytest.mark.parametrize("build", ["reminder", "confirmation"])
def test_reminder_and_confirmation_are_built_the_same_way(relay: tuple[Mailbox, SmtpSender], build: str) -> None:
    mailbox, sender = relay
    before = len(mailbox.envelopes)
    bad = letter(to_name=PAYLOADS["encoded_body"], title=PAYLOADS["raw_crlf"], sender_company=PAYLOADS["nested"])
    sender.send(messages.reminder(bad, 2) if build == "reminder" else messages.confirmation(bad, None))
    got = mailbox.envelopes[before]
    assert got.rcpt_tos == [ALFA_EMAIL] and header_names(got.raw) == HEADERS
    msg = email.message_from_bytes(got.raw, policy=email.policy.default)
    assert not any(CONTROL.search(str(msg[h])) for h in ("Subject", "To", "From"))
    assert LINK in msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]  # the letter has this part; None would fail the test


@pytest.mark.parametrize(
    "address",
    [
        "info@alfa.example\r\nBcc: evil@x.example",
        "info@alfa.example>, evil@x.example",
        "info\x00@alfa.example",
        "иван@alfa.example",
        "info@alfa..example",
        "=?utf-8?q?evil=40x.example?=",
        "=?utf-8?q?X=0D=0ABcc=3A_e=40x.example?=@alfa.example",
        "",
    ],
)
def test_an_address_that_is_not_strictly_valid_is_never_written(address: str) -> None:
    with pytest.raises(messages.Unbuildable):
        messages.invitation(letter(to=address))


# -- end to end: the create form, the CRM requisite and the resend form ----------------------------------------


def test_injection_through_title_crm_name_and_resend_form(exchange: Exchange) -> None:
    emu = exchange.kd.emu.state
    emu.requisites[2]["RQ_COMPANY_NAME"] = PAYLOADS["encoded_body"]
    doc_id = exchange.company_signed(title=PAYLOADS["encoded_bcc"] + " " + PAYLOADS["raw_crlf"] + PAYLOADS["nul"])
    stored_title, stored_name = exchange.kd.query(
        "SELECT title, counterparty_name FROM documents WHERE id = ?", doc_id
    )[0]
    for value in (stored_title, stored_name):
        assert not CONTROL.search(value) and "=?" not in value, value
    mailbox = exchange.smtp.mailbox
    wait_for(lambda: len(mailbox.envelopes) == 1, what="the invitation")
    first = mailbox.envelopes[0]
    msg = email.message_from_bytes(first.raw, policy=email.policy.default)
    plain = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]  # the letter has this part; None would fail the test
    personal = re.search(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}", plain)
    assert personal is not None
    assert_clean_letter(first, sender="edo@vector.example", recipient=ALFA_EMAIL, link=personal.group(0))
    assert exchange.page(personal.group(0)).status_code == 200

    for name in (PAYLOADS["raw_crlf"], PAYLOADS["encoded_bcc"], PAYLOADS["long"]):
        count = len(mailbox.envelopes)
        r = exchange.kd.api(
            "POST",
            f"/documents/{doc_id}/counterparty/resend",
            MANAGER,
            json={"email": "orlov@alfa-postavka.example", "name": name},
        )
        assert r.status_code == 200, r.text
        wait_for(lambda count=count: len(mailbox.envelopes) > count, what="the resent invitation")
        got = mailbox.envelopes[count]
        msg = email.message_from_bytes(got.raw, policy=email.policy.default)
        plain = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]  # the letter has this part; None would fail the test
        personal = re.search(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}", plain)
        assert personal is not None
        assert_clean_letter(
            got, sender="edo@vector.example", recipient="orlov@alfa-postavka.example", link=personal.group(0)
        )
        assert exchange.page(personal.group(0)).status_code == 200
    status = exchange.kd.api("GET", f"/documents/{doc_id}/counterparty/", MANAGER).json()
    assert all(not CONTROL.search(h["recipient_name"]) and len(h["recipient_name"]) <= 200 for h in status["history"])


# -- a letter that cannot be built ----------------------------------------------------------------------------


def write_db(exchange: Exchange, sql: str, *params: object) -> None:
    """What an older version may have stored: written straight into the database file."""
    conn = sqlite3.connect(exchange.kd.server.data_dir / "klikdok.db", timeout=30)
    try:
        with conn:
            conn.execute(sql, params)
    finally:
        conn.close()


def test_a_stored_title_with_line_breaks_still_gives_a_one_line_subject(exchange: Exchange) -> None:
    doc_id = exchange.kd.create(
        MANAGER, ("deal", 1), {"Договор №17.pdf": b"%PDF-1.7\nx\n%%EOF\n"}, signers=[DIRECTOR], title="Договор поставки"
    )
    write_db(exchange, "UPDATE documents SET title = ? WHERE id = ?", "Договор\r\nBcc: evil@x.example\r\n\r\nX", doc_id)
    exchange.kd.register_cert(DIRECTOR, exchange.people.certs[DIRECTOR])
    fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
    r = exchange.kd.api(
        "POST",
        f"/documents/{doc_id}/files/{fid}/signatures",
        DIRECTOR,
        content=exchange.people.sign(DIRECTOR, b"%PDF-1.7\nx\n%%EOF\n"),
    )
    assert r.status_code == 201, r.text
    mailbox = exchange.smtp.mailbox
    wait_for(lambda: mailbox.envelopes, timeout=15, what="the invitation")
    msg = email.message_from_bytes(mailbox.envelopes[0].raw, policy=email.policy.default)
    assert str(msg["Subject"]) == "Документ на подпись: Договор Bcc: evil@x.example X"
    assert header_names(mailbox.envelopes[0].raw) == HEADERS
    wait_for(
        lambda: (
            exchange.kd.query("SELECT status, attempts FROM outbox WHERE kind = 'mail.invitation'")
            == [("delivered", 1)]
        ),
        what="delivered at the first attempt",
    )


def test_a_letter_that_cannot_be_built_fails_once_and_the_author_is_told(exchange: Exchange) -> None:
    exchange.smtp.stop()
    doc_id = exchange.company_signed()
    wait_for(
        lambda: (
            exchange.kd.query("SELECT attempts FROM outbox WHERE kind = 'mail.invitation'")[0][0] >= 1
            if exchange.kd.query("SELECT 1 FROM outbox WHERE kind = 'mail.invitation'")
            else False
        ),
        what="a first attempt while the relay is down",
    )
    # An address an older version accepted and no header can carry.
    write_db(
        exchange, "UPDATE counterparty_links SET recipient_email = ? WHERE document_id = ?", "иван@почта.рф", doc_id
    )
    wait_for(
        lambda: exchange.kd.query("SELECT mail_status FROM counterparty_links")[0][0] == "failed",
        timeout=20,
        what="the letter given up",
    )
    attempts = exchange.kd.query("SELECT status, attempts FROM outbox WHERE kind = 'mail.invitation'")
    assert attempts[0][0] == "failed"
    status = exchange.kd.api("GET", f"/documents/{doc_id}/counterparty/", MANAGER).json()
    assert "не удалось составить" in status["current"]["mail_error"]
    assert "адрес" in status["current"]["mail_error"]
    detail = exchange.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    assert any(h["action"] == "counterparty.email_failed" for h in detail["history"])
    emu = exchange.kd.emu.state
    wait_for(
        lambda: [n for n in emu.notifications if n["USER_ID"] == MANAGER and "не доставлено" in n["MESSAGE"]],
        what="the author's notification",
    )
    # Given up for good: no further attempts.
    exchange.smtp.start()
    count = attempts[0][1]
    wait_for(
        lambda: exchange.kd.query("SELECT status FROM outbox WHERE kind = 'mail.invitation'") == [("failed",)],
        what="still failed",
    )
    assert exchange.kd.query("SELECT attempts FROM outbox WHERE kind = 'mail.invitation'") == [(count,)]
    assert exchange.smtp.mailbox.envelopes == []


def test_one_line_and_strict_addresses() -> None:
    from server.text import email_address, name, one_line, title

    assert title("  Договор\r\n№17\t\x00от 14.05  ") == "Договор №17 от 14.05"
    assert name(PAYLOADS["nested"]) == "X Bcc: evil@x.example"  # decoded twice, then one line
    assert name("\u202eтекст\u2028строка") == "текст строка"  # bidi override and line separator
    assert one_line("=?utf-8?q?=3D=3Futf-8=3Fq=3F=3D3D=3D3F=3D3F=3D?=", 50).count("=?") == 0
    long = title("Я" * 10_000)
    assert len(long) == 300 and long.endswith("…")
    assert title("=?utf-8?q?=D0=AF?=" * 10_000).startswith("ЯЯЯ")
    assert email_address(" Info@Alfa-Postavka.Example ") == "Info@alfa-postavka.example"
    assert email_address("edo@почта.рф") == "edo@xn--80a1acny.xn--p1ai"
    assert email_address("klikdok@localhost") is None
    assert email_address("klikdok@localhost", local_domain=True) == "klikdok@localhost"
    for bad in (
        "a@b",
        "a@-b.example",
        "a@1.2.3.4",
        "a b@c.example",
        "a@b.example\nBcc: c@d.example",
        "a@@b.example",
        "x" * 65 + "@b.ru",
    ):
        assert email_address(bad) is None, bad


@pytest.mark.parametrize(
    "title",
    [
        "Дополнительное соглашение о пролонгации договора поставки №15 от ООО «Ромашка»",
        "Акт сверки взаимных расчётов за период с 01.01.2026 по 31.12.2026 между сторонами и к нему приложение",
        "Договор " + "о " * 40 + "поставке",
        "Счёт-фактура  с двумя пробелами и\tтабуляцией",
    ],
)
def test_a_long_subject_reads_back_word_for_word(title: str) -> None:
    """Python's folder drops the space before a word that starts a new encoded word («о пролонгации» arrived as
    «опролонгации» in every mail client): the subject a client decodes is the subject we wrote."""
    out = messages.render(messages.invitation(letter(title=title)))
    parsed = email.message_from_bytes(out.data, policy=email.policy.default)
    expected = "Документ на подпись: " + messages.one_line(title, messages.TITLE_MAX + 80)
    assert str(parsed["Subject"]) == expected
    assert all(len(line) <= 78 for line in out.data.split(b"\r\n") if line.startswith((b"Subject", b" ")))


def _stock_policies() -> tuple[email.policy.EmailPolicy, email.policy.EmailPolicy]:
    build = email.policy.default.clone(cte_type="7bit", max_line_length=78, raise_on_defect=True)
    return build, build.clone(linesep="\r\n")


@pytest.mark.parametrize(
    "names",
    [
        {"to_name": "Alfa Supply", "sender_company": "Vector LLC", "author_name": "Olga Morozova"},
        {"to_name": "ООО «Альфа-Поставка»", "sender_company": "ООО «Вектор»", "author_name": "Морозова О. И."},
        {"to_name": 'Smith, "John" (sales)', "sender_company": "A <B> C", "author_name": "x" * 70},
        {"to_name": PAYLOADS["encoded_body"], "sender_company": PAYLOADS["nested"], "title": PAYLOADS["raw_crlf"]},
    ],
    ids=["ascii", "cyrillic", "specials", "payloads"],
)
@pytest.mark.parametrize("build", ["invitation", "reminder", "withdrawal", "confirmation"])
def test_the_quick_header_writer_gives_the_stock_policys_bytes(
    names: dict[str, str], build: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """messages.BUILD writes a short ASCII header as it is instead of refolding it (a letter costs a third less);
    the bytes must be exactly the ones the standard library's policy makes of the same message."""
    refolded: list[str] = []
    stock_fold = email.policy.EmailPolicy.fold_binary

    def counting(self: email.policy.EmailPolicy, name: str, value: str) -> bytes:
        refolded.append(name)
        return stock_fold(self, name, value)

    monkeypatch.setattr(email.policy.EmailPolicy, "fold_binary", counting)
    one = letter(**names)
    msg = {
        "invitation": lambda: messages.invitation(one),
        "reminder": lambda: messages.reminder(one, 3),
        "withdrawal": lambda: messages.withdrawal(one, "Документ отозван: неверная сумма"),
        "confirmation": lambda: messages.confirmation(one, ("Договор.zip", b"PK\x03\x04 package")),
    }[build]()
    quick = msg.as_bytes(policy=messages.STRICT)  # sets the multipart boundary, which the second run reuses
    headers_written = len(re.findall(rb"^[A-Za-z-]+: ", quick, flags=re.MULTILINE))
    assert 0 < len(refolded) < headers_written / 2  # most headers took the short way
    stock = msg.as_bytes(policy=_stock_policies()[1])
    assert quick == stock
    assert messages.render(msg).data == quick
