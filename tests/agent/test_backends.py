"""Backends: openssl for real (PEM and PKCS#12, the CLI), cryptcp and pycades against recorded shapes.

CryptoPro CSP cannot be installed here, so ``cryptcp``/``certmgr`` are stand-in scripts that record their
argv and answer with the output shape the real tools print (cp1251, ``[ErrorCode: …]``), and ``pycades`` is a
recording stand-in module. Their signatures are still real (made with openssl), so the agent's own checks run.
"""

from __future__ import annotations

import json
import sys
import tempfile
import types
from pathlib import Path
from typing import Any

import pytest

from agent.backends import BackendError
from agent.backends.cryptcp import CryptcpBackend, parse_certmgr, sign_command
from agent.backends.cryptopro import CryptoProBackend
from agent.backends.openssl import OpenSSLBackend
from agent.client import reconnect_delays, ws_url
from agent.config import update_config
from agent.jobs import check_locally
from agent.logredact import scrub
from cades import hashing
from tests.agent.conftest import Agent, People, openssl_backend
from tests.support.openssl_pki import Issued

DOC = "Счёт №5 на оплату".encode() * 50


def digests(data: bytes) -> tuple[bytes, bytes]:
    return hashing.digest("streebog256", data), hashing.digest("streebog512", data)


# -- openssl ------------------------------------------------------------------------------------------------


def test_openssl_backend_signs_with_pem_and_pkcs12(people: People, tmp_path: Path) -> None:
    cert: Issued = people.certs[1]
    doc = tmp_path / "doc.bin"
    doc.write_bytes(DOC)
    work_folders = set(Path(tempfile.gettempdir()).glob("klikdok-agent-*"))
    with OpenSSLBackend(str(cert.cert), str(cert.key)) as backend:
        assert backend.availability().ok
        assert check_locally(backend.sign(doc), *digests(DOC)) is None
        assert set(Path(tempfile.gettempdir()).glob("klikdok-agent-*")) != work_folders  # it keeps one while open
    # Closed (as the CLI's commands close theirs), the backend leaves no work folder behind.
    assert set(Path(tempfile.gettempdir()).glob("klikdok-agent-*")) == work_folders
    pem = OpenSSLBackend(str(cert.cert), str(cert.key))
    assert pem.certificates()[0].subject.find("Соколов") >= 0
    # The same key as PKCS#12 with a password from an owner-only file.
    p12 = tmp_path / "key.p12"
    people.pki.pki.run("pkcs12", "-export", "-inkey", cert.key, "-in", cert.cert, "-out", p12, "-passout", "pass:1234")
    pin = tmp_path / "pin"
    pin.write_text("1234\n")
    pin.chmod(0o600)
    bundle = OpenSSLBackend("", str(p12), str(pin))
    assert bundle.availability().ok, bundle.availability().detail
    assert check_locally(bundle.sign(doc), *digests(DOC)) is None
    pin.chmod(0o644)
    with OpenSSLBackend("", str(p12), str(pin)) as loose, pytest.raises(BackendError, match="chmod 600"):
        loose.sign(doc)
    # Wrong bytes are caught by the local check.
    assert "не сходится" in str(check_locally(pem.sign(doc), *digests(DOC + b"x")) or "")
    missing = OpenSSLBackend(str(cert.cert), str(tmp_path / "nope.key")).availability()
    assert not missing.ok and "нет файла ключа" in missing.detail
    pem.close()
    bundle.close()


