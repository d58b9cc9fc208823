"""The stamped copy and the signing sheet (issue 16): marks built from real verifications, read back with poppler,
zbar and pypdf; the original's bytes and page streams unchanged; the copy shown by Chromium's own PDF viewer."""

from __future__ import annotations

import datetime as dt
import io
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from cades.hashing import digest as gost_digest
from cades.verdicts import ACCEPTED_TITLE
from cades.verify import verify_cms
from server.paper import PaperError
from server.paper.marks import SignatureMark, marks_for
from server.paper.stamp import copy_name, is_pdf, signing_sheet, stamp_pdf, stamped_copy
from tests.browser import ARTIFACTS
from tests.paper import originals
from tests.paper.conftest import Signing
from tests.support.pdf_tools import (
    Word,
    assert_cross_references_sound,
    content_streams,
    flat,
    page_text,
    qr_codes,
    render,
    words,
)

URL = "https://klikdok.example.ru/v/Q2hlY2tNZVBsZWFzZQ"
TimeText = Callable[[object], str]


# --- what a mark must say --------------------------------------------------------------------------------------------


def expected_fields(mark: SignatureMark, time_text: TimeText) -> list[str]:
    """Every field GOST R 7.0.97-2025 п. 5.23 and the issue ask of a mark, as printed (dates in the portal's zone)."""
    fields = [
        "ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ",
        f"Сертификат: {mark.serial}",
        f"Владелец: {mark.owner}",
        f"Действителен: с {time_text(mark.valid_from)[:10]} по {time_text(mark.valid_to)[:10]}",
        f"Подписан: {time_text(mark.signing_time)} ("
        + ("время подтверждено штампом времени)" if mark.signing_time_trusted else "время заявлено подписантом)"),
        f"Подпись № {mark.number}: {mark.verdict}",
    ]
    if mark.organization:
        fields.append(f"Организация: {mark.organization}")
    if mark.title:
        fields.append(f"Должность: {mark.title}")
    return fields


def assert_marks_in(text: str, marks: Sequence[SignatureMark], time_text: TimeText) -> None:
    for mark in marks:
        for field in expected_fields(mark, time_text):
            assert flat(field) in text, (field, text[:3000])


def assert_original_kept(original: bytes, copy: bytes, *, overlay: bool) -> None:
    """The original is a prefix of the copy, and every original page shows the same content stream objects with the
    same stored bytes (the last page's wrapped between our «q» and «Q + marks» streams when ``overlay``)."""
    assert copy.startswith(original)
    assert_cross_references_sound(copy)
    before, after = content_streams(original), content_streams(copy)
    assert len(after) >= len(before)
    for number, (old, new) in enumerate(zip(before, after, strict=False), start=1):
        if overlay and number == len(before):
            assert new[1:-1] == old and len(new) == len(old) + 2, number
            assert new[0][1].strip() == b"q" and new[-1][1].lstrip().startswith(b"Q")
        else:
            assert new == old, number


def new_words(original: bytes, copy: bytes, page: int) -> tuple[list[Word], list[Word]]:
    """(the original page's words, the words the copy adds to that page), as poppler places them."""
    _, old = words(original, page)
    _, now = words(copy, page)
    left = Counter((w.text, round(w.x0), round(w.y0)) for w in old)
    added = []
    for word in now:
        key = (word.text, round(word.x0), round(word.y0))
        if left[key]:
            left[key] -= 1
        else:
            added.append(word)
    return old, added


def area(found: Sequence[Word]) -> tuple[float, float, float, float]:
    return min(w.x0 for w in found), min(w.y0 for w in found), max(w.x1 for w in found), max(w.y1 for w in found)


# --- marks -----------------------------------------------------------------------------------------------------------


