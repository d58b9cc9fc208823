"""What `make run` does besides the browser story: on a real configuration it is just the server (no demo PKI,
no emulator, no mail catcher); the demo PKI is made once and its CRLs are issued again at every start; the demo
signers' certificates are registered once, through the server's own registration."""

from __future__ import annotations

import sqlite3
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from demo import demo_people
from demo.enrol import enrol_signers
from demo.pki import DemoPki
from tests.demo.conftest import launch, stop
from tests.support.server import clean_env, run_cli


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, log.read_text()
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /healthz in {timeout} s:\n{log.read_text()}")


@pytest.mark.parametrize(
    "real",
    [
        {"KLIKDOK_PORTAL_MODE": "webhook", "KLIKDOK_PORTAL_WEBHOOK_URL": "https://b24.example.ru/rest/1/abc/"},
        {"KLIKDOK_PORTAL_URL": "https://b24.example.ru"},
    ],
    ids=["webhook", "portal-url"],
)
def test_a_real_configuration_gets_only_the_server(tmp_path: Path, real: dict[str, str]) -> None:
    proc, log, portal_port, server_port = launch(tmp_path, **real)
    try:
        wait_healthy(f"http://127.0.0.1:{server_port}", proc, log)
        out = log.read_text()
        assert "Остановить: Ctrl+C" not in out and "Демо-УЦ" not in out
        assert not (tmp_path / "data" / "demo").exists()
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{portal_port}/", timeout=2)
        # The launcher became the server itself (exec): the process answering is the one started.
        assert "server.cli" in Path(f"/proc/{proc.pid}/cmdline").read_text()
    finally:
        stop(proc)


def test_the_demo_pki_is_made_once_and_its_crls_are_fresh_at_every_start(tmp_path: Path) -> None:
    pki = DemoPki(tmp_path / "pki")
    assert pki.ensure(demo_people.own_company()) is True
    certs = {h.key_name: pki.cert(h.key_name).read_bytes() for h in demo_people.key_holders()}
    crl = (pki.crl_dir / "ca.crl.pem").read_bytes()
    assert pki.ensure(demo_people.own_company()) is False
    assert {h.key_name: pki.cert(h.key_name).read_bytes() for h in demo_people.key_holders()} == certs
    assert (pki.crl_dir / "ca.crl.pem").read_bytes() != crl  # a new CRL (its number and dates move on)
    assert oct(pki.key("director").stat().st_mode & 0o777) == "0o600"
    subject = pki.openssl("x509", "-in", pki.cert("director"), "-noout", "-subject", "-nameopt", "utf8").decode()
    company = demo_people.own_company()
    assert "Соколов Андрей Викторович" in subject and company.inn in subject and "SNILS=" in subject
    cp = pki.openssl("x509", "-in", pki.cert("counterparty"), "-noout", "-subject", "-nameopt", "utf8").decode()
    assert demo_people.counterparty_company().inn in cp and demo_people.counterparty_company().ogrn in cp


def test_the_signers_are_registered_once_through_the_servers_registration(tmp_path: Path) -> None:
    data = tmp_path / "data"
    done = run_cli("migrate", env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(data)))
    assert done.returncode == 0, done.stderr
    pki = DemoPki(data / "demo" / "pki")
    pki.ensure(demo_people.own_company())
    first = enrol_signers(data / "klikdok.db", pki)
    assert first == [h.full_name for h in demo_people.key_holders() if h.user_id is not None]
    assert enrol_signers(data / "klikdok.db", pki) == []
    # The company's ИНН and the holders' names: the onboarding rule makes every demo signer active (issue 14).
    conn = sqlite3.connect(data / "klikdok.db")
    try:
        statuses = conn.execute("SELECT user_id, status FROM signer_certificates ORDER BY user_id").fetchall()
    finally:
        conn.close()
    holders = sorted(h.user_id for h in demo_people.key_holders() if h.user_id is not None)
    assert statuses == [(uid, "active") for uid in holders]
    audit = run_cli("audit", "verify", env=clean_env(KLIKDOK_STORAGE_DATA_DIR=str(data)))
    assert audit.returncode == 0, audit.stdout + audit.stderr
