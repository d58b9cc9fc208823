"""The counterparty exchange end to end: ``klikdok serve`` on loopback, the portal emulator, a real SMTP server
(aiosmtpd) on loopback, and GOST certificates for the counterparty's people made by ``openssl`` at test time.

The company's part of every document is done the way the workflow suite does it (through /api/v1 as portal
users); from the moment the document waits for the counterparty, everything goes through the e-mail that
arrives at the SMTP server and the public page it links to.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import re
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP as SMTPProtocol
from aiosmtpd.smtp import Envelope, Session

from demo.bitrix24_seed import inn10, ogrn13
from tests.support.mchd import fns, mchd_pki  # noqa: F401 - the МЧД fixtures (tests/support/mchd.py), used by name
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import GostPki
from tests.support.server import free_port
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    db,
    emulator,
    gost_pki,
    installed_klikdok,
    people,
    portal_server,
    server_env,
    wait_for,
)

DEAL = ("deal", 1)  # "Поставка серверного оборудования" with ООО «Альфа-Поставка» (company 2)
ALFA_INN = inn10("500987654")
ALFA_OGRN = ogrn13("115500098765")
ALFA_EMAIL = "info@alfa-postavka.example"
PDF = b"%PDF-1.7\n" + "Договор поставки №17 от 14.05.2026".encode() + b"\n%%EOF\n"
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}")


@dataclass(frozen=True)
class Received:
    """One SMTP transaction: the envelope and the exact bytes after DATA."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes


