"""`klikdok doctor`, the on-call tool: one line per check, OK/WARN/FAIL with a hint, exit 1 on any FAIL."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from tests.support.pki_fixtures import GostPki, gost_pki  # noqa: F401 - fixture used by parameter name
from tests.support.server import clean_env, free_port, run_cli


def doctor(tmp_path: Path, **env: str) -> tuple[int, dict[str, str]]:
    base = {"KLIKDOK_STORAGE_DATA_DIR": str(tmp_path / "data"), "KLIKDOK_SMTP_PORT": str(free_port())}
    result = run_cli("doctor", env=clean_env(**{**base, **env}))
    lines = {}
    for line in result.stdout.splitlines():
        parts = line.split(None, 2)
        if len(parts) == 3 and parts[0] in ("OK", "WARN", "FAIL"):
            lines[parts[1]] = f"{parts[0]} {parts[2]}"
    assert "Traceback" not in result.stderr
    return result.returncode, lines


class Sink:
    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # aiosmtpd's handler hook is untyped
        return "250 OK"


@pytest.fixture
def smtp_port() -> Iterator[int]:
    port = free_port()
    controller = Controller(Sink(), hostname="127.0.0.1", port=port)
    controller.start()
    yield port
    controller.stop()


def test_fresh_machine_has_warnings_but_no_failure(tmp_path: Path) -> None:
    code, lines = doctor(tmp_path)
    assert code == 0
    assert lines["config"].startswith("OK")
    assert lines["database"].startswith("WARN")  # not created yet
    assert lines["portal"].startswith("WARN") and "не подключён" in lines["portal"]
    assert lines["portal_url"].startswith("WARN") and "[portal] url" in lines["portal_url"]
    assert lines["smtp"].startswith("WARN") and "недоступен" in lines["smtp"]
    assert lines["trust"].startswith("WARN") and "корневых сертификатов нет" in lines["trust"]
    assert "политика отзыва: require" in lines["trust"] and "CRL и OCSP из сети: загружаются" in lines["trust"]
    assert lines["crl_cache"] == "OK CRL ещё не загружались (загружаются при первой проверке подписи)"
    assert lines["ocsp"] == "OK службы OCSP ещё не запрашивались"
    assert lines["gost"].startswith("OK")
    assert lines["pdf_font"].startswith("OK") and "DejaVuSans.ttf" in lines["pdf_font"]


def test_without_a_cyrillic_font_the_paper_copies_are_a_failure(tmp_path: Path) -> None:
    # fontconfig is how the font is found; with no fc-match on PATH there is none.
    code, lines = doctor(tmp_path, PATH="/nonexistent")
    assert code == 1
    assert lines["pdf_font"].startswith("FAIL") and "fonts-dejavu-core" in lines["pdf_font"]


def test_a_bad_config_is_a_failure(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[server]\nlisten = 8080\n")
    code, lines = doctor(tmp_path, KLIKDOK_CONFIG=str(bad))
    assert code == 1 and lines["config"].startswith("FAIL") and "server.listen" in lines["config"]


def test_smtp_relay_that_answers_is_ok(tmp_path: Path, smtp_port: int) -> None:
    _, lines = doctor(tmp_path, KLIKDOK_SMTP_PORT=str(smtp_port))
    assert lines["smtp"].startswith("OK") and f"127.0.0.1:{smtp_port}" in lines["smtp"]


def test_a_sender_address_no_header_can_carry_is_a_failure(tmp_path: Path, smtp_port: int) -> None:
    code, lines = doctor(tmp_path, KLIKDOK_SMTP_PORT=str(smtp_port), KLIKDOK_SMTP_SENDER="эдо@vector.example")
    assert code == 1 and lines["smtp"].startswith("FAIL") and "[smtp] sender" in lines["smtp"]


def test_trust_store_roots_and_stale_crls(tmp_path: Path, gost_pki: GostPki) -> None:  # noqa: F811  pytest injects the imported fixture of this name
    roots = f'["{gost_pki.root.cert}"]'
    _, lines = doctor(tmp_path, KLIKDOK_TRUST_ROOTS=roots, KLIKDOK_TRUST_CRLS=f'["{gost_pki.crl}"]')
    assert lines["trust"].startswith("OK") and "корневых из [trust] roots: 1" in lines["trust"]
    assert "файлов CRL: 1" in lines["trust"] and "CRL загружаются автоматически" not in lines["trust"]
    import time

    stale = gost_pki.pki.crl(gost_pki.inter, name="doctor-stale", valid_seconds=1)
    time.sleep(1.5)
    _, lines = doctor(tmp_path, KLIKDOK_TRUST_ROOTS=roots, KLIKDOK_TRUST_CRLS=f'["{stale}"]')
    assert lines["trust"].startswith("WARN") and "устарел" in lines["trust"]
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate")
    code, lines = doctor(tmp_path, KLIKDOK_TRUST_ROOTS=f'["{garbage}"]')
    assert code == 1 and lines["trust"].startswith("FAIL")


def test_signer_certificates_expiring_and_agents_online(tmp_path: Path) -> None:
    env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(tmp_path / "data"))
    assert run_cli("migrate", env=env).returncode == 0
    conn = sqlite3.connect(tmp_path / "data" / "klikdok.db")
    rows = [(2, "CN=Иванов", "2020-01-01T00:00:00+00:00"), (3, "CN=Петров", "2099-01-01T00:00:00+00:00")]
    for user_id, subject, not_after in rows:
        conn.execute(
            "INSERT INTO signer_certificates (user_id, issuer, serial, subject, not_after, der,"
            " registered_by, registered_at) VALUES (?, 'CN=УЦ', ?, ?, ?, x'00', ?, '2026-01-01')",
            [user_id, str(user_id), subject, not_after, user_id],
        )
    conn.execute(
        "INSERT INTO agents (user_id, key_hash, created_at, last_seen_at) VALUES"
        " (2, 'h1', '2026-01-01', strftime('%Y-%m-%dT%H:%M:%S+00:00', 'now')),"
        " (3, 'h2', '2026-01-01', '2020-01-01T00:00:00+00:00')"
    )
    conn.commit()
    conn.close()
    _, lines = doctor(tmp_path)
    assert lines["signers"].startswith("WARN") and "Иванов" in lines["signers"] and "Петров" not in lines["signers"]
    assert lines["agents"] == "OK агентов подписи: 2, на связи сейчас: 1"


def test_pure_python_fallback_is_reported(tmp_path: Path) -> None:
    _, lines = doctor(tmp_path, KLIKDOK_GOST_BACKEND="python")
    assert lines["gost"].startswith("WARN") and "Python" in lines["gost"]


def test_the_revocation_policy_and_the_network_switch_are_named(tmp_path: Path) -> None:
    _, lines = doctor(tmp_path, KLIKDOK_TRUST_REVOCATION="warn", KLIKDOK_TRUST_GRACE_MINUTES="30")
    assert "политика отзыва: warn" in lines["trust"] and "отсрочка 30 мин." in lines["trust"]
    _, lines = doctor(tmp_path, KLIKDOK_TRUST_FETCH="false")
    assert "CRL и OCSP из сети: выключено" in lines["trust"]
    assert lines["crl_cache"].startswith("OK") and "выключена" in lines["crl_cache"]
    assert lines["ocsp"].startswith("OK") and "выключены" in lines["ocsp"]
    # The deprecated name still turns the network off.
    _, lines = doctor(tmp_path, KLIKDOK_TRUST_FETCH_CRLS="false")
    assert "CRL и OCSP из сети: выключено" in lines["trust"]


def test_crl_cache_freshness_per_ca_and_ocsp_reachability(tmp_path: Path, gost_pki: GostPki) -> None:  # noqa: F811  pytest injects the imported fixture of this name
    import datetime as dt

    from cades.asn1 import load_crl
    from server.trust.revocation_cache import CachingFetcher, cache_directory
    from tests.support.http_files import serve_files

    pki = gost_pki.pki
    closed = f"http://127.0.0.1:{free_port()}"
    responder_port = free_port()
    responder_url = f"http://127.0.0.1:{responder_port}"
    with serve_files() as files:
        files.put("fresh.crl", pki.crl_der(gost_pki.inter))
        # Valid for a second: stale once that second has passed (waited for below, before doctor looks).
        stale = pki.crl(gost_pki.root, name="doctor-cache-stale", valid_seconds=1)
        files.put("stale.crl", pki.run("crl", "-in", stale, "-outform", "DER"))
        cache = CachingFetcher(cache_directory(tmp_path / "data"))
        try:
            assert cache.get(f"{files.base_url}/fresh.crl", kind="crl") is not None
            assert cache.get(f"{files.base_url}/stale.crl", kind="crl") is not None
            assert cache.get(f"{closed}/never.crl", kind="crl") is None
            cache.post_ocsp(f"{responder_url}/inter", b"not a request")  # a real responder: reachable
            cache.post_ocsp(f"{closed}/ocsp", b"not a request")  # nothing listens: unreachable
        finally:
            cache.close()
        next_update = load_crl(stale.read_bytes())["tbs_cert_list"]["next_update"].native
        while dt.datetime.now(dt.UTC) <= next_update:
            time.sleep(0.1)
        with ocsp_responder(gost_pki, responder_port):
            _, lines = doctor(tmp_path)
    crl = lines["crl_cache"]
    assert crl.startswith("WARN") and "свежих 1, устаревших 1, ни разу не загруженных 1" in crl
    assert "Test GOST Root root: устарел с" in crl
    assert f"{closed}/never.crl: ни разу не загружен (адрес недоступен" in crl
    ocsp = lines["ocsp"]
    assert ocsp.startswith("WARN") and "служб OCSP: 2, отвечают: 1" in ocsp and f"{closed}/ocsp" in ocsp
    assert responder_url not in ocsp


@contextlib.contextmanager
def ocsp_responder(gost_pki: GostPki, port: int) -> Iterator[None]:  # noqa: F811  pytest's fixture name, a plain argument here
    """`openssl ocsp` answering for the test PKI's issuing CA on loopback, stopped on exit."""
    pki = gost_pki.pki
    signer = pki.root / "ocsp-signer.pem"
    if not signer.exists():
        issued = pki.issue(gost_pki.inter, "ocsp-signer", subject=pki.subject(CN="Test OCSP"), profile="v3_ocsp")
        assert issued.cert == signer
    key = pki.root / "ocsp-signer.key"
    index = pki.root / "ca-inter" / "index.txt"
    log = pki.root / f"ocsp-{port}.log"
    with open(log, "wb") as err:
        proc = subprocess.Popen(
            ["openssl", "ocsp", "-index", str(index), "-CA", str(gost_pki.inter.cert), "-rsigner", str(signer),
             "-rkey", str(key), "-port", str(port), "-ignore_err"],
            env=pki.env, stdout=subprocess.DEVNULL, stderr=err,
        )  # fmt: skip
    try:
        # Ready when it says so (a test connection would occupy the single-threaded responder).
        deadline = time.monotonic() + 10
        while b"waiting for OCSP client connections" not in log.read_bytes() and time.monotonic() < deadline:
            time.sleep(0.05)
        yield
    finally:
        proc.kill()
        proc.wait()
