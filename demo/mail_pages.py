"""The demo's inbox pages, served by the portal emulator under ``/mail/``: the addresses that got mail, an inbox
per address, and one letter with its headers and its HTML part, links clickable.

Letters are untrusted: every header and text is HTML-escaped, and the HTML part is shown only inside an
``<iframe sandbox srcdoc>`` (no scripts, no same-origin, no forms; links open the page they point to at the top
level, the way a mail client opens them in the browser), under a Content-Security-Policy that loads nothing
from the network.
"""

from __future__ import annotations

import html
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote

from litestar import Response, get
from litestar.handlers import HTTPRouteHandler
from litestar.params import FromPath

from .mail_catcher import Letter, MailStore

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'"
_SANDBOX = "allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"
_STYLE = (
    "body{font:15px/1.45 system-ui,sans-serif;margin:24px;max-width:1000px;color:#1c2733}"
    "table{border-collapse:collapse;width:100%}td,th{padding:6px 10px;border-bottom:1px solid #dde3e9;"
    "text-align:left;vertical-align:top}th{color:#56606b;font-weight:500}a{color:#1565c0}"
    "iframe{width:100%;height:600px;border:1px solid #cfd7df;border-radius:4px;background:#fff}"
    "pre{white-space:pre-wrap;background:#f5f7f9;padding:12px;border-radius:4px}.muted{color:#6a737d}"
)
_MAX_SHOWN_PART = 2 * 1024 * 1024


def _page(title: str, body: str, status: int = 200) -> Response[str]:
    doc = (
        f'<!doctype html><html lang="ru"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"<style>{_STYLE}</style></head><body>{body}</body></html>"
    )
    return Response(
        content=doc,
        status_code=status,
        media_type="text/html",
        headers={
            "Content-Security-Policy": _CSP,
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer",
        },
    )


def _header(msg: EmailMessage | None, name: str) -> str:
    """A header's decoded text (RFC 2047 words decoded by the parser), or "" when it is missing or broken."""
    if msg is None:
        return ""
    try:
        value = msg.get(name)
        return "" if value is None else str(value)
    except Exception:
        return ""


def _parse(letter: Letter) -> EmailMessage | None:
    try:
        return letter.message()
    except Exception:
        return None


def _part_text(msg: EmailMessage, subtype: str) -> str | None:
    try:
        part = msg.get_body(preferencelist=(subtype,))
        if part is None:
            return None
        text = part.get_content()
        return text[:_MAX_SHOWN_PART] if isinstance(text, str) else None
    except Exception:
        return None


def _attachments(msg: EmailMessage) -> list[str]:
    names = []
    try:
        for part in msg.iter_attachments():
            payload = part.get_payload(decode=True)
            size = len(payload) if isinstance(payload, bytes) else 0
            names.append(f"{part.get_filename() or 'без имени'} ({size // 1024 + 1} КБ)")
    except Exception:
        pass
    return names


def _nav() -> str:
    return '<p><a href="/mail/">← Все адреса</a> · <a href="/">Эмулятор Битрикс24</a></p>'


def index_page(store: MailStore) -> Response[str]:
    rows = "".join(
        f'<tr><td><a class="kd-mailbox" href="/mail/to/{quote(addr, safe="@")}">{html.escape(addr)}</a></td>'
        f"<td>{count}</td></tr>"
        for addr, count in store.addresses().items()
    )
    body = (
        '<h1>Почта демо-стенда</h1><p class="muted">Сюда приходят все письма, которые отправляет KlikDok '
        "(почтовый сервер демо-стенда ничего не доставляет наружу). Выберите адрес, чтобы открыть его ящик; "
        "новые письма появляются после обновления страницы.</p>"
        + (
            f"<table><tr><th>Адрес</th><th>Писем</th></tr>{rows}</table>"
            if rows
            else '<p id="kd-mail-empty">Писем пока нет. Отправьте документ контрагенту — письмо появится здесь.</p>'
        )
        + '<p><a href="/">Эмулятор Битрикс24</a></p>'
    )
    return _page("Почта демо-стенда", body)


