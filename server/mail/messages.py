"""The counterparty's e-mails, in Russian: the invitation with the personal link, reminders, the confirmation,
and the notice that the document was withdrawn.

Each message has a plain-text body (what every client shows) and a simple HTML alternative without images
or external resources. Message-IDs are derived from the outbox message id, so a message repeated after a crash
is recognisably the same message to the receiving side.

Names and titles come from the CRM, the portal and forms, so nothing here trusts them: a :class:`Letter` cleans
its own fields (:func:`server.text.one_line`, strictly valid addresses) the moment it is made, every header is
written by :func:`_base` alone, and :func:`render` produces the bytes with a strict policy and reads them back to
prove they carry exactly our headers and our one recipient. A letter that fails any of this raises
:class:`Unbuildable`, which the mail worker treats as final (retrying would fail the same way forever).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass
from email import policy
from email.header import Header
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesHeaderParser
from email.policy import EmailPolicy
from email.utils import formatdate

from cades.result import VerificationResult
from cades.verdicts import document_headline
from server.text import TITLE_MAX, email_address, one_line
from server.text import message as clean_message
from server.text import name as clean_name
from server.text import title as clean_title

FILE_NAME_MAX = 180
MAX_LINE_BYTES = 998  # RFC 5322 2.1.1


class _ShortAsciiAsIs(EmailPolicy):
    """The default policy, but a header that is printable ASCII and fits on one line is written as it is.

    The default policy refolds every header through its parse tree, about 0.4 ms each, a dozen per letter (the
    MIME parts' own included), most of a letter's cost: 100 invitations after a batch signing took half a second
    of the server's CPU. For such a header the refold gives the same bytes (tests/mail/test_messages.py holds
    every kind of letter to that); anything else, encoded words, long or raw values, takes the default path."""

    def fold_binary(self, name: str, value: str) -> bytes:
        text = str(value)
        if (
            text.isascii()
            and text.isprintable()
            and len(name) + 2 + len(text) <= (self.max_line_length or MAX_LINE_BYTES)
            and not getattr(value, "defects", ())
        ):
            return f"{name}: {text}{self.linesep}".encode("ascii")
        return super().fold_binary(name, value)


# 7-bit transfer encodings for every part (no relay needs 8BITMIME), folding at 78; rendered with CRLF line ends.
BUILD = _ShortAsciiAsIs(cte_type="7bit", max_line_length=78, raise_on_defect=True)
STRICT = BUILD.clone(linesep="\r\n")


class Unbuildable(Exception):
    """The letter cannot be written safely (an address no header can carry, a header that did not come out
    as ours); the message says why in Russian, for the document's history and the author."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Outgoing:
    """The rendered letter and its SMTP envelope (taken from our own values, never re-parsed from headers)."""

    sender: str
    recipients: tuple[str, ...]
    data: bytes
    to: str


def _address(value: str, whose: str, *, local_domain: bool = False) -> str:
    address = email_address(value, local_domain=local_domain)
    if address is None:
        raise Unbuildable(f"{whose} «{one_line(value, 80)}» не подходит для письма")
    return address


@dataclass(frozen=True)
class Letter:
    """What every counterparty letter talks about; cleaned on creation, so no raw value ever reaches a header."""

    to: str
    to_name: str
    sender: str
    sender_company: str
    author_name: str
    title: str
    files: list[str]
    deadline: str
    link: str
    outbox_id: int
    message: str = ""  # the author's message to the counterparty: body text only, never a header

    def __post_init__(self) -> None:
        clean = {
            "to": _address(self.to, "адрес получателя"),
            "sender": _address(self.sender, "адрес отправителя ([smtp] sender)", local_domain=True),
            "to_name": clean_name(self.to_name),
            "sender_company": clean_name(self.sender_company),
            "author_name": clean_name(self.author_name),
            "title": clean_title(self.title),
            "files": [one_line(name, FILE_NAME_MAX) for name in self.files],
            "deadline": one_line(self.deadline, 80),
            "link": one_line(self.link, 2000),
            "message": clean_message(self.message),
        }
        for name, value in clean.items():
            object.__setattr__(self, name, value)


