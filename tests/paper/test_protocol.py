"""The verification protocol PDF says, for every signature of every file, what the reports say, numbered across
the whole protocol; its text is read back with pypdf, not trusted from the drawing code.

The signatures are made by openssl at test time and verified by cades (a time-stamped one, a revoked one, two
SignerInfos in one CMS, one with its revocation status unknown); one built result adds an OCSP-sourced
revocation (tests/support/verdict_samples.py).
"""

from __future__ import annotations

import datetime as dt
import io
import re
import time
from pathlib import Path

import pytest
from pypdf import PdfReader

from cades import hashing
from cades.result import VerificationResult
from cades.verdicts import ru_time
from server.paper.protocol import (
    Protocol,
    ProtocolFile,
    protocol_json,
    protocol_view,
)
from server.paper.protocol_pdf import render_protocol_pdf, render_protocols_pdf
from server.text import local_time, portal_zone
from tests.support import protocol_samples, verdict_samples
from tests.support.pki_fixtures import GostPki, gost_pki  # noqa: F401  the session fixture

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ZONE = "Europe/Moscow"
GENERATED = dt.datetime(2026, 12, 7, 11, 5, 9, tzinfo=dt.UTC)


def msk(value: object) -> str:
    return local_time(value, ZONE, seconds=True) or "—"


def squeeze(text: str) -> str:
    """Text without whitespace: a value wrapped onto two lines of the PDF still matches."""
    return re.sub(r"\s+", "", text)


def pdf_text(data: bytes) -> tuple[str, int]:
    reader = PdfReader(io.BytesIO(data))
    return "\n".join(page.extract_text() for page in reader.pages), len(reader.pages)


@pytest.fixture(scope="module")
def signed(gost_pki: GostPki) -> dict[str, VerificationResult]:  # noqa: F811  the fixture imported above
    return protocol_samples.results(gost_pki)


@pytest.fixture(scope="module")
def protocol(signed: dict[str, VerificationResult]) -> Protocol:
    digest = hashing.digest("streebog256", protocol_samples.DOC).hex()
    return Protocol(
        title="Договор поставки № 17",
        files=[
            ProtocolFile(
                name="Договор.pdf",
                streebog256=digest,
                size=len(protocol_samples.DOC),
                results=[signed["timestamped"], signed["revoked"]],
            ),
            ProtocolFile(
                name="Спецификация.xml",
                streebog256=hashing.digest("streebog256", protocol_samples.SPEC).hex(),
                size=len(protocol_samples.SPEC),
                results=[signed["two_signers"], signed["unknown"]],
            ),
            ProtocolFile(name="Акт.docx", results=[verdict_samples.result("invalid_revoked")]),
        ],
        generated=GENERATED,
        verify_url="https://klikdok.example.ru/v/Zx9kQ2mP7sLw",
    )


def test_the_signed_samples_are_what_the_protocol_must_word(signed: dict[str, VerificationResult]) -> None:
    assert [s.status for s in signed["timestamped"].signatures] == ["valid"]
    assert signed["timestamped"].signatures[0].signing_time_source == "timestamp"
    assert [s.reasons for s in signed["revoked"].signatures] == [["revoked"]]
    assert [s.status for s in signed["two_signers"].signatures] == ["valid", "valid"]
    assert [s.reasons for s in signed["unknown"].signatures] == [["revocation_unknown"]]


def test_every_field_of_every_signature_is_in_the_pdf_numbered_across_the_files(protocol: Protocol) -> None:
    data = render_protocol_pdf(protocol, time_text=msk)
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "protocol.pdf").write_bytes(data)
    text, pages = pdf_text(data)
    flat = squeeze(text)
    assert text.startswith("Протокол проверки электронной подписи\nДоговор поставки № 17")
    assert "Протокол сформирован: 07.12.2026 14:05:09 (МСК)" in text
    # The overall verdict: the worst signature, named by its number in this protocol.
    assert squeeze("ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: СЕРТИФИКАТ ОТОЗВАН (подпись № 2 из 6)") in flat
    for page in range(1, pages + 1):
        assert f"Страница {page} из {pages}" in text
    # №1..N across the whole protocol, in order, each once; not «№ 1» again for the next file.
    headings = re.findall(r"Подпись № (\d+): ", text)
    assert headings == [str(n) for n in range(1, 7)]
    view = protocol_view(protocol, time_text=msk)
    assert [(s.number, s.file_name) for s in view.signatures] == [
        (1, "Договор.pdf"), (2, "Договор.pdf"), (3, "Спецификация.xml"), (4, "Спецификация.xml"),
        (5, "Спецификация.xml"), (6, "Акт.docx"),
    ]  # fmt: skip
    # Every row of every signature, every reason and warning in words, every file's size and digest.
    for sig in view.signatures:
        assert squeeze(f"Подпись № {sig.number}: {sig.headline.title}") in flat
        assert squeeze(sig.verdict_text) in flat
        for row in sig.rows:
            for line in row.lines:
                assert squeeze(line) in flat, (sig.number, row.label, line)
        for words, code in sig.reasons + sig.warnings:
            assert squeeze(f"{words} [{code}]") in flat
    for f in protocol.files:
        assert f"Файл «{f.name}»" in text
        if f.streebog256:
            assert f.streebog256 in flat and f"{f.size} байт" in text
    assert protocol.verify_url is not None and protocol.verify_url in text