def test_cli_sign_certs_and_status(people: People, tmp_path: Path) -> None:
    agent = Agent(tmp_path / "a")
    agent.write_config(openssl_backend(people.certs[1]))
    doc = tmp_path / "акт.pdf"
    doc.write_bytes(DOC)
    signed = agent.cli("sign", str(doc))
    assert signed.returncode == 0, signed.stderr
    sig = Path(str(doc) + ".sig")
    assert check_locally(sig.read_bytes(), *digests(DOC)) is None
    certs = agent.cli("certs")
    assert certs.returncode == 0 and "1. Соколов" in certs.stdout
    assert "Отпечаток: " in certs.stdout and "Действует с " in certs.stdout and "CN=" not in certs.stdout
    status = agent.cli("status")
    assert "не сопряжён" in status.stdout and "доступен: OpenSSL" in status.stdout
    run = agent.cli("run")
    assert run.returncode == 2 and "pair" in run.stderr
    # A backend that cannot run here says so clearly.
    agent.write_config({"kind": "cryptopro", "certificate": "ab" * 20})
    status = agent.cli("status")
    assert status.returncode == 1 and "недоступен: pycades не установлен" in status.stdout
    agent.write_config({"kind": "cryptcp", "certificate": "ab" * 20, "cryptcp_path": "/nonexistent/cryptcp"})
    assert "cryptcp не найден" in agent.cli("status").stdout
    agent.write_config({"kind": "cryptopro"})
    incomplete = agent.cli("status")
    assert incomplete.returncode == 2 and "thumbprint is required" in incomplete.stderr


# -- cryptcp (recorded shapes) ----------------------------------------------------------------------------

CERTMGR_OUTPUT = """\
Certmgr 1.1 (c) "Crypto-Pro",  2007-2019.
program for managing certificates, CRLs and stores

=============================================================================
1-------
Issuer              : E=ca@test.ru, C=RU, O=Тестовый УЦ, CN=Test GOST Issuing CA
Subject             : C=RU, O=ООО «Вектор», CN=Соколов Андрей Викторович, SNILS=12345678901
Serial              : 0x0000000000000000000000000000001004
SHA1 Hash           : 0x046255290b0eb1cdd1797d9ab8c81f699e3687f3
SubjKeyID           : 4f1b3a...
Signature Algorithm : ГОСТ Р 34.11-2012/34.10-2012 256 бит
PublicKey Algorithm : ГОСТ Р 34.10-2012 (512 bits)
Not valid before    : 14/10/2025  10:46:00 UTC
Not valid after     : 14/01/2027  10:56:00 UTC
PrivateKey Link     : Yes
Container           : HDIMAGE\\\\eb5f6857.000\\D160
Provider Name       : Crypto-Pro GOST R 34.10-2012 KC1 CSP
2-------
Issuer              : CN=Другой УЦ
Subject             : CN=Без ключа
Serial              : 0x01
SHA1 Thumbprint     : 0xAABBCCDDEEFF00112233445566778899AABBCCDD
Not valid after     : 01/01/2026  00:00:00 UTC
PrivateKey Link     : No
=============================================================================

[ErrorCode: 0x00000000]
"""


def fake_tool(path: Path, cert: Issued, conf: Path, *, error: str = "0x00000000") -> None:
    """A ``cryptcp``/``certmgr`` stand-in: records argv, signs ``-sign`` requests with openssl, prints the
    recorded output shape in cp1251."""
    path.write_text(f"""#!{sys.executable}
import json, os, subprocess, sys
args = sys.argv[1:]
with open({str(path) + ".argv"!r}, "a") as fh:
    fh.write(json.dumps(args) + "\\n")
if "-list" in args:
    sys.stdout.buffer.write({CERTMGR_OUTPUT!r}.encode("cp1251"))
    sys.exit(0)
if {error!r} != "0x00000000":
    sys.stdout.buffer.write("Ошибка: Неправильный PIN.\\n[ErrorCode: {error}]\\n".encode("cp1251"))
    sys.exit(1)
src, dst = args[-2], args[-1]
env = dict(os.environ, OPENSSL_CONF={str(conf)!r})
subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", src, "-signer", {str(cert.cert)!r}, "-inkey",
                {str(cert.key)!r}, "-md", "md_gost12_256", "-cades", "-nosmimecap", "-outform", "DER", "-out", dst],
               check=True, env=env)
sys.stdout.buffer.write("CryptCP 5.0 (c) \\"КРИПТО-ПРО\\", 2002-2020.\\nПодпись создана.\\n[ErrorCode: 0x00000000]\\n"
                        .encode("cp1251"))
""")
    path.chmod(0o755)


