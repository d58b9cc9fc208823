"""The demo's mail catcher: an SMTP server on loopback that keeps every letter instead of delivering it.

The server sends the counterparty its link by e-mail; with no mail server on the demo machine the story would
stop there. The catcher (aiosmtpd) takes each letter and files it under ``<data>/demo/mail`` by envelope
recipient, so the demo's inbox page (:mod:`demo.mail_pages`) shows it and the letters survive a restart.
A letter is untrusted input: it is stored as the bytes that arrived and only parsed when a page shows it.
"""

from __future__ import annotations

import email
import email.policy
import json
import re
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

MAX_LETTER_BYTES = 40 * 1024 * 1024  # the server attaches a package of up to 20 MB (base64 grows it by a third)
MAX_LETTERS = 500
_NAME = re.compile(r"^\d{6}$")


@dataclass(frozen=True)
class Letter:
    id: str
    received_at: str
    sender: str
    recipients: tuple[str, ...]
    path: Path

    def message(self) -> EmailMessage:
        """The parsed letter; the default policy decodes RFC 2047 headers into text."""
        msg = email.message_from_bytes(self.path.read_bytes(), policy=email.policy.default)
        assert isinstance(msg, EmailMessage)
        return msg


class MailStore:
    """Letters as ``NNNNNN.eml`` plus ``NNNNNN.json`` (envelope) in one folder; the oldest go past the limit."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.lock = threading.Lock()

    def _ids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.json") if _NAME.match(p.stem))

    def add(self, sender: str, recipients: list[str], content: bytes) -> Letter:
        with self.lock:
            ids = self._ids()
            n = int(ids[-1]) + 1 if ids else 1
            letter_id = f"{n:06d}"
            path = self.folder / f"{letter_id}.eml"
            path.write_bytes(content)
            meta = {
                "received_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "sender": sender,
                "recipients": [r.lower() for r in recipients],
            }
            (self.folder / f"{letter_id}.json").write_text(json.dumps(meta, ensure_ascii=False))
            for old in ids[: max(0, len(ids) + 1 - MAX_LETTERS)]:
                (self.folder / f"{old}.eml").unlink(missing_ok=True)
                (self.folder / f"{old}.json").unlink(missing_ok=True)
        return self.get(letter_id)  # type: ignore[return-value]  # just written

    def get(self, letter_id: str) -> Letter | None:
        if not _NAME.match(letter_id):
            return None
        meta_path = self.folder / f"{letter_id}.json"
        try:
            meta: dict[str, Any] = json.loads(meta_path.read_text())
        except (OSError, ValueError):
            return None
        return Letter(
            id=letter_id,
            received_at=str(meta.get("received_at", "")),
            sender=str(meta.get("sender", "")),
            recipients=tuple(str(r) for r in meta.get("recipients", [])),
            path=self.folder / f"{letter_id}.eml",
        )

    def letters(self, address: str | None = None) -> list[Letter]:
        """Newest first; only those sent to ``address`` when given."""
        out = []
        for letter_id in reversed(self._ids()):
            letter = self.get(letter_id)
            if letter is not None and (address is None or address.lower() in letter.recipients):
                out.append(letter)
        return out

    def addresses(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for letter in self.letters():
            for r in letter.recipients:
                counts[r] = counts.get(r, 0) + 1
        return dict(sorted(counts.items()))


class _Handler:
    def __init__(self, store: MailStore) -> None:
        self.store = store

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        content = envelope.original_content or b""
        self.store.add(str(envelope.mail_from or ""), [str(r) for r in envelope.rcpt_tos], content)
        return "250 Принято демонстрационным почтовым ящиком KlikDok"


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


class MailCatcher:
    """aiosmtpd on its own thread; ``stop()`` ends it (the launcher calls it on the way out)."""

    def __init__(self, store: MailStore, host: str = "127.0.0.1", port: int = 0) -> None:
        self.store = store
        self.host = host
        self.port = port or free_port(host)
        self._controller: Controller | None = None

    def start(self) -> MailCatcher:
        self._controller = Controller(
            _Handler(self.store), hostname=self.host, port=self.port, data_size_limit=MAX_LETTER_BYTES
        )
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def smtp_env(self) -> dict[str, str]:
        """``[smtp]`` for the server started by the launcher: this catcher, plain SMTP, quick retries."""
        return {
            "KLIKDOK_SMTP_HOST": self.host,
            "KLIKDOK_SMTP_PORT": str(self.port),
            "KLIKDOK_SMTP_SECURITY": "none",
            "KLIKDOK_SMTP_USERNAME": "",
            "KLIKDOK_SMTP_PASSWORD": "",
        }