def test_marks_say_what_the_verification_said(signing: Signing) -> None:
    data = originals.short()
    _, results = signing.three(data)
    marks = marks_for("Договор.pdf", results, first_number=4)
    assert [m.number for m in marks] == [4, 5, 6] and {m.file_name for m in marks} == {"Договор.pdf"}
    director, trader, person = marks
    for mark, result in zip(marks, results, strict=True):
        (sig,) = result.signatures
        assert sig.certificate is not None
        assert mark.serial == sig.certificate.serial and mark.serial
        assert (mark.valid_from, mark.valid_to) == (sig.certificate.not_before, sig.certificate.not_after)
        assert mark.signing_time == sig.signing_time is not None
        assert mark.status == "valid" and mark.verdict == "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"
    assert (director.owner, director.organization, director.title) == (
        "Иванов Иван Иванович",
        'ООО "Ромашка"',
        "Генеральный директор",
    )
    assert director.signing_time_trusted  # CAdES-T from the trusted test TSA
    assert (trader.owner, trader.organization, trader.title, trader.signing_time_trusted) == (
        "ИП Сидоров",
        "",
        "",
        False,
    )
    assert (person.owner, person.signing_time_trusted) == ("Петров Пётр (512)", False)


def test_a_mark_names_a_bad_or_accepted_signature_as_the_reports_do(signing: Signing) -> None:
    data = originals.short()
    revoked = verify_cms(signing.sign(signing.pki.revoked, data), data, context=signing.context())
    (mark,) = marks_for("Договор.pdf", [revoked])
    assert mark.status == "invalid" and mark.verdict == "ПОДПИСЬ НЕДЕЙСТВИТЕЛЬНА: СЕРТИФИКАТ ОТОЗВАН"
    # No CRLs: the revocation status is unknown; the workflow may have accepted it under the "warn" policy.
    from dataclasses import replace

    unknown = verify_cms(signing.sign(signing.pki.user256, data), data, context=replace(signing.context(), crls=()))
    (held,) = marks_for("Договор.pdf", [unknown])
    (accepted,) = marks_for("Договор.pdf", [unknown], accepted=True)
    assert held.verdict.startswith("ПОДПИСЬ НЕ ПОДТВЕРЖДЕНА") and accepted.verdict == ACCEPTED_TITLE


# --- the stamped copy -----------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def three_marks(signing: Signing) -> list[SignatureMark]:
    _, results = signing.three(originals.short())
    return marks_for("Договор поставки.pdf", results)


