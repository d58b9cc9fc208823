"""A portal emulator, a real ``klikdok serve`` installed on it, and GOST certificates for the company's people.

Everything goes over real HTTP on loopback: the server is a subprocess, sessions come from placement POSTs the
emulator's form would send, signatures are made by ``openssl cms`` with the gost engine at test time.
"""

from __future__ import annotations

import atexit
import base64
import contextlib
import functools
import re
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from demo.demo_people import own_company
from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24.entities import kind_of
from server.db import Database, migrations
from tests.support.mchd import fns, mchd_pki  # noqa: F401 - the МЧД fixtures (tests/support/mchd.py), used by name
from tests.support.openssl_pki import Issued, OpenSSLPki
from tests.support.pki_fixtures import GostPki, gost_pki  # noqa: F401 - fixture re-export
from tests.support.server import ServerProcess, start_server

# Seed people (demo/bitrix24_seed.py): 1 director (heads dept 1, the root), 2 head of sales (dept 2),
# 3 head of sales group North (dept 4, under 2), 4 manager in dept 4, 5 chief accountant (heads dept 3),
# 6 accountant in dept 3, 7 manager in dept 2.
DIRECTOR, SALES_HEAD, GROUP_HEAD, MANAGER, CHIEF_ACCOUNTANT, ACCOUNTANT, SALES_MANAGER = 1, 2, 3, 4, 5, 6, 7
AUDITOR = ACCOUNTANT  # configured in [policy] auditor_user_ids for these tests
# The ИНН of the portal's own company (its requisites in the seed): the people's certificates carry it, so their
# registration is active at once (issue 14: another organisation's certificate waits for the admin).
OWN_INN = own_company().inn


def emulator_config() -> EmulatorConfig:
    return EmulatorConfig(rate_per_second=500.0, burst=1000)


class SessionPortal:
    """The address of the one portal emulator a test session runs: every server these suites start (through
    ``server_env``) names it as its portal (`[portal] url`), as an admin names the box."""

    url = ""


@pytest.fixture(scope="session")
def portal_server() -> Iterator[PortalEmulator]:
    emu = PortalEmulator(emulator_config()).start()
    SessionPortal.url = emu.base_url
    try:
        yield emu
    finally:
        emu.stop()
        SessionPortal.url = ""


@pytest.fixture
def own_emulator() -> Iterator[PortalEmulator]:
    """A private emulator for a test that stops, stalls or restarts things (the shared one stays clean)."""
    emu = PortalEmulator(emulator_config()).start()
    try:
        yield emu
    finally:
        emu.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    """A migrated database file of its own, for tests that drive stores and workers without a server."""
    database = Database(tmp_path / "k.db")
    database.open()
    database.write_sync(migrations.apply, transaction=False)
    yield database
    database.close()


@pytest.fixture
def emulator(portal_server: PortalEmulator) -> PortalEmulator:
    """The session's emulator, reset. Suites that re-export ``portal_server`` (tests/agent, tests/pages) each get
    their own session instance; when one xdist worker runs tests of two of them, the address the servers are
    pinned to ([portal] url, from ``server_env``) must be this test's emulator, not the last one started."""
    portal_server.state.reset(emulator_config())
    SessionPortal.url = portal_server.base_url
    return portal_server


@dataclass(frozen=True)
class People:
    """A GOST certificate per person (the company's ИНН ЮЛ, their name as CN, a СНИЛС), all issued by the test CA."""

    certs: dict[int, Issued]
    pki: GostPki

    def sign(self, user_id: int, data: bytes) -> bytes:
        return self.pki.pki.sign(self.certs[user_id], data)


