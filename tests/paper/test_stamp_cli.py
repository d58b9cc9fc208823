"""``klikdok stamp DOCUMENT SIGNATURE... -o OUT.pdf`` as a process: verified as ``klikdok verify`` verifies, the
copy written whole or not at all, the portal's zone and public address from the configuration, errors in one
Russian line with exit code 2."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from pypdf import PdfReader

from server.paper.marks import SignatureMark, marks_for
from server.text import local_time
from tests.paper import originals
from tests.paper.conftest import Signing
from tests.paper.test_stamp import assert_marks_in, assert_original_kept
from tests.support.pdf_tools import page_text, qr_codes
from tests.support.server import clean_env, run_cli

ZONE = "Asia/Yekaterinburg"  # not the default zone, so the test sees the configuration read


def zone_time(value: object) -> str:
    return local_time(value, ZONE, seconds=True) or "—"


class Case:
    """A folder with a document, its three signatures and the test PKI's root and CRLs."""

    def __init__(self, folder: Path, signing: Signing, name: str, data: bytes) -> None:
        self.folder = folder
        self.signing = signing
        self.document = folder / name
        self.document.write_bytes(data)
        signatures, self.results = signing.three(data)
        self.signatures = []
        for n, sig in enumerate(signatures, start=1):
            path = folder / f"{name}.{n}.sig"
            path.write_bytes(sig)
            self.signatures.append(str(path))
        (folder / "root.pem").write_bytes(signing.pki.root.cert_pem)
        self.trust = ["--trust", str(folder / "root.pem")]
        self.crls = [arg for p in signing.pki.crl_files for arg in ("--crl", str(p))]

    def marks(self) -> list[SignatureMark]:
        return marks_for(self.document.name, self.results)

    def stamp(self, *extra: str, out: str = "copy.pdf") -> tuple[int, str, str]:
        env = clean_env(
            KLIKDOK_STORAGE_DATA_DIR=str(self.folder / "data"),
            KLIKDOK_SERVER_PUBLIC_URL="https://klikdok.example.ru/",
            KLIKDOK_PORTAL_TIMEZONE=ZONE,
        )
        args = ["stamp", str(self.document), *self.signatures, "-o", str(self.folder / out), *extra]
        done = run_cli(*args, env=env, timeout=120)
        assert "Traceback" not in done.stderr, done.stderr
        return done.returncode, done.stdout, done.stderr


@pytest.fixture
def contract(tmp_path: Path, signing: Signing) -> Case:
    return Case(tmp_path, signing, "Договор поставки.pdf", originals.short())


def test_stamp_writes_the_stamped_copy(contract: Case) -> None:
    original = contract.document.read_bytes()
    code, out, err = contract.stamp(*contract.trust, *contract.crls)
    assert code == 0, (out, err)
    assert out.splitlines()[0].startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА")
    assert (
        "Копия с отметками об электронной подписи:" in out and "Договор поставки (копия с отметками об ЭП).pdf" in out
    )
    copy = (contract.folder / "copy.pdf").read_bytes()
    assert contract.document.read_bytes() == original
    assert_original_kept(original, copy, overlay=True)
    assert_marks_in(page_text(copy, 1), contract.marks(), zone_time)  # the same verdicts, the portal's zone
    assert "(UTC+5)" in page_text(copy, 1)
    assert qr_codes(copy, 1) == ["https://klikdok.example.ru/verify"]
    assert sorted(p.name for p in contract.folder.iterdir() if p.name.startswith(".")) == []  # no temporary left


def test_the_qr_address_can_be_given(contract: Case) -> None:
    code, _, _ = contract.stamp(*contract.trust, *contract.crls, "--url", "https://example.org/v/abc")
    assert code == 0 and qr_codes((contract.folder / "copy.pdf").read_bytes(), 1) == ["https://example.org/v/abc"]


def test_an_untrusted_chain_still_gets_its_copy_with_the_verdict_said(contract: Case) -> None:
    code, out, _ = contract.stamp("--no-store", *contract.crls)
    assert code == 3 and out.startswith("ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА")
    text = page_text((contract.folder / "copy.pdf").read_bytes(), 1)
    assert text.count("ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА") == 3 and "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" not in text


def test_other_files_get_a_signing_sheet(tmp_path: Path, signing: Signing) -> None:
    case = Case(tmp_path, signing, "Акт сверки.docx", originals.docx())
    code, out, _ = case.stamp(*case.trust, *case.crls, out="sheet.pdf")
    assert code == 0 and "Лист подписания:" in out and "Акт сверки.docx (лист подписания).pdf" in out
    text = page_text((tmp_path / "sheet.pdf").read_bytes(), 1)
    assert "Файл: Акт сверки.docx" in text and case.results[0].content_digest_streebog256 in text
    assert_marks_in(text, case.marks(), zone_time)


def test_an_encrypted_pdf_gets_a_signing_sheet_and_says_why(tmp_path: Path, signing: Signing) -> None:
    case = Case(tmp_path, signing, "Закрытый.pdf", originals.encrypted())
    code, out, err = case.stamp(*case.trust, *case.crls)
    assert code == 0 and "Лист подписания:" in out
    assert "защищён паролем" in err and "Вместо копии записан лист подписания" in err
    assert "Лист подписания" in page_text((tmp_path / "copy.pdf").read_bytes(), 1)


def test_unusable_input_is_refused_in_one_line_and_nothing_is_written(contract: Case) -> None:
    original = contract.document.read_bytes()
    code, _, err = contract.stamp(*contract.trust, out=contract.document.name)
    assert code == 2 and "сам документ" in err and err.count("\n") == 1
    assert contract.document.read_bytes() == original
    code, _, err = contract.stamp(out=Path(contract.signatures[0]).name)
    assert code == 2 and "файл подписи" in err

    garbage = contract.folder / "garbage.sig"
    garbage.write_bytes(b"not a signature at all")
    contract.signatures.append(str(garbage))
    code, _, err = contract.stamp(*contract.trust)
    assert code == 2 and "garbage.sig" in err and not (contract.folder / "copy.pdf").exists()

    contract.signatures[-1] = str(contract.folder / "missing.sig")
    code, _, err = contract.stamp(*contract.trust)
    assert code == 2 and "missing.sig: файл не найден" in err

    contract.signatures.pop()
    contract.document = contract.folder / "нет такого.pdf"
    code, _, err = contract.stamp()
    assert code == 2 and "файл не найден" in err
    assert not (contract.folder / "copy.pdf").exists()


def test_an_existing_copy_is_replaced_whole(contract: Case) -> None:
    target = contract.folder / "copy.pdf"
    target.write_bytes(b"an older copy")
    code, _, _ = contract.stamp(*contract.trust, *contract.crls)
    assert code == 0 and len(PdfReader(io.BytesIO(target.read_bytes())).pages) == 1
