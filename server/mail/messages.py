"""The counterparty's e-mails, in Russian: the invitation with the personal link, reminders, the confirmation.

Each message has a plain-text body (what every client shows) and a simple HTML alternative without images
or external resources. Message-IDs are derived from the outbox message id, so a message repeated after a crash
is recognisably the same message to the receiving side.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import formatdate


@dataclass(frozen=True)
class Letter:
    """What every counterparty letter talks about."""

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


def _base(letter: Letter, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = Address(display_name=f"{letter.sender_company} через KlikDok" if letter.sender_company else "KlikDok",
                          addr_spec=letter.sender)
    msg["To"] = Address(display_name=letter.to_name, addr_spec=letter.to) if letter.to_name else letter.to
    msg["Date"] = formatdate(localtime=False)
    domain = letter.sender.rpartition("@")[2] or "klikdok.local"
    msg["Message-ID"] = f"<klikdok.{letter.outbox_id}@{domain}>"
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    return msg


def _html(paragraphs: list[str], link: str | None, button: str) -> str:
    body = "".join(f"<p>{p}</p>" for p in paragraphs)
    if link:
        href = html.escape(link, quote=True)
        body += (f'<p><a href="{href}" style="display:inline-block;padding:10px 18px;background:#2563eb;color:#fff;'
                 f'border-radius:6px;text-decoration:none">{html.escape(button)}</a></p>'
                 f'<p style="color:#667085;font-size:13px">Если кнопка не открывается, скопируйте адрес: {href}</p>')
    return f'<!doctype html><html lang="ru"><body style="font-family:Arial,sans-serif;color:#1d2330">{body}</body></html>'


def _files(letter: Letter) -> str:
    return ", ".join(f"«{name}»" for name in letter.files)


def invitation(letter: Letter) -> EmailMessage:
    msg = _base(letter, f"Документ на подпись: {letter.title}")
    who = letter.sender_company or letter.author_name
    lines = [
        "Здравствуйте!",
        f"{who} направляет вам на подпись документ «{letter.title}» (файлы: {_files(letter)}). "
        f"Отправитель: {letter.author_name}.",
        f"Подписать или отклонить документ нужно до {letter.deadline}." if letter.deadline else "",
        "Откройте документ по персональной ссылке: там его можно просмотреть, проверить подписи отправителя, "
        "подписать квалифицированной электронной подписью (в КриптоАРМ ГОСТ или загрузив файл подписи) "
        "или отклонить с указанием причины. Регистрация не нужна.",
    ]
    text = "\n\n".join(line for line in lines if line)
    msg.set_content(f"{text}\n\n{letter.link}\n\nСсылка персональная: не пересылайте это письмо.\n")
    msg.add_alternative(_html([html.escape(line) for line in lines if line]
                              + ["Ссылка персональная: не пересылайте это письмо."], letter.link, "Открыть документ"),
                        subtype="html")
    return msg


def reminder(letter: Letter, days: int | None) -> EmailMessage:
    msg = _base(letter, f"Напоминание: документ «{letter.title}» ждёт вашей подписи")
    when = f"Срок — до {letter.deadline}." if letter.deadline else ""
    left = {1: "Остался 1 день.", 2: "Осталось 2 дня.", 3: "Осталось 3 дня.", 4: "Осталось 4 дня."}.get(days or 0, "")
    if days and days > 4:
        left = f"Осталось {days} дней."
    lines = ["Здравствуйте!",
             f"Напоминаем: {letter.sender_company or letter.author_name} ждёт вашего ответа по документу "
             f"«{letter.title}». {left} {when}".strip(),
             "Документ можно подписать или отклонить по персональной ссылке."]
    text = "\n\n".join(lines)
    msg.set_content(f"{text}\n\n{letter.link}\n\nСсылка персональная: не пересылайте это письмо.\n")
    msg.add_alternative(_html([html.escape(line) for line in lines], letter.link, "Открыть документ"), subtype="html")
    return msg


def confirmation(letter: Letter, package: tuple[str, bytes] | None) -> EmailMessage:
    """The fully signed package attached (or, when too big, the link to download it)."""
    msg = _base(letter, f"Документ «{letter.title}» подписан обеими сторонами")
    lines = ["Здравствуйте!",
             f"Документ «{letter.title}» подписан вами и {letter.sender_company or 'отправителем'}.",
             "Во вложении — подписанный комплект: файлы документа, все подписи (.sig) и отчёт о проверке подписей."
             if package else
             "Подписанный комплект (файлы, подписи и отчёт о проверке) слишком велик для письма — скачайте его по ссылке."]
    text = "\n\n".join(lines)
    msg.set_content(text + ("" if package else f"\n\n{letter.link}") + "\n")
    msg.add_alternative(_html([html.escape(line) for line in lines], None if package else letter.link,
                              "Скачать комплект"), subtype="html")
    if package:
        name, data = package
        msg.add_attachment(data, maintype="application", subtype="zip", filename=name)
    return msg