def test_marks_go_under_the_text_of_a_short_last_page(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    original = originals.short()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1
    assert_original_kept(original, copy, overlay=True)
    assert_marks_in(page_text(copy, 1), three_marks, time_text)
    assert qr_codes(copy, 1) == [URL]
    old, added = new_words(original, copy, 1)
    assert added and area(added)[1] > max(w.y1 for w in old)  # every mark word below the lowest line of text
    (width, height), _ = words(copy, 1)
    x0, _, x1, y1 = area(added)
    assert x0 > 0 and x1 < width and y1 < height


def test_a_full_last_page_gets_an_added_page(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    original = originals.full()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    reader = PdfReader(io.BytesIO(copy))
    assert len(reader.pages) == 2
    assert [float(v) for v in reader.pages[1].mediabox] == pytest.approx([float(v) for v in reader.pages[0].mediabox])
    assert_original_kept(original, copy, overlay=False)
    assert page_text(copy, 1) == page_text(original, 1)
    text = page_text(copy, 2)
    assert "Отметки об электронной подписи" in text and "Документ: Договор поставки.pdf" in text
    assert_marks_in(text, three_marks, time_text)
    assert qr_codes(copy, 2) == [URL] and qr_codes(copy, 1) == []


def test_twenty_pages(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    original = originals.short(pages=20)
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 20
    assert_original_kept(original, copy, overlay=True)
    assert_marks_in(page_text(copy, 20), three_marks, time_text)
    for page in (1, 19):
        assert page_text(copy, page) == page_text(original, page)
    assert qr_codes(copy, 20) == [URL]


def test_a_footer_stays_below_the_marks(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    """A page number at the bottom is a footer, not the end of the content: the marks go between body and footer."""
    original = originals.footer()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1
    old, added = new_words(original, copy, 1)
    footer = [w for w in old if w.y0 > 780]  # «Страница 1 из 1», 10 mm above the bottom edge
    body = [w for w in old if w.y0 <= 780]
    assert [w.text for w in footer] == ["Страница", "1", "из", "1"]
    marks_area = area(added)
    assert max(w.y1 for w in body) < marks_area[1] and marks_area[3] < min(w.y0 for w in footer)
    assert not any(w.overlaps(marks_area) for w in old)
    assert qr_codes(copy, 1) == [URL]


@pytest.mark.parametrize(("top", "height", "pages"), [(60.0, 50.0, 1), (230.0, 55.0, 2)], ids=["middle", "bottom"])
def test_an_image_is_content_too(
    three_marks: list[SignatureMark], time_text: TimeText, top: float, height: float, pages: int
) -> None:
    """An image has no words: the marks go below it (found from the content stream's `Do` and its matrix), or on an
    added page when it reaches the bottom."""
    original = originals.with_image(top, height)
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == pages
    assert_original_kept(original, copy, overlay=pages == 1)
    if pages == 1:
        _, added = new_words(original, copy, 1)
        image_bottom = (top + height) * 72 / 25.4
        assert area(added)[1] > image_bottom  # poppler's y grows downwards
    assert_marks_in(page_text(copy, pages), three_marks, time_text)
    assert qr_codes(copy, pages) == [URL]


@pytest.mark.parametrize("rotation", [90, 180, 270])
def test_a_turned_and_cropped_page_gets_upright_marks_at_its_shown_bottom(
    three_marks: list[SignatureMark], time_text: TimeText, rotation: int
) -> None:
    original = originals.turned(rotation)
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1
    assert_original_kept(original, copy, overlay=True)
    (crop_width, crop_height), _ = words(copy, 1)
    shown_width, shown_height = (crop_height, crop_width) if rotation != 180 else (crop_width, crop_height)
    png = render(copy, 1, 30)
    landscape = int.from_bytes(png[16:20], "big") > int.from_bytes(png[20:24], "big")
    assert landscape == (rotation != 180)  # poppler gives the CropBox's size unturned; the render is as shown
    old, added = new_words(original, copy, 1)
    assert_marks_in(page_text(copy, 1), three_marks, time_text)
    # Upright as shown: the heading's words on one line, left to right.
    heading = [w for w in added if w.text in ("ДОКУМЕНТ", "ПОДПИСАН")][:2]
    assert len(heading) == 2 and abs(heading[0].y0 - heading[1].y0) < 1 and heading[0].x1 < heading[1].x0
    x0, y0, x1, y1 = area(added)
    assert y0 > max(w.y1 for w in old)  # below the text as shown
    assert 0 < x0 and x1 < shown_width and y1 < shown_height  # inside the CropBox
    assert qr_codes(copy, 1) == [URL]


def test_many_signatures_take_several_added_pages(signing: Signing, time_text: TimeText) -> None:
    data = originals.short()
    _, results = signing.three(data)
    marks = marks_for("Договор.pdf", results * 8)  # 24 marks numbered 1..24
    original = originals.full()
    copy = stamp_pdf(original, marks, verify_url=URL, time_text=time_text)
    reader = PdfReader(io.BytesIO(copy))
    assert len(reader.pages) >= 3
    assert_original_kept(original, copy, overlay=False)
    text = " ".join(page_text(copy, n) for n in range(2, len(reader.pages) + 1))
    assert_marks_in(text, marks, time_text)
    assert "Отметки об электронной подписи (продолжение)" in text
    for n in range(2, len(reader.pages) + 1):
        assert qr_codes(copy, n) == [URL]


def test_a_cross_reference_stream_original_gets_a_stream_update(
    three_marks: list[SignatureMark], time_text: TimeText
) -> None:
    original = originals.xref_stream()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    tail = copy[len(original) :]
    assert b"/XRef" in tail and b"\ntrailer" not in tail
    assert_original_kept(original, copy, overlay=True)
    assert_marks_in(page_text(copy, 1), three_marks, time_text)
    assert PdfReader(io.BytesIO(copy)).metadata.title == "Договор поставки"  # the original's own update still counts
    assert qr_codes(copy, 1) == [URL]


def hostile(number: int, **fields: object) -> SignatureMark:
    now = dt.datetime(2026, 12, 7, 12, 0, tzinfo=dt.UTC)
    values: dict[str, object] = {
        "number": number, "file_name": "Договор.pdf", "serial": "0A" * 20, "owner": "Иванов", "organization": "",
        "title": "", "valid_from": now, "valid_to": now, "signing_time": now, "signing_time_trusted": False,
        "status": "valid", "verdict": "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА",
    }  # fmt: skip
    values.update(fields)
    return SignatureMark(**values)  # type: ignore[arg-type]  # test values of the struct's own field types


def test_hostile_certificate_names_stay_inside_their_frames(time_text: TimeText) -> None:
    """Certificate names are whoever made the certificate: very long, right-to-left, with controls and markup."""
    marks = [
        hostile(1, owner="Ы" * 3000, organization="ООО " + "Очень длинное название " * 200, title="Д" * 500),
        hostile(2, owner="\u202eвонавИ\u202c Иван\x00\x07\x1b[31m", organization="שלום עולם مرحبا بالعالم"),
        hostile(3, owner="<script>alert(1)</script>", organization="\n\n\t ООО «Кавычки» & <b>", serial="F" * 120),
        hostile(4, owner="😀🙂 Эмодзи 中文名字", title="\u200b\u200d\ufeff", verdict="X" * 400),
    ]
    for original in (originals.short(), originals.full()):
        copy = stamp_pdf(original, marks, verify_url=URL, time_text=time_text)
        reader = PdfReader(io.BytesIO(copy))
        page = len(reader.pages)
        text = page_text(copy, page)
        assert "<script>alert(1)</script>" in text and "ООО «Кавычки» & <b>" in text
        assert "Ы" * 30 in text and "…" in text  # cut, and said so
        assert not any(ch in text for ch in "\u202e\u202c\x00\x07\x1b\u200b")
        assert "Эмодзи ?" not in text or "?" in text  # characters the font lacks print as «?», never as boxes
        (width, height), found = words(copy, page)
        if page == 1:
            _, found = new_words(original, copy, 1)
        assert all(0 <= w.x0 and w.x1 <= width and 0 <= w.y0 and w.y1 <= height for w in found)
        for i, a in enumerate(found):  # no word drawn over another: nothing spilled out of its frame
            assert not any(a.overlaps(b, slack=0.5) for b in found[i + 1 :]), a
        assert qr_codes(copy, page) == [URL]


@pytest.mark.parametrize(
    ("make", "words_"), [(originals.encrypted, "защищён паролем"), (lambda: b"%PDF-1.7\n" + b"\x00" * 50, "повреждён")]
)
def test_an_encrypted_or_broken_pdf_is_refused_in_words(
    three_marks: list[SignatureMark], time_text: TimeText, make: Callable[[], bytes], words_: str
) -> None:
    with pytest.raises(PaperError, match=words_):
        stamp_pdf(make(), three_marks, verify_url=URL, time_text=time_text)


def test_an_encrypted_pdf_still_gets_a_signing_sheet(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    data = originals.encrypted()
    name, sheet = stamped_copy("Договор.pdf", data, "00" * 32, three_marks, verify_url=URL, time_text=time_text)
    assert name == "Договор.pdf (лист подписания).pdf" and "Лист подписания" in page_text(sheet, 1)


# --- the signing sheet ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "make"), [("Акт сверки.docx", originals.docx), ("Скан.png", originals.png)])
def test_a_signing_sheet_names_the_file_and_its_digest(
    signing: Signing, time_text: TimeText, name: str, make: Callable[[], bytes]
) -> None:
    data = make()
    _, results = signing.three(data)
    marks = marks_for(name, results)
    digest = gost_digest("streebog256", data).hex()
    copy_file, sheet = stamped_copy(name, data, digest, marks, verify_url=URL, time_text=time_text)
    assert copy_file == f"{name} (лист подписания).pdf" and not is_pdf(data) and is_pdf(sheet)
    text = page_text(sheet, 1)
    assert "Лист подписания" in text and f"Файл: {name}" in text
    assert f"Хэш ГОСТ Р 34.11-2012 (256 бит): {digest}" in text and "Подписей: 3" in text
    assert_marks_in(text, marks, time_text)
    assert qr_codes(sheet, 1) == [URL]


def test_a_long_signing_sheet_goes_on(signing: Signing, time_text: TimeText) -> None:
    data = originals.docx()
    _, results = signing.three(data)
    marks = marks_for("Акт.docx", results * 10)
    sheet = signing_sheet("Акт.docx", "ab" * 32, marks, verify_url=URL, time_text=time_text)
    reader = PdfReader(io.BytesIO(sheet))
    assert len(reader.pages) >= 2
    text = " ".join(page_text(sheet, n) for n in range(1, len(reader.pages) + 1))
    assert_marks_in(text, marks, time_text)
    assert f"стр. {len(reader.pages)} из {len(reader.pages)}" in text
    assert all(qr_codes(sheet, n) == [URL] for n in range(1, len(reader.pages) + 1))


# --- names ----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "pdf", "expected"),
    [
        ("Договор.pdf", True, "Договор (копия с отметками об ЭП).pdf"),
        ("Договор.PDF", True, "Договор (копия с отметками об ЭП).pdf"),
        ("Смета.xlsx", False, "Смета.xlsx (лист подписания).pdf"),
        ("../../etc/passwd", False, "etc_passwd (лист подписания).pdf"),
        ("C:\\Users\\a\\акт.docx", False, "C_Users_a_акт.docx (лист подписания).pdf"),
        ("\u202efdp.exe", True, "fdp.exe (копия с отметками об ЭП).pdf"),
        ("", True, "документ (копия с отметками об ЭП).pdf"),
        (".pdf", True, "документ (копия с отметками об ЭП).pdf"),
    ],
)
def test_copy_names(name: str, pdf: bool, expected: str) -> None:
    assert copy_name(name, pdf=pdf) == expected


def test_a_very_long_name_is_cut_to_what_file_systems_take() -> None:
    name = copy_name("Я" * 300 + ".pdf", pdf=True)
    assert len(name.encode()) <= 200 and name.endswith(" (копия с отметками об ЭП).pdf")


def test_is_pdf_looks_at_the_bytes() -> None:
    assert is_pdf(originals.short()) and is_pdf(b"\xef\xbb\xbf  %PDF-1.4\n") and not is_pdf(originals.docx())
    assert not is_pdf(b" " * 1024 + b"%PDF-1.4")


# --- Chromium ---------------------------------------------------------------------------------------------------------


@pytest.mark.browser
def test_stamped_copies_render_in_chromium(
    browser: Any, tmp_path: Path, three_marks: list[SignatureMark], time_text: TimeText
) -> None:
    """Chromium's own PDF viewer opens each copy and counts its pages; a screenshot of the marks is kept."""
    folder = ARTIFACTS / "paper"
    folder.mkdir(parents=True, exist_ok=True)
    cases = {
        "stamped-copy-last-page": (originals.short(), 1),
        "stamped-copy-added-page": (originals.full(), 2),
        "stamped-copy-turned-page": (originals.turned(), 1),
    }
    for name, (original, pages) in cases.items():
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text))
        page = browser.new_page(viewport={"width": 1000, "height": 1250})
        try:
            page.goto(f"{path.as_uri()}#page={pages}")
            viewer = next(f for f in _frames(page) if f.url.startswith("chrome-extension://"))
            selector = viewer.locator("viewer-page-selector")
            selector.wait_for(state="attached", timeout=15_000)
            assert _when(lambda: selector.evaluate("e => e.docLength")) == pages  # noqa: B023  called in this turn
            page.wait_for_timeout(500)  # the page's bitmap is painted after the document is counted
            page.screenshot(path=str(folder / f"{name}.png"))
        finally:
            page.close()


def _frames(page: Any) -> list[Any]:
    import time

    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        frames = list(page.frames)
        if any(f.url.startswith("chrome-extension://") for f in frames):
            return frames
        page.wait_for_timeout(100)
    raise AssertionError("Chromium showed no PDF viewer for the copy")


def _when(read: Callable[[], object], seconds: float = 15.0) -> object:
    """The first truthy value ``read`` gives within ``seconds`` (the viewer counts pages once it has loaded)."""
    import time

    deadline = time.monotonic() + seconds
    while True:
        value = read()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def test_content_inside_a_form_xobject_is_read_through(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    original = originals.in_a_form()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1  # the form's BBox is the page, its text ends high
    assert_original_kept(original, copy, overlay=True)
    old, added = new_words(original, copy, 1)
    assert area(added)[1] > max(w.y1 for w in old)
    assert qr_codes(copy, 1) == [URL]


def test_a_drawing_is_content_too(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    original = originals.drawing_at(60)
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1
    _, added = new_words(original, copy, 1)
    assert area(added)[1] > 200 * 72 / 25.4  # below the frame's bottom edge, not just below the text


def test_a_note_at_the_bottom_sends_the_marks_to_an_added_page(
    three_marks: list[SignatureMark], time_text: TimeText
) -> None:
    original = originals.annotated_at_bottom()
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    reader = PdfReader(io.BytesIO(copy))
    assert len(reader.pages) == 2 and "/Annots" in reader.pages[0]
    assert_original_kept(original, copy, overlay=False)
    assert_marks_in(page_text(copy, 2), three_marks, time_text)


def test_a_narrow_page_takes_the_marks_in_one_column_or_adds_an_a4_page(
    three_marks: list[SignatureMark], time_text: TimeText
) -> None:
    original = originals.receipt(40)
    copy = stamp_pdf(original, three_marks, verify_url=URL, time_text=time_text)
    assert len(PdfReader(io.BytesIO(copy)).pages) == 1
    old, added = new_words(original, copy, 1)
    (width, height), _ = words(copy, 1)
    x0, y0, x1, y1 = area(added)
    assert y0 > max(w.y1 for w in old) and 0 < x0 and x1 < width and y1 < height
    assert_marks_in(page_text(copy, 1), three_marks, time_text)
    assert qr_codes(copy, 1) == [URL]

    full_receipt = originals.receipt(245)
    copy = stamp_pdf(full_receipt, three_marks, verify_url=URL, time_text=time_text)
    reader = PdfReader(io.BytesIO(copy))
    assert len(reader.pages) == 2
    assert [round(float(v)) for v in reader.pages[1].mediabox] == [0, 0, 595, 842]  # too narrow to copy: A4
    assert_marks_in(page_text(copy, 2), three_marks, time_text)


def test_no_marks_still_give_a_copy_with_the_qr_code(time_text: TimeText) -> None:
    copy = stamp_pdf(originals.short(), [], verify_url=URL, time_text=time_text)
    assert qr_codes(copy, 1) == [URL] and "ДОКУМЕНТ ПОДПИСАН" not in page_text(copy, 1)
    sheet = signing_sheet("Акт.docx", "ab" * 32, [], verify_url=URL, time_text=time_text)
    assert "Подписей: 0" in page_text(sheet, 1) and qr_codes(sheet, 1) == [URL]


def test_copies_made_in_parallel_threads_are_each_whole(three_marks: list[SignatureMark], time_text: TimeText) -> None:
    """The parsed font is shared between documents (server.paper.layout): threads must not mix their glyphs."""
    from concurrent.futures import ThreadPoolExecutor

    original = originals.short()
    urls = [f"{URL}-{n}" for n in range(6)]
    with ThreadPoolExecutor(max_workers=3) as pool:
        copies = list(pool.map(lambda url: stamp_pdf(original, three_marks, verify_url=url, time_text=time_text), urls))
    for url, copy in zip(urls, copies, strict=True):
        assert_original_kept(original, copy, overlay=True)
        assert_marks_in(page_text(copy, 1), three_marks, time_text)
        assert qr_codes(copy, 1) == [url]
