"""``klikdok verify --archive``: every signature of a folder or a ZIP on a process pool, matched to its document
by name, a summary by verdict, a report per signature in ``-o DIR``, and Ctrl-C stopping with a partial summary.
Signatures made by ``openssl cms`` with the test GOST PKI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from cades.archive import Item, pair
from cades.cli import main
from tests.support.pki_fixtures import GostPki

DOC = "Акт сверки № 12\n".encode() * 4000


@pytest.fixture(scope="module")
def archive(gost_pki: GostPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A folder as an auditor receives it: KlikDok's naming, a signature without the document's extension, an
    attached one, a changed document, a revoked signer, a damaged signature file and an unsigned note."""
    root = tmp_path_factory.mktemp("archive")
    pki, chain = gost_pki.pki, [gost_pki.inter.cert]
    folder = root / "пакет"
    (folder / "2026" / "май").mkdir(parents=True)
    for name in ("Договор.pdf", "2026/май/Акт.pdf", "Счёт.pdf", "Изменённый.pdf", "Отозванный.pdf"):
        (folder / name).write_bytes(DOC)
    (folder / "Договор.pdf.Иванов.sig").write_bytes(pki.sign(gost_pki.user256, DOC, certfile=chain))
    (folder / "2026/май/Акт.pdf.sig").write_bytes(pki.sign(gost_pki.user256, DOC, certfile=chain))
    (folder / "Счёт.sig").write_bytes(pki.sign(gost_pki.user256, DOC, certfile=chain))
    (folder / "Письмо.p7m").write_bytes(pki.sign(gost_pki.user256, DOC, attached=True, certfile=chain))
    (folder / "Изменённый.pdf.sig").write_bytes(pki.sign(gost_pki.user256, DOC, certfile=chain))
    (folder / "Изменённый.pdf").write_bytes(DOC + b"+")
    (folder / "Отозванный.pdf.sig").write_bytes(pki.sign(gost_pki.revoked, DOC, certfile=chain))
    (folder / "Повреждённый.pdf").write_bytes(DOC)
    (folder / "Повреждённый.pdf.sig").write_bytes(b"0\x82\xff\xff not a signature")
    (folder / "заметки.txt").write_text("без подписи")
    zipped = root / "пакет.zip"
    with zipfile.ZipFile(zipped, "w", zipfile.ZIP_DEFLATED) as z:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                z.write(path, path.relative_to(folder).as_posix())
    trust, crl, root_crl = root / "root.pem", root / "inter.crl", root / "root.crl"
    trust.write_bytes(gost_pki.root.cert_pem)
    crl.write_bytes(gost_pki.crl.read_bytes())
    root_crl.write_bytes(gost_pki.root_crl.read_bytes())
    return {"folder": folder, "zip": zipped, "trust": trust, "crl": crl, "root_crl": root_crl}


def known(a: dict[str, Path]) -> list[str]:
    return ["--trust", str(a["trust"]), "--crl", str(a["crl"]), "--crl", str(a["root_crl"])]


def test_pairing_follows_the_names() -> None:
    items, unsigned = pair(
        [
            "a/Договор.pdf",
            "a/Договор.pdf.Иванов.sig",
            "a/Договор.pdf.Иванов.2.sig",
            "Счёт.pdf",
            "Счёт.sig",
            "Письмо.p7m",
            "Одна.p7s",
            "x.txt",
        ]  # fmt: skip
    )
    assert items == [
        Item("a/Договор.pdf.Иванов.2.sig", "a/Договор.pdf"),
        Item("a/Договор.pdf.Иванов.sig", "a/Договор.pdf"),
        Item("Одна.p7s", None),  # no document of that name: attached
        Item("Письмо.p7m", None),
        Item("Счёт.sig", "Счёт.pdf"),
    ]
    assert unsigned == ["x.txt"]