def inbox_page(store: MailStore, address: str) -> Response[str]:
    letters = store.letters(address)
    rows = []
    for letter in letters:
        msg = _parse(letter)
        subject = _header(msg, "Subject") or "(без темы)"
        rows.append(
            f'<tr><td class="muted">{html.escape(letter.received_at.replace("T", " "))}</td>'
            f"<td>{html.escape(_header(msg, 'From') or letter.sender)}</td>"
            f'<td><a class="kd-letter" href="/mail/letter/{letter.id}">{html.escape(subject)}</a></td></tr>'
        )
    body = f"{_nav()}<h1>Входящие: {html.escape(address)}</h1>" + (
        "<table><tr><th>Получено (UTC)</th><th>От кого</th><th>Тема</th></tr>" + "".join(rows) + "</table>"
        if rows
        else "<p>На этот адрес писем нет.</p>"
    )
    return _page(f"Входящие: {address}", body)


def letter_page(store: MailStore, letter_id: str) -> Response[str]:
    letter = store.get(letter_id)
    if letter is None:
        return _page("Письмо не найдено", f"{_nav()}<h1>Письмо не найдено</h1>", 404)
    msg = _parse(letter)
    if msg is None:
        return _page("Письмо не прочитать", f"{_nav()}<h1>Письмо не удалось разобрать</h1>", 422)
    fields = [
        ("От кого", _header(msg, "From") or letter.sender),
        ("Кому", _header(msg, "To") or ", ".join(letter.recipients)),
        ("Тема", _header(msg, "Subject")),
        ("Дата", _header(msg, "Date")),
    ]
    head = "".join(f"<tr><th>{k}</th><td>{html.escape(v)}</td></tr>" for k, v in fields)
    inboxes = " ".join(f'<a href="/mail/to/{quote(r, safe="@")}">{html.escape(r)}</a>' for r in letter.recipients)
    html_part = _part_text(msg, "html")
    text_part = _part_text(msg, "plain")
    if html_part is not None:
        # Links open at the top level (what clicking a link in a mail client does), never inside this page.
        doc = '<base target="_top">' + html_part
        content = (
            f'<iframe id="kd-letter-html" title="Текст письма" sandbox="{_SANDBOX}" '
            f'referrerpolicy="no-referrer" srcdoc="{html.escape(doc, quote=True)}"></iframe>'
        )
        if text_part is not None:
            content += f"<details><summary>Текстовая версия</summary><pre>{html.escape(text_part)}</pre></details>"
    elif text_part is not None:
        content = f'<pre id="kd-letter-text">{html.escape(text_part)}</pre>'
    else:
        content = "<p>В письме нет текста.</p>"
    files = _attachments(msg)
    attached = "<p>Вложения: " + ", ".join(html.escape(n) for n in files) + "</p>" if files else ""
    body = (
        f"{_nav()}<p>Ящик: {inboxes}</p><h1>{html.escape(_header(msg, 'Subject') or '(без темы)')}</h1>"
        f"<table>{head}</table>{attached}{content}"
    )
    return _page(_header(msg, "Subject") or "Письмо", body)


def route_handlers(store: MailStore) -> list[HTTPRouteHandler]:
    """The ``/mail/`` pages over ``store``, for the portal emulator's app."""

    @get("/mail", media_type="text/html")
    async def mail_index() -> Response[str]:
        return index_page(store)

    @get("/mail/to/{address:str}", media_type="text/html")
    async def mail_inbox(address: FromPath[str]) -> Response[str]:
        return inbox_page(store, address[:320])

    @get("/mail/letter/{letter_id:str}", media_type="text/html")
    async def mail_letter(letter_id: FromPath[str]) -> Response[str]:
        return letter_page(store, letter_id)

    handlers: list[Any] = [mail_index, mail_inbox, mail_letter]
    return handlers