def _base(letter: Letter, subject: str) -> EmailMessage:
    """Every header of every letter, written here only, from the letter's cleaned values."""
    msg = EmailMessage(policy=BUILD)
    # Written pre-encoded: the default policy's folder drops the space before a word that begins a new encoded
    # word («о пролонгации» arrives as «опролонгации»); Header keeps spaces inside the encoded text, and set_raw
    # with lines already within the limit is never refolded.
    subject_line = one_line(subject, TITLE_MAX + 80)
    msg.set_raw("Subject", Header(subject_line, "utf-8", maxlinelen=76, header_name="Subject").encode(linesep="\n"))
    try:
        msg["From"] = Address(
            display_name=f"{letter.sender_company} через KlikDok" if letter.sender_company else "KlikDok",
            addr_spec=letter.sender,
        )
        msg["To"] = Address(display_name=letter.to_name, addr_spec=letter.to)
    except ValueError as exc:  # header defects are ValueErrors too
        raise Unbuildable(f"адрес не записывается в заголовок ({type(exc).__name__})") from None
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = f"<klikdok.{int(letter.outbox_id)}@{letter.sender.rpartition('@')[2]}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


def render(msg: EmailMessage) -> Outgoing:
    """The bytes to send and their envelope, checked: the headers read back are exactly the ones set, each once,
    From and To each name exactly the one address we put there, and no line is longer than SMTP allows."""
    try:
        data = msg.as_bytes(policy=STRICT)
    except (ValueError, TypeError, LookupError) as exc:
        raise Unbuildable(f"письмо не собирается ({type(exc).__name__})") from None
    expected = list(msg.keys())
    head = BytesHeaderParser(policy=policy.default).parsebytes(data)
    senders = [a.addr_spec for a in getattr(head["From"], "addresses", ())]
    recipients = [a.addr_spec for a in getattr(head["To"], "addresses", ())]
    ours_from = [a.addr_spec for a in getattr(msg["From"], "addresses", ())]
    ours_to = [a.addr_spec for a in getattr(msg["To"], "addresses", ())]
    if (
        list(head.keys()) != expected
        or len(set(expected)) != len(expected)
        or any(msg[h].defects for h in expected)
        or senders != ours_from
        or recipients != ours_to
        or len(ours_from) != 1
        or len(ours_to) != 1
        or email_address(ours_from[0], local_domain=True) is None
        or email_address(ours_to[0]) is None
        or b"\x00" in data
        or max(len(line) for line in data.split(b"\r\n")) > MAX_LINE_BYTES
    ):
        raise Unbuildable("заголовки письма получились не такими, как задумано")
    return Outgoing(sender=ours_from[0], recipients=(ours_to[0],), data=data, to=str(msg["To"]))