class Mailbox:
    """What the SMTP server received, plus switches to make it refuse addresses."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[Received] = []  # the same messages as the wire carried them
        self.refuse: set[str] = set()  # recipients answered with 550 (a bounce at submission)
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: SMTPProtocol, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address.lower() in self.refuse:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTPProtocol, session: Session, envelope: Envelope) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)  # type: ignore[arg-type]  # aiosmtpd types content loosely; it is bytes here
        raw = envelope.original_content or b""
        with self.lock:
            self.messages.append(msg)
            self.envelopes.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw))
        return "250 Message accepted for delivery"

    def to(self, address: str, subject_part: str = "") -> list[EmailMessage]:
        with self.lock:
            return [m for m in self.messages if address in str(m["To"]) and subject_part in str(m["Subject"])]


def text_of(msg: EmailMessage) -> str:
    body = msg.get_body(preferencelist=("plain",))
    assert body is not None
    return body.get_content()


def link_in(msg: EmailMessage) -> str:
    match = LINK_RE.search(text_of(msg))
    assert match, text_of(msg)
    return match.group(0)


@dataclass
class SmtpServer:
    port: int
    mailbox: Mailbox
    controller: Controller | None = None

    def start(self) -> None:
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)
        self.controller.start()

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@contextlib.contextmanager
def running_smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(), Mailbox())
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@dataclass(frozen=True)
class Counterparty:
    """Certificates of the counterparty's director (right ИНН/ОГРН) and of somebody else's organisation."""

    director: Issued
    stranger: Issued
    pki: GostPki

    def sign(self, cert: Issued, data: bytes, outform: str = "DER") -> bytes:
        return self.pki.pki.sign(cert, data, outform=outform)


@pytest.fixture(scope="session")
def counterparty(gost_pki: GostPki) -> Counterparty:  # noqa: F811  pytest injects the imported fixture of this name
    pki = gost_pki.pki
    director = pki.issue(
        gost_pki.inter,
        "alfa-director",
        subject=pki.subject(
            C="RU",
            O="ООО «Альфа-Поставка»",
            title="Генеральный директор",
            CN="Орлов Дмитрий Сергеевич",
            INNLE=ALFA_INN,
            OGRN=ALFA_OGRN,
            SNILS="56789012345",
        ),
    )
    stranger = pki.issue(
        gost_pki.inter,
        "other-org",
        subject=pki.subject(
            C="RU",
            O="ООО «Посторонние»",
            CN="Иванов Пётр",
            INNLE=inn10("771122334"),
            OGRN=ogrn13("102771122334"),
            SNILS="67890123456",
        ),
    )
    return Counterparty(director, stranger, gost_pki)


def counterparty_env(pki: GostPki, smtp: SmtpServer, **extra: str) -> dict[str, str]:
    env = server_env(
        pki,
        KLIKDOK_SMTP_HOST="127.0.0.1",
        KLIKDOK_SMTP_PORT=str(smtp.port),
        KLIKDOK_SMTP_SENDER="edo@vector.example",
        KLIKDOK_SMTP_POLL_SECONDS="0.2",
        KLIKDOK_SMTP_RETRY_BASE_SECONDS="0.5",
        KLIKDOK_SMTP_RETRY_MAX_SECONDS="2",
        KLIKDOK_COUNTERPARTY_SCAN_SECONDS="0.5",
    )
    env.update(extra)
    return env


@dataclass
class Exchange:
    """The running server, the portal emulator and the mailbox, with the steps every test takes."""

    kd: Klikdok
    smtp: SmtpServer
    people: People
    http: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=30, follow_redirects=False))

    def company_signed(
        self, files: dict[str, bytes] | None = None, title: str = "Договор поставки", **create: Any
    ) -> int:
        """A document from deal 1, signed by the director: it now waits for the counterparty."""
        files = files or {"Договор №17.pdf": PDF}
        self.kd.register_cert(DIRECTOR, self.people.certs[DIRECTOR])
        doc_id = self.kd.create(MANAGER, DEAL, files, signers=[DIRECTOR], title=title, **create)
        detail = self.kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()
        for f in detail["files"]:
            r = self.kd.api(
                "POST",
                f"/documents/{doc_id}/files/{f['id']}/signatures",
                DIRECTOR,
                content=self.people.sign(DIRECTOR, files[f["name"]]),
            )
            assert r.status_code == 201, r.text
        assert self.state(doc_id) == "awaiting_counterparty"
        return doc_id

    def state(self, doc_id: int) -> str:
        return str(self.kd.query("SELECT state FROM documents WHERE id = ?", doc_id)[0][0])

    def invitation(self, address: str = ALFA_EMAIL, title: str = "Договор поставки", count: int = 1) -> EmailMessage:
        found = wait_for(
            lambda: (
                len(self.smtp.mailbox.to(address, f"Документ на подпись: {title}")) >= count
                and self.smtp.mailbox.to(address, f"Документ на подпись: {title}")
            ),
            what="the invitation e-mail",
        )
        return found[count - 1]

    def page(self, link: str) -> httpx.Response:
        return self.http.get(link)

    def file_ids(self, doc_id: int) -> dict[str, int]:
        return {
            name: fid
            for fid, name in self.kd.query("SELECT id, name FROM document_files WHERE document_id = ?", doc_id)
        }

    def upload(self, link: str, signatures: dict[int, bytes]) -> httpx.Response:
        return self.http.post(
            f"{link}/sign",
            files=[
                (f"sig_{fid}", (f"{fid}.sig", data, "application/octet-stream")) for fid, data in signatures.items()
            ],
        )

    def reject(self, link: str, reason: str) -> httpx.Response:
        return self.http.post(f"{link}/reject", data={"reason": reason})


@contextlib.contextmanager
def exchange_on(data_dir: Path, portal: Any, who: People, smtp: SmtpServer, **env: str) -> Iterator[Exchange]:
    """A server installed on the ``portal`` emulator with mail to ``smtp``; ``env``: settings of this one server."""
    with installed_klikdok(data_dir, portal, counterparty_env(who.pki, smtp, **env)) as kd:
        ex = Exchange(kd, smtp, who)
        try:
            yield ex
        finally:
            ex.http.close()


@pytest.fixture
def exchange(
    tmp_path: Path,
    emulator: Any,  # noqa: F811  pytest injects the imported fixture of this name
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
    counterparty: Counterparty,
    smtp: SmtpServer,
) -> Iterator[Exchange]:
    with exchange_on(tmp_path / "data", emulator, people, smtp) as ex:
        yield ex
