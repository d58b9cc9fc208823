"""``klikdok verify --poa MCHD.xml MCHD.sig``: the МЧД's verdict beside the signature in text, JSON and HTML, and
in the exit code."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from cades.cli import main
from tests.support.http_files import serve_files
from tests.support.mchd import COMPANY, OTHER_COMPANY, MchdPki, MchdSpec

DOC = "Договор поставки № 17\n".encode() * 200


@dataclass(frozen=True)
class Files:
    doc: Path
    by_employee: Path
    by_head: Path
    mchd: Path
    mchd_sig: Path
    number: str
    known: tuple[str, ...]


@pytest.fixture(scope="module")
def files(mchd_pki: MchdPki, tmp_path_factory: pytest.TempPathFactory) -> Files:
    d = tmp_path_factory.mktemp("poa-cli")
    spec = MchdSpec()
    xml, sig = mchd_pki.signed(spec)
    paths = {name: d / name for name in ("договор.pdf", "employee.sig", "head.sig", "mchd.xml", "mchd.sig")}
    paths["договор.pdf"].write_bytes(DOC)
    paths["employee.sig"].write_bytes(mchd_pki.pki.sign(mchd_pki.employee, DOC, certfile=[mchd_pki.inter.cert]))
    paths["head.sig"].write_bytes(mchd_pki.pki.sign(mchd_pki.head, DOC, certfile=[mchd_pki.inter.cert]))
    paths["mchd.xml"].write_bytes(xml)
    paths["mchd.sig"].write_bytes(sig)
    known = ("--trust", str(mchd_pki.root.cert), *(x for crl in mchd_pki.crls for x in ("--crl", str(crl))))
    return Files(
        paths["договор.pdf"], paths["employee.sig"], paths["head.sig"], paths["mchd.xml"], paths["mchd.sig"],
        spec.number, known,
    )  # fmt: skip


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def verify(files: Files, *extra: object, sigs: tuple[Path, ...] | None = None) -> list[object]:
    return ["verify", files.doc, *(sigs or (files.by_employee,)), *files.known, "--poa", files.mchd, files.mchd_sig,
            *extra]  # fmt: skip


def test_text_report_shows_the_mchd_beside_the_signature(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, *verify(files, "--principal-inn", COMPANY.inn, "--poa-power", "KLASS_2.0_SIGN"))
    assert err == ""
    assert out.startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА")  # the document's own headline stays the signature's
    section = out.split("Машиночитаемая доверенность (МЧД):", 1)[1]
    assert f'МЧД № {files.number}, доверитель ООО "Ромашка" (ИНН {COMPANY.inn})' in section
    assert "+ Подписал руководитель доверителя: Иванов Иван Иванович (СНИЛС 123-456-789 01" in section
    assert "+ Полномочия: в МЧД есть требуемые полномочия: KLASS_2.0_SIGN" in section
    assert "? Статус в реестре ФНС: статус в реестре ФНС не проверен" in section
    # Everything checked but the registry: not confirmed, exit code 3, as for an unknown revocation status.
    assert "не подтверждена" in section and code == 3


def test_registry_answer_makes_the_exit_code_0(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_files() as fns:
        fns.put(f"/api/v0/poar-portal/public/poa/{files.number}/public", json.dumps({"status": "ACTIVE"}).encode())
        code, out, _ = run(capsys, *verify(files, "--principal-inn", COMPANY.inn, "--poa-registry", fns.base_url))
        assert fns.hits(f"/api/v0/poar-portal/public/poa/{files.number}/public") == 1
    assert "+ Статус в реестре ФНС: в реестре ФНС МЧД действует" in out
    assert code == 0, out


def test_principal_inn_differs_exit_1(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *verify(files, "--principal-inn", OTHER_COMPANY.inn))
    assert code == 1
    assert f'! Доверитель — организация из CRM: доверитель в МЧД — ООО "Ромашка" (ИНН {COMPANY.inn})' in out


def test_json_carries_the_verdict_under_the_signature(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *verify(files, "--format", "json", "--principal-inn", COMPANY.inn))
    data = json.loads(out)
    poa = data["signatures"][0]["poa"]
    assert poa["status"] == "indeterminate" and poa["registry_checked"] is False
    assert poa["poa"]["number"] == files.number and poa["poa"]["principal"]["inn"] == COMPANY.inn
    assert poa["poa"]["may_sign_alone"] is True
    assert {c["name"]: c["status"] for c in poa["checks"]} == {
        "signature": "ok", "issuer": "ok", "validity": "ok", "representative": "ok", "principal": "ok",
        "powers": "ok", "registry": "unknown",
    }  # fmt: skip
    assert poa["summary"].startswith(f"МЧД № {files.number}")
    assert code == 3


def test_html_report_has_an_mchd_section(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, *verify(files, "--format", "html", "--principal-inn", OTHER_COMPANY.inn))
    assert code == 1
    assert 'data-poa-verdict="invalid"' in out
    assert "Машиночитаемая доверенность (МЧД)" in out
    row = re.search(r'<tr data-poa-check="principal" data-status="(\w+)">(.*?)</tr>', out, re.S)
    assert row is not None and row.group(1) == "failed" and OTHER_COMPANY.inn in row.group(2)
    assert "&#34;Ромашка&#34;" in out or "&quot;Ромашка&quot;" in out  # outsiders' names are escaped


def test_head_signature_gets_no_mchd_and_the_employee_does(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    """Two signature files: the head's signature needs no МЧД; the employee's gets it."""
    code, out, _ = run(capsys, *verify(files, "--format", "json", sigs=(files.by_head, files.by_employee)))
    data = json.loads(out)
    head, employee = (entry["result"]["signatures"][0] for entry in data)
    assert "poa" not in head
    assert employee["poa"]["poa"]["number"] == files.number
    assert code == 3  # no --principal-inn: the CRM check is unknown


def test_without_poa_the_report_has_no_mchd(files: Files, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", files.doc, files.by_employee, *files.known)
    assert code == 0 and "МЧД" not in out


def test_unreadable_mchd_file_is_a_usage_error(
    files: Files, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, out, err = run(capsys, "verify", files.doc, files.by_employee, "--poa", tmp_path / "нет.xml", files.mchd_sig)
    assert code == 2 and out == "" and err.startswith("klikdok verify: МЧД ") and "не найден" in err


def test_mchd_failing_the_schema_is_reported_not_crashed(
    files: Files, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bad = tmp_path / "bad.xml"
    bad.write_bytes(files.mchd.read_bytes().replace(b'\xd0\x9a\xd0\x9f\xd0\x9f="771201001"', b""))
    code, out, _ = run(capsys, "verify", files.doc, files.by_employee, *files.known, "--poa", bad, files.mchd_sig)
    assert code == 1
    assert "! Формат МЧД: МЧД не соответствует схеме ФНС EMCHD_1" in out


def test_pdf_protocol_prints_the_mchd_under_the_signature(files: Files, tmp_path: Path) -> None:
    """`klikdok verify --format pdf` (the server's command lends the PDF renderer), read back with pypdf."""
    import io
    import os
    import subprocess
    import sys

    from pypdf import PdfReader

    out = tmp_path / "протокол.pdf"
    args = [str(a) for a in verify(files, "--principal-inn", OTHER_COMPANY.inn, "--no-store", "--format", "pdf")]
    proc = subprocess.run(
        [sys.executable, "-m", "server.cli", *args, "-o", str(out)],
        cwd=Path(__file__).resolve().parents[2], env={**os.environ, "KLIKDOK_CONFIG": "/nonexistent/klikdok.toml"},
        capture_output=True, check=False, timeout=120,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr.decode()  # the МЧД's principal is not the expected company
    text = " ".join(" ".join(p.extract_text() for p in PdfReader(io.BytesIO(out.read_bytes())).pages).split())
    assert "МЧД недействительна" in text
    assert f"№ {files.number}" in text
    assert f'доверитель в МЧД — ООО "Ромашка" (ИНН {COMPANY.inn}), а ИНН организации в CRM {OTHER_COMPANY.inn}' in text
    assert "статус в реестре ФНС не проверен" in text
