"""``klikdok verify ... --format pdf -o OUT.pdf`` (the server's command lends cades its PDF renderer) and the text
and HTML reports numbering signatures across every signature file given, two SignerInfos in one CMS included."""

from __future__ import annotations

import io
import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pypdf import PdfReader

from cades.cli import main as cades_main
from tests.support import protocol_samples
from tests.support.pki_fixtures import GostPki, gost_pki  # noqa: F401  the session fixture

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def signed(gost_pki: GostPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:  # noqa: F811  the fixture
    d = tmp_path_factory.mktemp("protocol-cli")
    doc = d / "Договор.pdf"
    doc.write_bytes(protocol_samples.SPEC)
    files = {"doc": doc, "two": d / "two.p7s", "one": d / "one.p7s", "trust": d / "root.pem"}
    files["two"].write_bytes(protocol_samples.two_signers(gost_pki, protocol_samples.SPEC))
    files["one"].write_bytes(gost_pki.pki.sign(gost_pki.user512, protocol_samples.SPEC, certfile=[gost_pki.inter.cert]))
    files["trust"].write_bytes(gost_pki.root.cert_pem)
    files["attached"] = d / "внутри.p7s"
    files["attached"].write_bytes(
        gost_pki.pki.sign(gost_pki.user256, protocol_samples.DOC, attached=True, certfile=[gost_pki.inter.cert])
    )
    for n, crl in enumerate(gost_pki.crl_files):
        files[f"crl{n}"] = crl
    return files


def argv(signed: dict[str, Path], *more: str) -> list[str]:
    return ["verify", str(signed["doc"]), str(signed["two"]), str(signed["one"]), "--trust", str(signed["trust"]),
            "--crl", str(signed["crl0"]), "--crl", str(signed["crl1"]), *more]  # fmt: skip


def klikdok(*args: str, stdout: int | None = subprocess.PIPE) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "KLIKDOK_CONFIG": "/nonexistent/klikdok.toml"}
    return subprocess.run(
        [sys.executable, "-m", "server.cli", *args], cwd=ROOT, env=env, stdout=stdout, stderr=subprocess.PIPE,
        check=False, timeout=120,
    )  # fmt: skip


def test_pdf_protocol_from_the_command_line(signed: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "протокол.pdf"
    proc = klikdok(*argv(signed, "--no-store", "--format", "pdf", "-o", str(out)))
    assert proc.returncode == 0, proc.stderr.decode()
    assert proc.stdout == b""
    reader = PdfReader(io.BytesIO(out.read_bytes()))
    text = "\n".join(p.extract_text() for p in reader.pages)
    assert text.startswith("Протокол проверки электронной подписи\nДоговор.pdf")
    assert re.findall(r"Подпись № (\d+): ", text) == ["1", "2", "3"]
    assert "Иванов Иван Иванович" in text and "Signer 256-TCA" in text and "Петров Пётр (512)" in text
    assert "ВСЕ ПОДПИСИ ДЕЙСТВИТЕЛЬНЫ" in text and "Файл «Договор.pdf»" in text


def test_pdf_is_not_written_to_a_terminal(signed: dict[str, Path]) -> None:
    primary, secondary = pty.openpty()
    try:
        proc = klikdok(*argv(signed, "--no-store", "--format", "pdf"), stdout=secondary)
    finally:
        os.close(secondary)
        os.close(primary)
    assert proc.returncode == 2
    assert proc.stderr.decode().strip() == (
        "klikdok verify: PDF не выводится в терминал: укажите файл протокола, например -o протокол.pdf, "
        "или перенаправьте вывод в файл"
    )
    # Into a pipe (a redirect) it is written.
    piped = klikdok(*argv(signed, "--no-store", "--format", "pdf"))
    assert piped.returncode == 0 and piped.stdout.startswith(b"%PDF-")


def test_text_and_html_number_signatures_across_the_signature_files(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cades_main(argv(signed)) == 0
    text = capsys.readouterr().out
    assert re.findall(r"Подпись № (\d+): ", text) == ["1", "2", "3"]
    html_file = tmp_path / "r.html"
    assert cades_main(argv(signed, "--format", "html", "-o", str(html_file))) == 0
    assert re.findall(r"<h2>Подпись № (\d+): ", html_file.read_text()) == ["1", "2", "3"]


def test_pdf_protocol_of_an_attached_signature_names_the_signature_file(
    signed: dict[str, Path], tmp_path: Path
) -> None:
    out = tmp_path / "attached.pdf"
    trust = ["--trust", str(signed["trust"]), "--crl", str(signed["crl0"]), "--crl", str(signed["crl1"])]
    proc = klikdok(
        "verify", "--attached", str(signed["attached"]), *trust, "--no-store", "--format", "pdf", "-o", str(out)
    )
    assert proc.returncode == 0, proc.stderr.decode()
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert "Файл «внутри.p7s»" in text and f"{len(protocol_samples.DOC)} байт" in text
    assert re.findall(r"Подпись № (\d+): ", text) == ["1"] and "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" in text