def _html(paragraphs: list[str], link: str | None, button: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if link:
        href = html.escape(link, quote=True)
        body += (
            f'<p><a href="{href}" style="display:inline-block;padding:10px 18px;background:#2563eb;color:#fff;'
            f'border-radius:6px;text-decoration:none">{html.escape(button)}</a></p>'
            f'<p style="color:#667085;font-size:13px">Если кнопка не открывается, скопируйте адрес: {href}</p>'
        )
    return (
        f'<!doctype html><html lang="ru"><body style="font-family:Arial,sans-serif;color:#1d2330">{body}</body></html>'
    )


def _files(letter: Letter) -> str:
    return ", ".join(f"«{name}»" for name in letter.files)


def invitation(letter: Letter) -> EmailMessage:
    msg = _base(letter, f"Документ на подпись: {letter.title}")
    who = letter.sender_company or letter.author_name
    lines = [
        "Здравствуйте!",
        f"{who} направляет вам на подпись документ «{letter.title}» (файлы: {_files(letter)}). "
        f"Отправитель: {letter.author_name}.",
        f"Сообщение от отправителя:\n{letter.message}" if letter.message else "",
        f"Подписать или отклонить документ нужно до {letter.deadline}." if letter.deadline else "",
        "Откройте документ по персональной ссылке: там его можно просмотреть, проверить подписи отправителя, "
        "подписать квалифицированной электронной подписью (в КриптоАРМ ГОСТ или загрузив файл подписи) "
        "или отклонить с указанием причины. Регистрация не нужна.",
    ]
    text = "\n\n".join(line for line in lines if line)
    msg.set_content(f"{text}\n\n{letter.link}\n\nСсылка персональная: не пересылайте это письмо.\n")
    msg.add_alternative(
        _html(
            [html.escape(line).replace("\n", "<br>") for line in lines if line]
            + ["Ссылка персональная: не пересылайте это письмо."],
            letter.link,
            "Открыть документ",
        ),
        subtype="html",
    )
    return msg


def reminder(letter: Letter, days: int | None) -> EmailMessage:
    msg = _base(letter, f"Напоминание: документ «{letter.title}» ждёт вашей подписи")
    when = f"Срок — до {letter.deadline}." if letter.deadline else ""
    left = {1: "Остался 1 день.", 2: "Осталось 2 дня.", 3: "Осталось 3 дня.", 4: "Осталось 4 дня."}.get(days or 0, "")
    if days and days > 4:
        left = f"Осталось {days} дней."
    lines = [
        "Здравствуйте!",
        f"Напоминаем: {letter.sender_company or letter.author_name} ждёт вашего ответа по документу "
        f"«{letter.title}». {left} {when}".strip(),
        "Документ можно подписать или отклонить по персональной ссылке.",
    ]
    text = "\n\n".join(lines)
    msg.set_content(f"{text}\n\n{letter.link}\n\nСсылка персональная: не пересылайте это письмо.\n")
    msg.add_alternative(_html([html.escape(line) for line in lines], letter.link, "Открыть документ"), subtype="html")
    return msg


REASON_MAX = 1000


def withdrawal(letter: Letter, reason: str) -> EmailMessage:
    """«Документ отозван»: the sender withdrew a document the counterparty had been sent; its link no longer
    works. The reason is the author's text, so it goes into the body only, on one cleaned line."""
    msg = _base(letter, f"Документ отозван: {letter.title}")
    why = one_line(reason, REASON_MAX)
    lines = [
        "Здравствуйте!",
        f"Документ «{letter.title}» (файлы: {_files(letter)}), направленный вам на подпись, отозван "
        f"отправителем — {letter.sender_company or letter.author_name}. Подписывать его не нужно: ссылка "
        "из прежнего письма больше не действует.",
        f"Причина отзыва: {why}" if why else "Причина отзыва не указана.",
        f"Отправитель: {letter.author_name}.",
    ]
    msg.set_content("\n\n".join(lines) + "\n")
    msg.add_alternative(_html([html.escape(line) for line in lines], None, ""), subtype="html")
    return msg


@dataclass(frozen=True)
class SignatureVerdict:
    """One accepted signature as the confirmation names it: whose, on which file, and its headline
    (:mod:`cades.verdicts`; ``tone`` "valid" only for a signature checked all the way, revocation included)."""

    file: str
    signer: str
    title: str
    text: str
    tone: str

    def __post_init__(self) -> None:
        for name in ("file", "signer", "title", "text", "tone"):
            object.__setattr__(self, name, one_line(getattr(self, name), 400))

    @classmethod
    def of(cls, file: str, signer: str, result: VerificationResult) -> SignatureVerdict:
        """The verdict of a stored (so accepted) signature, worded as in the report."""
        head = document_headline(result, accepted=True)
        return cls(file=file, signer=signer, title=head.title, text=head.text, tone=head.tone)


def _verdict_lines(verdicts: Sequence[SignatureVerdict]) -> list[str]:
    """Anything short of "valid" first and in full (the headline), then every signature's verdict."""
    lines = [
        f"ВНИМАНИЕ: подпись {v.signer} (файл «{v.file}») — {v.title}: {v.text}." for v in verdicts if v.tone != "valid"
    ]
    if verdicts:
        lines.append(
            "Результат проверки подписей: "
            + "; ".join(f"{v.signer}, «{v.file}» — {v.title.lower()}" for v in verdicts)
            + "."
        )
    return lines


def confirmation(
    letter: Letter, package: tuple[str, bytes] | None, verdicts: Sequence[SignatureVerdict] = ()
) -> EmailMessage:
    """The fully signed package attached (or, when too big, the link to download it), with each signature's
    verdict: one accepted without a revocation check is named so in the letter itself, not only in the report."""
    msg = _base(letter, f"Документ «{letter.title}» подписан обеими сторонами")
    lines = [
        "Здравствуйте!",
        f"Документ «{letter.title}» подписан вами и {letter.sender_company or 'отправителем'}.",
        *_verdict_lines(verdicts),
        "Во вложении — подписанный комплект: файлы документа, все подписи (.sig) и отчёт о проверке подписей."
        if package
        else "Подписанный комплект (файлы, подписи и отчёт о проверке) слишком велик для письма — "
        "скачайте его по ссылке.",
    ]
    text = "\n\n".join(lines)
    msg.set_content(text + ("" if package else f"\n\n{letter.link}") + "\n")
    msg.add_alternative(
        _html([html.escape(line) for line in lines], None if package else letter.link, "Скачать комплект"),
        subtype="html",
    )
    if package:
        name, data = package
        msg.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return msg
