"""The demo's mail catcher and its inbox pages: a letter sent over SMTP is filed by recipient and shown with its
headers decoded (RFC 2047) and everything escaped; the HTML part only inside a sandboxed frame."""

from __future__ import annotations

import smtplib
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path

import httpx
import pytest

from demo import mail_pages
from demo.mail_catcher import MailCatcher, MailStore
from demo.portal_emulator import PortalEmulator


@pytest.fixture
def mail(tmp_path: Path) -> Iterator[tuple[MailCatcher, PortalEmulator]]:
    store = MailStore(tmp_path / "mail")
    catcher = MailCatcher(store).start()
    emulator = PortalEmulator(extra_handlers=mail_pages.route_handlers(store)).start()
    try:
        yield catcher, emulator
    finally:
        emulator.stop()
        catcher.stop()


def test_a_hostile_letter_is_shown_escaped_and_sandboxed(mail: tuple[MailCatcher, PortalEmulator]) -> None:
    catcher, emulator = mail
    msg = EmailMessage()
    msg["From"] = "ООО «Вектор» <edo@vector.example>"
    msg["To"] = "Info <info@alfa.example>"
    msg["Subject"] = "Документ на подпись: <script>alert(1)</script>"
    msg.set_content("Откройте: http://127.0.0.1:1/c/abc")
    msg.add_alternative(
        '<p onclick="x()">Здравствуйте</p><script>alert(2)</script><a href="http://127.0.0.1:1/c/abc">Открыть</a>',
        subtype="html",
    )
    with smtplib.SMTP(catcher.host, catcher.port, timeout=10) as smtp:
        smtp.send_message(msg, to_addrs=["INFO@alfa.example"])
    assert b"=?utf-8?" in catcher.store.letters()[0].path.read_bytes()  # the header really went encoded

    index = httpx.get(f"{emulator.base_url}/mail/")
    assert "info@alfa.example" in index.text and "default-src 'none'" in index.headers["content-security-policy"]
    inbox = httpx.get(f"{emulator.base_url}/mail/to/info@alfa.example")
    assert "Документ на подпись: &lt;script&gt;alert(1)&lt;/script&gt;" in inbox.text
    assert "<script>" not in inbox.text
    letter_id = catcher.store.letters("info@alfa.example")[0].id
    page = httpx.get(f"{emulator.base_url}/mail/letter/{letter_id}")
    assert page.status_code == 200
    assert "<script>" not in page.text and 'onclick="' not in page.text
    assert 'sandbox="allow-popups allow-popups-to-escape-sandbox allow-top-navigation-by-user-activation"' in page.text
    assert "&lt;a href=&quot;http://127.0.0.1:1/c/abc&quot;&gt;" in page.text  # inside srcdoc, escaped
    assert "ООО «Вектор» &lt;edo@vector.example&gt;" in page.text
    assert httpx.get(f"{emulator.base_url}/mail/letter/../../etc").status_code == 404
    assert httpx.get(f"{emulator.base_url}/mail/letter/999999").status_code == 404