def test_the_pdf_words_the_sources_and_times_of_each_verdict(
    protocol: Protocol,
    signed: dict[str, VerificationResult],
    gost_pki: GostPki,  # noqa: F811  the fixture
) -> None:
    text, _ = pdf_text(render_protocol_pdf(protocol, time_text=msk))
    flat = squeeze(text)
    stamped = signed["timestamped"].signatures[0]
    assert stamped.certificate is not None and stamped.signing_time is not None
    # Signing time trusted by the time-stamp, the TSA named; the certificate's serial, issuer, validity.
    assert squeeze(f"{msk(stamped.signing_time)} — по штампу времени (CAdES-T), доверенное") in flat
    assert squeeze(f"Служба штампов времени {stamped.timestamp_authority}") in flat
    assert squeeze(f"Серийный номер сертификата {stamped.certificate.serial}") in flat
    assert squeeze(f"Издатель {stamped.certificate.issuer}") in flat
    validity = f"с {msk(stamped.certificate.not_before)} по {msk(stamped.certificate.not_after)}"
    assert squeeze(validity) in flat
    # The revocation source: the CRL with its thisUpdate, and for the built sample the OCSP producedAt.
    source = stamped.certificate.revocation_source
    assert source is not None and source.this_update is not None
    assert squeeze(f"не отозван — по данным: CRL {source.location}") in flat
    assert squeeze(f"thisUpdate {msk(source.this_update)}") in flat
    assert squeeze(f"producedAt {msk(verdict_samples.OCSP_SOURCE.produced_at)}") in flat
    # Claimed, not trusted: the unknown one; the revoked one says when; the chain marks the trusted root.
    unknown = signed["unknown"].signatures[0]
    assert squeeze(f"{msk(unknown.signing_time)} — заявленное подписантом, не подтверждено штампом времени") in flat
    assert squeeze("Отзыв сертификата неизвестен: проверить не удалось") in flat
    assert squeeze("ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА: СТАТУС ОТЗЫВА СЕРТИФИКАТА НЕИЗВЕСТЕН") in flat
    assert squeeze("статус отзыва сертификата не удалось проверить [revocation_unknown]") in flat
    assert squeeze("сертификат отозван на момент проверки [revoked]") in flat
    assert squeeze("Отзыв сертификата ОТОЗВАН (") in flat
    assert squeeze("Test GOST Root — доверенный корневой") in flat
    assert squeeze("Алгоритмы ГОСТ Р 34.11-2012 (256 бит); ГОСТ Р 34.10-2012 (256 бит)") in flat
    assert squeeze("Владелец (CN) Петров Пётр (512)") in flat and squeeze("СНИЛС 12345678901") in flat
    assert squeeze(f"Проверено на момент {msk(stamped.validation_time)}") in flat
    assert not re.search(r"\d\d:\d\d:\d\d UTC", text), "a moment is not in the zone of time_text"


def test_the_json_says_what_the_pdf_says_with_iso_times_in_the_zone(protocol: Protocol) -> None:
    data = protocol_json(protocol, time_text=msk, zone=portal_zone(ZONE), timezone=ZONE)
    view = protocol_view(protocol, time_text=msk)
    assert data["timezone"] == ZONE and data["generated"] == "2026-12-07T14:05:09+03:00"
    assert data["generated_text"] == "07.12.2026 14:05:09 (МСК)"
    assert [(s["number"], s["file"]) for s in data["signatures"]] == [(s.number, s.file_name) for s in view.signatures]
    assert [f["signatures"] for f in data["files"]] == [[1, 2], [3, 4, 5], [6]]
    for entry, sig in zip(data["signatures"], view.signatures, strict=True):
        assert entry["headline"]["title"] == sig.headline.title
        assert [(r["label"], r["value"]) for r in entry["rows"]] == [(r.label, "\n".join(r.lines)) for r in sig.rows]
        assert entry["result"]["validation_time"].endswith("+03:00")