def test_cryptcp_command_and_output_shapes(people: People, tmp_path: Path) -> None:
    assert sign_command(
        "cryptcp", "046255290B0EB1CDD1797D9AB8C81F699E3687F3", Path("in.pdf"), Path("in.pdf.sig"), "1234"
    ) == [
        "cryptcp",
        "-sign",
        "-thumbprint",
        "046255290b0eb1cdd1797d9ab8c81f699e3687f3",
        "-detached",
        "-der",
        "-cadesbes",
        "-nochain",
        "-norev",
        "-pin",
        "1234",
        "in.pdf",
        "in.pdf.sig",
    ]
    certs = parse_certmgr(CERTMGR_OUTPUT)
    assert [c.thumbprint for c in certs] == [
        "046255290b0eb1cdd1797d9ab8c81f699e3687f3",
        "aabbccddeeff00112233445566778899aabbccdd",
    ]
    assert certs[0].subject.endswith("SNILS=12345678901") and certs[0].has_private_key and not certs[1].has_private_key
    assert certs[0].not_after.startswith("14/01/2027")

    tools = tmp_path / "cprocsp"
    tools.mkdir()
    fake_tool(tools / "cryptcp", people.certs[1], people.pki.pki.conf)
    fake_tool(tools / "certmgr", people.certs[1], people.pki.pki.conf)
    pin = tmp_path / "pin"
    pin.write_text("1234")
    pin.chmod(0o600)
    backend = CryptcpBackend("046255290b0eb1cdd1797d9ab8c81f699e3687f3", str(tools / "cryptcp"), str(pin))
    assert backend.availability().ok
    doc = tmp_path / "doc.bin"
    doc.write_bytes(DOC)
    assert check_locally(backend.sign(doc), *digests(DOC)) is None
    argv = json.loads((tools / "cryptcp.argv").read_text().splitlines()[0])
    assert argv[:10] == [
        "-sign",
        "-thumbprint",
        "046255290b0eb1cdd1797d9ab8c81f699e3687f3",
        "-detached",
        "-der",
        "-cadesbes",
        "-nochain",
        "-norev",
        "-pin",
        "1234",
    ]
    assert argv[-2] == str(doc) and argv[-1].endswith("doc.bin.sig")
    assert [c.thumbprint[:6] for c in backend.certificates()] == ["046255", "aabbcc"]
    assert json.loads((tools / "certmgr.argv").read_text()) == ["-list", "-store", "uMy"]

    fake_tool(tools / "cryptcp", people.certs[1], people.pki.pki.conf, error="0x8010006b")
    with pytest.raises(BackendError, match="0x8010006b.*неверный PIN"):
        backend.sign(doc)


# -- pycades (a recording stand-in) ---------------------------------------------------------------------------


def fake_pycades(cert: Issued, pki: Any, calls: list[tuple[Any, ...]]) -> types.ModuleType:
    mod = types.ModuleType("pycades")
    mod.CADESCOM_CONTAINER_STORE = 100  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    mod.CAPICOM_MY_STORE = "My"  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    mod.CAPICOM_STORE_OPEN_MAXIMUM_ALLOWED = 2  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    mod.CAPICOM_CERTIFICATE_FIND_SHA1_HASH = 0  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    mod.CADESCOM_BASE64_TO_BINARY = 1  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    mod.CADESCOM_CADES_BES = 1  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time

    class Cert:
        SubjectName, IssuerName, SerialNumber = "CN=Соколов", "CN=Test CA", "1004"
        Thumbprint, ValidToDate = "046255290B0EB1CDD1797D9AB8C81F699E3687F3", "14.01.2027 10:56:00"
        ValidFromDate = "14.10.2025 10:46:00"  # CAdESCOM's Certificate has both (ValidFromDate, ValidToDate)

        def HasPrivateKey(self) -> bool:
            return True

    class Certs:
        def __init__(self, items: list[Cert]) -> None:
            self.items = items
            self.Count = len(items)

        def Item(self, i: int) -> Cert:
            return self.items[i - 1]

        def Find(self, how: int, value: str) -> Certs:
            calls.append(("Find", how, value))
            return Certs([c for c in self.items if c.Thumbprint.lower() == value])

    class Store:
        Certificates = Certs([Cert()])

        def Open(self, *args: Any) -> None:
            calls.append(("Open", *args))

        def Close(self) -> None:
            calls.append(("Close",))

    class Signer:
        pass

    class SignedData:
        def SignCades(self, signer: Signer, kind: int, detached: bool) -> str:
            import base64

            calls.append(
                (
                    "SignCades",
                    kind,
                    detached,
                    self.ContentEncoding,
                    getattr(signer, "KeyPin", None),
                    signer.CheckCertificate,
                )
            )
            der = pki.sign(cert, base64.b64decode(self.Content))
            return base64.b64encode(der).decode()

    mod.Store, mod.Signer, mod.SignedData = Store, Signer, SignedData  # type: ignore[attr-defined]  # attributes of the fake pycades module built at run time
    return mod