@pytest.fixture(scope="session")
def people(gost_pki: GostPki) -> People:  # noqa: F811  pytest injects the imported fixture of this name
    pki: OpenSSLPki = gost_pki.pki
    names = {
        DIRECTOR: ("Соколов Андрей Викторович", "12345678901"),
        CHIEF_ACCOUNTANT: ("Новикова Елена Петровна", "23456789012"),
        MANAGER: ("Морозова Ольга Ивановна", "34567890123"),
        SALES_HEAD: ("Кузнецова Мария Андреевна", "45678901234"),
    }
    certs = {
        uid: pki.issue(
            gost_pki.inter,
            f"person-{uid}",
            subject=pki.subject(C="RU", O="ООО «Вектор»", CN=cn, INNLE=OWN_INN, SNILS=snils),
        )
        for uid, (cn, snils) in names.items()
    }
    return People(certs=certs, pki=gost_pki)


def server_env(pki: GostPki, **extra: str) -> dict[str, str]:
    env = {
        "KLIKDOK_PORTAL_URL": SessionPortal.url,
        "KLIKDOK_TRUST_ROOTS": f'["{pki.root.cert}"]',
        "KLIKDOK_TRUST_INTERMEDIATES": f'["{pki.inter.cert}"]',
        # The CRLs of both CAs: signatures are `valid` only with their revocation status known (issue 13).
        "KLIKDOK_TRUST_CRLS": f'["{pki.crl}", "{pki.root_crl}"]',
        "KLIKDOK_PORTAL_RATE_PER_SECOND": "200",
        "KLIKDOK_PORTAL_BURST": "500",
        "KLIKDOK_POLICY_AUDITOR_USER_IDS": f"[{AUDITOR}]",
        "KLIKDOK_WORKFLOW_OUTBOX_POLL_SECONDS": "0.2",
    }
    env.update(extra)
    return env


@contextlib.contextmanager
def rate_limited_portal(pki: GostPki, rate: float, burst: int) -> Iterator[tuple[PortalEmulator, dict[str, str]]]:
    """An emulator of its own that answers 503 QUERY_LIMIT_EXCEEDED beyond a bucket of ``burst`` draining at ``rate``
    per second, and the environment of a server that names it with the same limit."""
    emu = PortalEmulator(EmulatorConfig(rate_per_second=rate, burst=burst)).start()
    env = server_env(
        pki,
        KLIKDOK_PORTAL_URL=emu.base_url,
        KLIKDOK_PORTAL_RATE_PER_SECOND=str(rate),
        KLIKDOK_PORTAL_BURST=str(burst),
    )
    try:
        yield emu, env
    finally:
        emu.stop()