def test_hostile_certificate_strings_wrap_and_never_break_the_layout(
    signed: dict[str, VerificationResult],
) -> None:
    import msgspec

    sig = signed["timestamped"].signatures[0]
    assert sig.signer is not None and sig.certificate is not None
    long_word = "Ж" * 300
    evil = msgspec.structs.replace(
        sig,
        signer=msgspec.structs.replace(
            sig.signer, organization=f"ООО\u202e «{long_word}»\x00\n汉字 😀", common_name="x\u200b" * 200
        ),
        certificate=msgspec.structs.replace(sig.certificate, issuer="CN=" + "W" * 500),
    )
    result = msgspec.structs.replace(signed["timestamped"], signatures=[evil])
    protocol = Protocol(title="T" * 400, files=[ProtocolFile(name="a" * 300 + ".pdf", results=[result])],
                        generated=GENERATED)  # fmt: skip
    data = render_protocol_pdf(protocol, time_text=ru_time)
    reader = PdfReader(io.BytesIO(data))
    flat = squeeze("".join(p.extract_text() for p in reader.pages))
    assert squeeze(long_word) in flat and "W" * 500 in flat  # wrapped, all there
    assert "\u202e" not in flat and "\x00" not in flat and "?" in flat  # bidi override dropped, CJK as «?»
    # Every glyph stays inside the page's margins: pdftotext's bounding boxes of every word.
    import subprocess

    boxes = subprocess.run(["pdftotext", "-bbox", "-", "-"], input=data, capture_output=True, check=True).stdout
    width = float(re.search(rb'<page width="([\d.]+)"', boxes).group(1))  # type: ignore[union-attr]  # a PDF page has a width
    right = max(float(x) for x in re.findall(rb'xMax="([\d.]+)"', boxes))
    assert right <= width - 15 * 72 / 25.4 + 1, (right, width)


def test_a_selection_has_a_section_per_document_each_numbered_like_its_own_protocol(protocol: Protocol) -> None:
    valid = ProtocolFile(name="Акт.pdf", results=[verdict_samples.result("valid")])
    second = Protocol(title="Акт сверки", files=[valid], generated=GENERATED, accepted=True)
    data = render_protocols_pdf([protocol, second], title="Выборка", generated=GENERATED, time_text=msk)
    text, _ = pdf_text(data)
    assert (
        "1. «Договор поставки № 17»: ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА" in text
        and "2. «Акт сверки»: ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" in text
    )
    assert squeeze("Документ: Договор поставки № 17") in squeeze(text)
    assert re.findall(r"Подпись № (\d+): ", text) == ["1", "2", "3", "4", "5", "6", "1"]


def test_a_protocol_of_a_hundred_signatures_is_quick_enough_to_serve() -> None:
    """A loose guard against fpdf2's per-character line breaking coming back (4 s); the real figure is the
    bench (benchmarks/bench_protocol.py, under 1 s)."""
    big = Protocol(title="100", generated=GENERATED, files=[
        ProtocolFile(name=f"Файл {i}.pdf", results=[verdict_samples.result(verdict_samples.CASES[i % 4])])
        for i in range(100)
    ])  # fmt: skip
    started = time.perf_counter()
    text, _ = pdf_text(render_protocol_pdf(big, time_text=msk))
    assert time.perf_counter() - started < 20
    assert re.findall(r"Подпись № (\d+): ", text) == [str(n) for n in range(1, 101)]


def test_the_report_page_and_its_json_say_what_the_pdf_says(protocol: Protocol) -> None:
    """The server's HTML and JSON reports render the same view: same numbers, files, rows, zone."""
    from typing import Any, cast

    from markupsafe import Markup, escape

    from server.workflow.reports import Reports

    reports = Reports(cast(Any, None), documents=cast(Any, None), timezone=ZONE)
    page = reports.render_page(protocol)
    data = reports.protocol_json(protocol)
    pdf, _ = pdf_text(render_protocol_pdf(protocol, time_text=reports.time_text))
    view = protocol_view(protocol, time_text=reports.time_text)
    assert data["timezone"] == ZONE and data["generated"].endswith("+03:00")
    assert f"Протокол сформирован: {data['generated_text']}" in page and data["generated_text"] in pdf
    assert re.findall(r"<h2>Подпись № (\d+): ", page) == [str(s["number"]) for s in data["signatures"]]
    assert re.findall(r"Подпись № (\d+): ", pdf) == [str(s["number"]) for s in data["signatures"]]
    for sig, entry in zip(view.signatures, data["signatures"], strict=True):
        assert f"{sig.number}. «{escape(sig.file_name)}»: {sig.headline.title}" in page
        assert entry["file"] == sig.file_name
        for row in sig.rows:
            cell = Markup("<br>").join(escape(line) for line in row.lines)
            mono = ' class="mono"' if row.mono else ""
            assert f"<tr><th>{escape(row.label)}</th><td{mono}>{cell}</td></tr>" in page, (sig.number, row.label)
    assert "(МСК)" in page and not re.search(r"\d\d:\d\d:\d\d UTC", page)