def test_pycades_call_sequence(people: People, tmp_path: Path) -> None:
    calls: list[tuple[Any, ...]] = []
    pin = tmp_path / "pin"
    pin.write_text("0000")
    pin.chmod(0o600)
    mod = fake_pycades(people.certs[1], people.pki.pki, calls)
    backend = CryptoProBackend("04 62 55 29 0b0eb1cdd1797d9ab8c81f699e3687f3", str(pin), module=mod)
    assert backend.availability().ok
    docs = []
    for n in range(3):  # a batch: no prompt, the PIN read once
        doc = tmp_path / f"doc{n}.bin"
        doc.write_bytes(DOC + bytes([n]))
        docs.append(doc)
        assert check_locally(backend.sign(doc), *digests(DOC + bytes([n]))) is None
    assert calls[:4] == [
        ("Open", 100, "My", 2),
        ("Find", 0, "046255290b0eb1cdd1797d9ab8c81f699e3687f3"),
        ("SignCades", 1, True, 1, "0000", True),
        ("Close",),
    ]
    assert len([c for c in calls if c[0] == "SignCades"]) == 3
    assert backend.certificates()[0].thumbprint == "046255290b0eb1cdd1797d9ab8c81f699e3687f3"
    with pytest.raises(BackendError, match="не найден"):
        CryptoProBackend("ff" * 20, module=mod).sign(docs[0])
    assert not CryptoProBackend("ff" * 20).availability().ok  # no real pycades here


# -- small pieces ----------------------------------------------------------------------------------------------


def test_reconnect_delays_grow_with_jitter_and_cap() -> None:
    delays = reconnect_delays(initial=1.0, factor=2.0, maximum=8.0)
    got = [next(delays) for _ in range(8)]
    steps = [1, 2, 4, 8, 8, 8, 8, 8]
    assert all(s / 2 <= d <= s for d, s in zip(got, steps, strict=True))
    many = {round(next(reconnect_delays(initial=10.0)), 6) for _ in range(50)}
    assert len(many) > 40  # jittered: a fleet does not come back in step
    assert ws_url("https://kd.example.ru/") == "wss://kd.example.ru/agent/ws"


def test_secrets_are_scrubbed_and_config_edits_keep_the_rest(tmp_path: Path) -> None:
    assert (
        scrub("key kda_AbCdEf0123456789_-xyz sent; Authorization: Bearer abcdefghijklmnop")
        == "key kda_*** sent; Authorization: Bearer ***"
    )
    text = '# mine\n[server]\n# the url\nurl = ""\nca_file = "/etc/ca.pem"\n\n[backend]\nkind = "openssl"\n'
    config = tmp_path / "agent.toml"
    config.write_text(text)
    update_config(config, "server", {"url": "https://kd.example.ru", "device_id": "7"})
    assert config.read_text() == (
        '# mine\n[server]\n# the url\nurl = "https://kd.example.ru"\nca_file = "/etc/ca.pem"\n\n'
        'device_id = "7"\n[backend]\nkind = "openssl"\n'
    )


def test_der_ending_in_a_whitespace_byte_is_kept_whole() -> None:
    from agent.backends.base import to_der as agent_to_der
    from server.routes.cryptoarm import to_der as server_to_der

    der = bytes.fromhex("3003020120")  # INTEGER 0x20: the last byte is a space
    assert agent_to_der(der) == der and server_to_der(der) == der
    pem = b"-----BEGIN CMS-----\n" + __import__("base64").encodebytes(der) + b"-----END CMS-----\n"
    assert agent_to_der(pem) == der and server_to_der(b"\n" + pem) == der