@dataclass
class Klikdok:
    """The running server plus helpers that act as portal users through it."""

    server: ServerProcess
    emu: PortalEmulator
    sessions: dict[tuple[int, str, int], str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return self.server.url

    def _post_page(self, path: str, form: dict[str, str]) -> httpx.Response:
        query = urlencode(
            {"DOMAIN": f"{self.emu.host}:{self.emu.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "sid"}
        )
        return httpx.post(f"{self.url}{path}?{query}", data=form, timeout=30)

    def install(self) -> None:
        # What the admin registered as the local app's handler (the demo does the same): the portal opens it from
        # its menu, from notification links and in sliders (BX24.openApplication).
        self.emu.state.app_handler = f"{self.url}/b24/app"
        page = self._post_page("/b24/install", self.emu.state.placement_form(1, "DEFAULT"))
        assert page.status_code == 200, page.text

    def session(self, user_id: int, entity: tuple[str, int] | None = None) -> str:
        key = (user_id, *(entity or ("", 0)))
        if key not in self.sessions:
            if entity:
                placement = kind_of(entity[0]).placement
                page = self._post_page(
                    "/b24/tab", self.emu.state.placement_form(user_id, placement, {"ID": str(entity[1])})
                )
            else:
                page = self._post_page("/b24/app", self.emu.state.placement_form(user_id, "DEFAULT"))
            assert page.status_code == 200, page.text
            match = re.search(r'data-session="([^"]+)"', page.text)
            assert match
            self.sessions[key] = match.group(1)
        return self.sessions[key]

    def api(
        self, method: str, path: str, user_id: int, entity: tuple[str, int] | None = None, **kwargs: Any
    ) -> httpx.Response:
        headers = {"X-KlikDok-Session": self.session(user_id, entity), **kwargs.pop("headers", {})}
        return httpx.request(method, f"{self.url}/api/v1{path}", headers=headers, timeout=60, **kwargs)

    def create(
        self,
        author: int,
        entity: tuple[str, int],
        files: dict[str, bytes],
        signers: list[int],
        title: str = "Договор поставки",
        send: bool = True,
    ) -> int:
        resp = self.api(
            "POST",
            "/documents",
            author,
            entity,
            data={"title": title, "signers": ",".join(map(str, signers)), "send": "1" if send else "0"},
            files=[("files", (name, data, "application/pdf")) for name, data in files.items()],
        )
        assert resp.status_code == 201, resp.text
        return int(resp.json()["id"])

    def certificate_challenge(self, user_id: int) -> str:
        resp = self.api("POST", "/me/certificates/challenge", user_id)
        assert resp.status_code == 200, resp.text
        return str(resp.json()["challenge"])

    def try_register_cert(
        self,
        user_id: int,
        cert: Issued,
        *,
        key_of: Issued | None = None,
        challenge: str | None = None,
        signature: bytes | None = None,
    ) -> httpx.Response:
        """Register ``cert`` the way the server requires: a fresh challenge signed (openssl, gost engine) with the
        key of ``key_of`` (the certificate's own by default); ``challenge``/``signature`` override for attacks."""
        challenge = challenge if challenge is not None else self.certificate_challenge(user_id)
        if signature is None:
            signature = signing_pki().sign(key_of or cert, challenge.encode())
        body = {
            "certificate": cert.cert_pem.decode(),
            "challenge": challenge,
            "signature": base64.b64encode(signature).decode(),
        }
        return self.api("POST", "/me/certificates", user_id, json=body)

    def register_cert(self, user_id: int, cert: Issued) -> None:
        resp = self.try_register_cert(user_id, cert)
        assert resp.status_code == 201, resp.text

    def db(self) -> sqlite3.Connection:
        return sqlite3.connect(f"file:{self.server.data_dir / 'klikdok.db'}?mode=ro", uri=True)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = self.db()
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()


@functools.cache
def signing_pki() -> OpenSSLPki:
    """openssl with the gost engine, for signing registration challenges with any test certificate's key."""
    root = Path(tempfile.mkdtemp(prefix="klikdok-pop-"))
    atexit.register(shutil.rmtree, root, True)
    return OpenSSLPki(root)


def wait_for(predicate: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def wait_files_on_disk(kd: Klikdok, doc_id: int) -> None:
    """Until the outbox has copied every file of the document to the portal's Disk (after the commit, a moment
    on a busy machine): a new version without files reuses them only from there."""
    wait_for(
        lambda: (
            kd.query("SELECT count(*) FROM document_files WHERE document_id = ? AND disk_file_id IS NULL", doc_id)
            == [(0,)]
        ),
        what="the document's files on Disk",
    )


def wait_past_deadline(kd: Klikdok, doc_id: int) -> None:
    """Until the document's counterparty deadline is strictly past. Deadlines have one-second resolution and
    expire once past (``deadline < now``); a restart within the second of the sending finds nothing due, and the
    next expiry round is a minute away."""
    (deadline,) = kd.query("SELECT deadline FROM documents WHERE id = ?", doc_id)[0]
    due = datetime.fromisoformat(deadline) + timedelta(seconds=1)
    wait_for(lambda: datetime.now(UTC) >= due, timeout=5, what="the deadline to pass")


@contextlib.contextmanager
def installed_klikdok(
    data_dir: Path, emulator: PortalEmulator, env: dict[str, str], srv: ServerProcess | None = None
) -> Iterator[Klikdok]:
    """A server (started here unless given) installed on the emulator; stopped afterwards, and so is the one the
    test ended with (a test that restarts the server puts the new one in ``k.server``)."""
    srv = srv or start_server(data_dir, env=env)
    k = Klikdok(srv, emulator)
    try:
        k.install()
        yield k
    finally:
        srv.stop()
        k.server.stop()


@pytest.fixture
def kd(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:
    with installed_klikdok(tmp_path / "data", emulator, server_env(people.pki)) as k:
        yield k