@pytest.mark.parametrize("source", ["folder", "zip"])
def test_every_signature_is_judged_and_reported(
    archive: dict[str, Path], source: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "отчёты"
    code = main(["verify", "--archive", str(archive[source]), *known(archive), "-j", "2", "-o", str(out)])
    stdout, stderr = capsys.readouterr()
    assert code == 1, stdout  # a changed document and a revoked signer: invalid
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"valid": 4, "invalid": 2, "unusable": 1}
    assert summary["unsigned"] == ["заметки.txt"] and summary["checked"] == summary["total"] == 7
    verdicts = {r["signature"]: (r["document"], r["verdict"]) for r in summary["signatures"]}
    assert verdicts["Счёт.sig"] == ("Счёт.pdf", "valid")
    assert verdicts["2026/май/Акт.pdf.sig"] == ("2026/май/Акт.pdf", "valid")
    assert verdicts["Письмо.p7m"] == (None, "valid")
    assert verdicts["Изменённый.pdf.sig"] == ("Изменённый.pdf", "invalid")
    assert verdicts["Повреждённый.pdf.sig"][1] == "unusable"
    assert "ДОКУМЕНТ ИЗМЕНЁН ПОСЛЕ ПОДПИСАНИЯ" in (out / "Изменённый.pdf.sig.txt").read_text()
    assert (out / "2026" / "май" / "Акт.pdf.sig.txt").read_text().startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА")
    assert stdout.count(" — ") == 7  # one line per signature, as each is checked
    assert "ИТОГ ПРОВЕРКИ АРХИВА: ЕСТЬ НЕДЕЙСТВИТЕЛЬНЫЕ ПОДПИСИ" in stdout
    assert (out / "summary.txt").read_text() in stdout
    assert "Проверено 7 из 7 (100 %)" in stderr  # not a terminal: plain progress lines


def test_json_lines_and_html_reports(
    archive: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "html"
    code = main(["verify", "--archive", str(archive["zip"]), *known(archive), "--format", "html", "-o", str(out)])
    stdout, _ = capsys.readouterr()
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert code == 1 and lines == []  # html: text lines on stdout, reports in the folder
    assert "<html" in (out / "Договор.pdf.Иванов.sig.html").read_text()
    code = main(["verify", "--archive", str(archive["zip"]), *known(archive), "--format", "json", "-j", "1"])
    stdout, _ = capsys.readouterr()
    lines = [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]
    assert code == 1 and sorted(r["signature"] for r in lines) == sorted(
        r for r in zipfile.ZipFile(archive["zip"]).namelist() if r.endswith((".sig", ".p7m"))
    )


def test_a_name_in_a_zip_never_leaves_the_report_folder(
    archive: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(archive["zip"]) as src, zipfile.ZipFile(evil, "w") as z:
        z.writestr("../../Договор.pdf", src.read("Договор.pdf"))
        z.writestr("../../Договор.pdf.sig", src.read("Договор.pdf.Иванов.sig"))
    out = tmp_path / "out" / "reports"
    assert main(["verify", "--archive", str(evil), *known(archive), "-o", str(out)]) == 0
    capsys.readouterr()
    assert (out / "Договор.pdf.sig.txt").is_file()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["reports"]


def test_unusable_archive_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "не-архив.zip"
    bad.write_bytes(b"PK\x03\x04 broken")
    assert main(["verify", "--archive", str(bad)]) == 2
    assert main(["verify", "--archive", str(tmp_path / "нет")]) == 2
    err = capsys.readouterr().err
    assert "это не каталог и не ZIP-архив" in err and "не найден" in err and "Traceback" not in err


def test_ctrl_c_stops_cleanly_with_the_partial_summary(
    archive: dict[str, Path], gost_pki: GostPki, tmp_path: Path
) -> None:
    many = tmp_path / "много"
    many.mkdir()
    big = DOC * 100  # 6 MB: each check hashes for a while
    (many / "0.pdf").write_bytes(big)
    (many / "0.pdf.sig").write_bytes(gost_pki.pki.sign(gost_pki.user256, big, certfile=[gost_pki.inter.cert]))
    for n in range(1, 400):
        os.link(many / "0.pdf", many / f"{n}.pdf")
        os.link(many / "0.pdf.sig", many / f"{n}.pdf.sig")
    command = "import sys; from cades.cli import main; sys.exit(main(sys.argv[1:]))"
    proc = subprocess.Popen(
        [sys.executable, "-c", command, "verify", "--archive", str(many), *known(archive), "-j", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # Ctrl-C goes to the terminal's whole process group: the workers too
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first.startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"), first
    os.killpg(proc.pid, signal.SIGINT)
    rest, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert "ИТОГ ПРОВЕРКИ АРХИВА: ПРОВЕРКА ПРЕРВАНА" in rest
    checked = int(rest.split("Подписей проверено: ")[1].split(" ")[0])
    assert 1 <= checked < 400 and "из 400 (проверка прервана" in rest
    assert f"действительна: {checked}" in rest
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:  # the workers are gone with their parent
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.1)
    else:
        pytest.fail("a verification worker outlived the command")
