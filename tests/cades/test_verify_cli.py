"""``klikdok hash`` / ``klikdok verify`` through cades.cli.main: exit codes, output formats."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from cades.cli import main
from tests.support.pki_fixtures import GostPki

DOC = "Счёт-оферта № 5\n".encode() * 1000


@pytest.fixture(scope="module")
def signed(gost_pki: GostPki, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("cli")
    files = {"doc": d / "договор.pdf", "good": d / "good.p7s", "attached": d / "attached.p7s",
             "expired": d / "expired.p7s", "trust": d / "root.pem", "crl": d / "inter.crl",
             "revoked": d / "revoked.p7s", "root_crl": d / "root.crl"}  # fmt: skip
    files["doc"].write_bytes(DOC)
    pki = gost_pki.pki
    files["good"].write_bytes(pki.sign(gost_pki.user256, DOC, certfile=[gost_pki.inter.cert]))
    files["attached"].write_bytes(pki.sign(gost_pki.user256, DOC, attached=True, certfile=[gost_pki.inter.cert]))
    files["expired"].write_bytes(pki.sign(gost_pki.expired, DOC, certfile=[gost_pki.inter.cert]))
    files["revoked"].write_bytes(pki.sign(gost_pki.revoked, DOC, certfile=[gost_pki.inter.cert]))
    files["trust"].write_bytes(gost_pki.root.cert_pem)
    files["crl"].write_bytes(gost_pki.crl.read_bytes())
    files["root_crl"].write_bytes(gost_pki.root_crl.read_bytes())
    return files


def known(signed: dict[str, Path]) -> list[Path | str]:
    """The test root and the CRLs of the whole chain: without them no signature is ``valid`` (issue 13)."""
    return ["--trust", signed["trust"], "--crl", signed["crl"], "--crl", signed["root_crl"]]


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_hash_matches_gost12sum_byte_for_byte(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a, b = tmp_path / "a.bin", tmp_path / "имя с пробелом.txt"
    a.write_bytes(bytes(range(256)) * 999)
    b.write_bytes(b"")
    for bits, flag in [(256, []), (512, ["-l"])]:
        code, out, _ = run(capsys, "hash", "--bits", bits, a, b)
        expected = subprocess.run(["gost12sum", *flag, str(a), str(b)], capture_output=True, check=True).stdout
        assert code == 0 and out.encode() == expected


def test_hash_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = tmp_path / "a.bin"
    a.write_bytes(b"abc")
    code, out, err = run(capsys, "hash", tmp_path / "nope", a)
    assert code == 1 and out.endswith(f" {a}\n") and "nope" in err


def test_valid_detached_exit_0_and_text(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "verify", signed["doc"], signed["good"], *known(signed))
    assert code == 0, out
    assert out.startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА: ")
    assert "ИНН: 771234567890" in out and "СНИЛС: 12345678901" in out
    assert "Отзыв сертификата: не отозван" in out
    assert "заявленное подписантом, не подтверждено штампом времени" in out
    assert err == ""


def test_revocation_not_checked_is_not_shown_valid(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # Issue 13: without revocation material the math passes but nobody knows whether the certificate was
    # revoked, so the headline says exactly that and the exit code is 3, never 0 with a green word.
    code, out, _ = run(capsys, "verify", signed["doc"], signed["good"], "--trust", signed["trust"])
    assert code == 3, out
    # Worded «ПОДПИСЬ ВЕРНА, ОТЗЫВ НЕ ПРОВЕРЯЛСЯ» while the pipeline calls it valid with a warning, and
    # «ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: СТАТУС ОТЗЫВА ...» once it calls it indeterminate: either way, about revocation.
    headline = out.splitlines()[0].split(": ")[0:2]
    assert "ОТЗЫВ" in " ".join(headline) and "ДЕЙСТВИТЕЛЬНА" not in out


def test_help_names_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["verify", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "0 — все подписи действительны" in out and "1 — есть недействительная подпись" in out
    assert "3 — действительность не подтверждена" in out and "2 — неверные входные данные" in out


def test_attached(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", "--attached", signed["attached"], *known(signed))
    assert code == 0 and "присоединённая" not in out  # text format; html says it
    code, _, err = run(capsys, "verify", signed["doc"], signed["good"], "--attached", signed["attached"])
    assert code == 2 and len(err.strip().splitlines()) == 1


def test_untrusted_exit_3_and_tampered_exit_1(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Indeterminate has its own exit code since issue 13 (was 1 together with invalid).
    code, out, _ = run(capsys, "verify", signed["doc"], signed["good"])
    assert code == 3
    assert out.startswith("ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: ")
    assert "[NO_CERTIFICATE_CHAIN_FOUND]" in out and "ДЕЙСТВИТЕЛЬНА" not in out
    other = tmp_path / "other.pdf"
    other.write_bytes(DOC + b"!")
    code, out, _ = run(capsys, "verify", other, signed["good"], "--trust", signed["trust"])
    assert code == 1 and out.startswith("ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: ДОКУМЕНТ ИЗМЕНЁН ПОСЛЕ ПОДПИСАНИЯ: ")
    assert "[digest_mismatch]" in out and "[HASH_FAILURE]" in out


def test_revoked_with_crl_and_at(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", signed["doc"], signed["revoked"], "--trust", signed["trust"],
                       "--crl", signed["crl"], "--format", "json")  # fmt: skip
    assert code == 1
    data = json.loads(out)
    assert data["signatures"][0]["reasons"] == ["revoked"]
    assert data["headline"]["title"] == "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: СЕРТИФИКАТ ОТОЗВАН"
    assert data["headline"]["sub_indication"] == "REVOKED" and data["headline"]["tone"] == "invalid"
    code, out, _ = run(capsys, "verify", signed["doc"], signed["expired"], "--trust", signed["trust"],
                       "--at", "2000-01-01T00:00:00+03:00", "--format", "json")  # fmt: skip
    assert code == 1
    sig = json.loads(out)["signatures"][0]
    assert "not_yet_valid" in sig["reasons"]
    assert dt.datetime.fromisoformat(sig["validation_time"]) == dt.datetime(1999, 12, 31, 21, tzinfo=dt.UTC)


def test_json_output_parses(signed: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "verify", signed["doc"], signed["good"], *known(signed), "--format", "json")
    assert code == 0
    data = json.loads(out)
    assert data["status"] == "valid" and data["headline"]["title"] == "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"
    sig = data["signatures"][0]
    assert sig["signer"]["inn"] == "771234567890" and sig["signer"]["ogrn"] == "1027700000001"
    assert sig["signing_time_source"] == "signed_attribute" and sig["intact"] is True
    assert len(sig["certificate"]["chain"]) == 3
    code, out, _ = run(capsys, "verify", signed["doc"], signed["good"], signed["expired"], "--format", "json",
                       *known(signed))  # fmt: skip
    both = json.loads(out)
    # The expired signer's own signingTime falls after its certificate's expiry: invalid (issue 13).
    assert code == 1 and [x["result"]["status"] for x in both] == ["valid", "invalid"]
    assert [x["result"]["headline"]["tone"] for x in both] == ["valid", "invalid"]


def test_html_is_self_contained_and_escaped(
    signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out_file = tmp_path / "report.html"
    code, out, _ = run(capsys, "verify", signed["doc"], signed["good"], *known(signed),
                       "--format", "html", "--output", out_file)  # fmt: skip
    assert code == 0 and out == ""
    html = out_file.read_text()
    assert html.startswith("<!DOCTYPE html>") and "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" in html
    assert 'class="headline tone-valid"' in html
    assert "771234567890" in html and "&#34;Ромашка&#34;" in html  # quotes in O= are escaped
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", html)
    assert "<script" not in html and "@import" not in html and "url(" not in html


def test_unusable_input_exit_2(signed: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    junk = tmp_path / "junk.p7s"
    junk.write_bytes(b"\x30\x82\xff\xff garbage")
    cases = [
        ["verify", signed["doc"], junk],
        ["verify", signed["doc"], tmp_path / "missing.p7s"],
        ["verify", tmp_path / "missing.pdf", signed["good"]],
        ["verify", signed["doc"]],
        ["verify", signed["doc"], signed["good"], "--trust", junk],
        ["verify", signed["doc"], signed["good"], "--at", "вчера"],
    ]
    for argv in cases:
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert out == "" and len(err.strip().splitlines()) == 1 and err.startswith("klikdok verify: "), (argv, err)
    # argparse's own usage errors also exit 2 (usage lines, then one "error:" line).
    code, out, err = run(capsys, "verify", signed["doc"], signed["good"], "--format", "pdf")
    assert code == 2 and out == "" and "Traceback" not in err and "invalid choice" in err


def test_runs_as_a_process(signed: dict[str, Path]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "cades.cli", "verify", str(signed["doc"]), str(signed["good"]),
         *map(str, known(signed)), "--format", "json"],
        capture_output=True, check=False, cwd=Path(__file__).resolve().parents[2],
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["status"] == "valid"
