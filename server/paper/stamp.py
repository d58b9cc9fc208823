"""The stamped copy («копия с отметками об электронной подписи») and the signing sheet («лист подписания»).

A PDF original gets the marks in a free area at the bottom of its last page, or on added pages when that is not
free, written as an incremental update after the original bytes: the original file is a prefix of the copy, so its
pages, its own objects and any PDF signature inside it stay exactly as they were (a reader that ignores the update
sees the original). The update holds only new objects and new versions of the last page's dictionary (or of the
page tree's root, for added pages); the last page's own content streams keep their objects, wrapped as
``[q-stream, original streams..., Q-stream + marks]`` so nothing the original leaves in the graphics state moves
the marks. Any other original (DOCX, XLSX, images...) gets a signing sheet PDF that names the file with its GOST
digest and carries the same marks. Every copy has a QR code of ``verify_url``.

The marks are drawn by fpdf2 (:mod:`.layout`) on a page of the displayed size, then moved into the original as a
Form XObject with the matrix that undoes the page's /Rotate and CropBox offset. pypdf only reads: the update is
serialised here (a classic xref section for a classic file, an xref stream for a file that uses them), because
pypdf's incremental writer rewrites every page dictionary it flattens and always writes an xref stream.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
from collections.abc import Sequence
from typing import Any, Final

from pypdf import PdfReader
from pypdf.errors import PyPdfError
from pypdf.generic import (
    ArrayObject,
    DecodedStreamObject,
    DictionaryObject,
    FloatObject,
    IndirectObject,
    NameObject,
    NumberObject,
    PdfObject,
    StreamObject,
)

from cades.verdicts import TimeText

from . import PaperError
from .layout import MM_PER_PT, Painter, Stamp, clean, new_pdf
from .marks import SignatureMark
from .pdfscan import Box, Geometry, TooComplex, ink_boxes

PT_PER_MM: Final = 72 / 25.4
SIDE_MM: Final = 12.0
BOTTOM_MM: Final = 10.0  # the marks never go lower than this above the page's bottom edge
ABOVE_MM: Final = 5.0  # between the lowest content and the marks
TOP_MM: Final = 15.0  # of an added page, above its heading
FOOTER_ZONE_MM: Final = 30.0  # content entirely this close to the bottom is a footer: marks may go above it
MIN_PAGE_MM: Final = 100.0  # an added page smaller than this either way is A4 instead
A4_MM: Final = (210.0, 297.0)
ADDED_HEADING: Final = "Отметки об электронной подписи"
SHEET_HEADING: Final = "Лист подписания"
BROKEN: Final = "PDF-файл повреждён или не читается ({what}); откройте и сохраните его заново и повторите."
ENCRYPTED: Final = (
    "PDF-файл защищён паролем или зашифрован: отметки в него добавить нельзя, не меняя его. "
    "Снимите защиту или используйте лист подписания."
)


def is_pdf(data: bytes) -> bool:
    """Whether the original is a PDF (by its bytes, not its name): ``%PDF-`` within the first KiB, where readers
    look for it."""
    return b"%PDF-" in data[:1024]


_UNSAFE_NAME = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]+")


def copy_name(file_name: str, *, pdf: bool) -> str:
    """The file name of the copy of ``file_name``: its stamped copy or its signing sheet, always ``.pdf``.

    «Договор.pdf» → «Договор (копия с отметками об ЭП).pdf»; «Смета.xlsx» → «Смета.xlsx (лист подписания).pdf».
    The name is safe anywhere (no path separators, controls, bidi overrides or characters Windows refuses) and short
    enough for any file system (at most 200 bytes in UTF-8)."""
    name = _UNSAFE_NAME.sub("_", "".join(ch for ch in file_name if unicodedata.category(ch) != "Cf"))
    if pdf:
        stem = name[:-4] if name.lower().endswith(".pdf") else name
        suffix = " (копия с отметками об ЭП).pdf"
    else:
        stem, suffix = name, " (лист подписания).pdf"
    stem = stem.strip(" ._") or "документ"
    budget = 200 - len(suffix.encode())
    while len(stem.encode()) > budget:
        stem = stem[:-1]
    return stem.rstrip(" .") + suffix


def stamp_pdf(original: bytes, marks: Sequence[SignatureMark], *, verify_url: str, time_text: TimeText) -> bytes:
    """The original PDF with the marks and the QR code added; raises PaperError for an encrypted or broken PDF."""
    document = _Original(original)
    page_ref, page = document.last_page()
    geo, boxes = _scan(page)
    pdf = new_pdf()
    painter = Painter(pdf, time_text)
    width_mm, height_mm = geo.width * MM_PER_PT, geo.height * MM_PER_PT
    side = SIDE_MM if width_mm >= 150 else max(4.0, width_mm * 0.05)
    stamp = Stamp(painter, marks, max(width_mm - 2 * side, 20.0), verify_url)
    need = stamp.height(stamp.rows)
    top = _free_top(geo, boxes, need * PT_PER_MM) if boxes is not None else None
    update = _Update(document)
    if top is not None:
        pdf.add_page(format=(width_mm, height_mm))
        stamp.draw(side, height_mm - top * MM_PER_PT, stamp.rows)
        update.overlay_last_page(page_ref, page, geo, _only_page(pdf))
    else:
        if width_mm < MIN_PAGE_MM or height_mm < MIN_PAGE_MM:
            width_mm, height_mm = A4_MM
            side = SIDE_MM
            stamp = Stamp(painter, marks, width_mm - 2 * side, verify_url)
        _added_pages(pdf, stamp, marks, width_mm, height_mm, side)
        update.append_pages(_all_pages(pdf))
    return update.write()


def signing_sheet(
    file_name: str, streebog256: str, marks: Sequence[SignatureMark], *, verify_url: str, time_text: TimeText
) -> bytes:
    """A «лист подписания» PDF for a non-PDF original: its name, its GOST R 34.11-2012 digest, the marks."""
    pdf = new_pdf()
    pdf.set_title(f"{SHEET_HEADING}: {clean(file_name, pdf, limit=200)}")
    painter = Painter(pdf, time_text)
    width_mm, height_mm = A4_MM
    side = 15.0
    inner = width_mm - 2 * side
    stamp = Stamp(painter, marks, inner, verify_url)
    intro: list[tuple[str, bool, float, int]] = [
        (f"Файл: {clean(file_name, pdf)}", True, 10.0, 4),
        (f"Хэш ГОСТ Р 34.11-2012 (256 бит): {clean(streebog256, pdf, limit=200)}", False, 9.0, 3),
        (f"Подписей: {len(marks)}", False, 9.0, 1),
        (
            "Лист подписания показывает, какими электронными подписями подписан этот файл и что показала их "
            "проверка; сам файл и файлы подписей не изменены. Проверить подписи: отсканируйте QR-код или откройте "
            "адрес под ним.",
            False,
            8.0,
            4,
        ),
    ]
    header_lines = [
        (line, bold, size)
        for text, bold, size, max_lines in intro
        for line in painter.wrap(text, inner, bold=bold, size=size, max_lines=max_lines)
    ]
    header_height = 9.0 + sum(size * 0.5 for _, _, size in header_lines) + 4.0
    first_room = height_mm - TOP_MM - header_height - 15.0
    other_room = height_mm - TOP_MM - 9.0 - 15.0
    pages = stamp.pages(first_room, other_room)
    for number, rows in enumerate(pages, start=1):
        pdf.add_page(format=(width_mm, height_mm))
        top = _page_heading(pdf, painter, SHEET_HEADING if number == 1 else f"{SHEET_HEADING} (продолжение)", side)
        if number == 1:
            for line, bold, size in header_lines:
                painter._font(bold, size)
                pdf.set_text_color(20, 20, 20)
                top += size * 0.5
                pdf.text(side, top, line)
            top += 4.0
        stamp.draw(side, top, rows)
        _page_number(pdf, painter, number, len(pages), width_mm, height_mm, side)
    return bytes(pdf.output())


def stamped_copy(
    file_name: str,
    data: bytes,
    streebog256: str,
    marks: Sequence[SignatureMark],
    *,
    verify_url: str,
    time_text: TimeText,
) -> tuple[str, bytes]:
    """(copy's file name, PDF): the stamped PDF for a PDF original, else its signing sheet. A PDF that cannot take
    marks without being changed (encrypted, broken) gets a signing sheet too: a copy is always made."""
    if is_pdf(data):
        try:
            return copy_name(file_name, pdf=True), stamp_pdf(data, marks, verify_url=verify_url, time_text=time_text)
        except PaperError:
            pass
    return copy_name(file_name, pdf=False), signing_sheet(
        file_name, streebog256, marks, verify_url=verify_url, time_text=time_text
    )


# --- placement -----------------------------------------------------------------------------------------------------


def _scan(page: Any) -> tuple[Geometry, list[Box] | None]:
    """The page's geometry and its ink boxes; None for the boxes when the page cannot be read to the end (it is
    then treated as full: the marks go on an added page)."""
    from .pdfscan import geometry

    try:
        return ink_boxes(page)
    except TooComplex:
        return geometry(page), None
    except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError):
        return geometry(page), None


def _free_top(geo: Geometry, boxes: list[Box], need: float) -> float | None:
    """The displayed y (points, from the bottom) where a block ``need`` points tall may start downwards, or None.

    The block goes right under the page's lowest content, if it fits between that and the bottom margin. A
    footer (content wholly in the bottom ``FOOTER_ZONE_MM``, such as a page number) does not count as the lowest
    content: the block may go between the body and the footer instead."""
    bottom, gap, height = BOTTOM_MM * PT_PER_MM, ABOVE_MM * PT_PER_MM, geo.height
    if not boxes:
        top = height - TOP_MM * PT_PER_MM
        return top if top - need >= bottom else None
    bands: list[list[float]] = []
    for y0, y1 in sorted((b[1], b[3]) for b in boxes):
        if bands and y0 <= bands[-1][1] + 1.0:
            bands[-1][1] = max(bands[-1][1], y1)
        else:
            bands.append([y0, y1])
    candidates = [(bottom, bands[0][0] - gap)]
    footer = [band for band in bands if band[1] <= FOOTER_ZONE_MM * PT_PER_MM]
    if footer and len(footer) < len(bands):
        candidates.append((footer[-1][1] + gap, bands[len(footer)][0] - gap))
    for low, top in candidates:
        top = min(top, height - TOP_MM * PT_PER_MM)
        if top - low >= need:
            return top
    return None


def _added_pages(
    pdf: Any, stamp: Stamp, marks: Sequence[SignatureMark], width_mm: float, height_mm: float, side: float
) -> None:
    """Pages of the given size with a heading, the document's name and the marks, as many as they take."""
    painter = stamp.painter
    names = sorted({mark.file_name for mark in marks if mark.file_name})
    subtitle = painter.wrap(
        clean(f"Документ: {', '.join(names)}", pdf) if names else "", width_mm - 2 * side, size=9.0, max_lines=3
    )
    note = painter.wrap(
        "Страница добавлена к копии документа; страницы оригинала не изменены.",
        width_mm - 2 * side,
        size=7.5,
        max_lines=2,
    )
    header = 9.0 + 4.5 * len(subtitle) + 3.8 * len(note) + 3.0
    first_room = height_mm - TOP_MM - header - BOTTOM_MM - 6.0
    other_room = height_mm - TOP_MM - 9.0 - BOTTOM_MM - 6.0
    pages = stamp.pages(first_room, other_room)
    for number, rows in enumerate(pages, start=1):
        pdf.add_page(format=(width_mm, height_mm))
        heading = ADDED_HEADING if number == 1 else f"{ADDED_HEADING} (продолжение)"
        top = _page_heading(pdf, painter, heading, side)
        if number == 1:
            pdf.set_text_color(20, 20, 20)
            for line in subtitle:
                painter._font(False, 9.0)
                top += 4.5
                pdf.text(side, top, line)
            for line in note:
                painter._font(False, 7.5)
                top += 3.8
                pdf.text(side, top, line)
            top += 3.0
        stamp.draw(side, top + 2.0, rows)
        if len(pages) > 1:
            _page_number(pdf, painter, number, len(pages), width_mm, height_mm, side)


def _page_heading(pdf: Any, painter: Painter, text: str, side: float) -> float:
    painter._font(True, 13.0)
    pdf.set_text_color(31, 56, 140)
    pdf.text(side, TOP_MM + 5.0, text)
    return TOP_MM + 9.0


def _page_number(pdf: Any, painter: Painter, number: int, total: int, width: float, height: float, side: float) -> None:
    painter._font(False, 7.0)
    pdf.set_text_color(90, 90, 90)
    text = f"стр. {number} из {total}"
    pdf.text(width - side - painter.width_of(text, size=7.0), height - 8.0, text)


def _only_page(pdf: Any) -> Any:
    return _all_pages(pdf)[0]


def _all_pages(pdf: Any) -> list[Any]:
    """fpdf2's pages as pypdf page objects (their resources and streams are copied into the update)."""
    return list(PdfReader(io.BytesIO(bytes(pdf.output()))).pages)


# --- the original and its incremental update -----------------------------------------------------------------------


class _Original:
    """The original PDF, read once: its reader, where its last cross-reference section is and in which form."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        if not is_pdf(data):
            raise PaperError(BROKEN.format(what="нет заголовка %PDF"))
        self.base = data.find(b"%PDF-")
        try:
            self.reader = PdfReader(io.BytesIO(data), strict=False)
            encrypted = self.reader.is_encrypted
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError, struct.error,
                OSError) as exc:  # fmt: skip
            raise PaperError(BROKEN.format(what=_reason(exc))) from exc
        if encrypted:
            raise PaperError(ENCRYPTED)
        found = re.findall(rb"startxref\s+(\d+)", data[-4096:])
        if not found:
            raise PaperError(BROKEN.format(what="нет startxref"))
        self.startxref = int(found[-1])
        at = self.base + self.startxref
        head = data[at : at + 64].lstrip()
        if head.startswith(b"xref"):
            self.xref_stream = False
        elif re.match(rb"\d+\s+\d+\s+obj", head):
            self.xref_stream = True
        else:
            raise PaperError(BROKEN.format(what="неверная ссылка startxref"))
        try:
            self.trailer = self.reader.trailer
            self.root_ref = self.trailer.raw_get("/Root")
            self.size = max(int(self.trailer.get("/Size", 0)), self._highest_id() + 1)
            if not isinstance(self.root_ref, IndirectObject):
                raise PaperError(BROKEN.format(what="нет каталога документа"))
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise PaperError(BROKEN.format(what=_reason(exc))) from exc

    def _highest_id(self) -> int:
        highest = 0
        for section in self.reader.xref.values():
            highest = max(highest, *section.keys(), 0)
        if self.reader.xref_objStm:
            highest = max(highest, *self.reader.xref_objStm.keys())
        return highest

    def last_page(self) -> tuple[IndirectObject, Any]:
        try:
            pages = self.reader.pages
            count = len(pages)
            if count == 0:
                raise PaperError(BROKEN.format(what="в нём нет страниц"))
            page = pages[count - 1]
            ref = page.indirect_reference
        except PaperError:
            raise
        except (PyPdfError, ValueError, KeyError, TypeError, AttributeError, IndexError, RecursionError) as exc:
            raise PaperError(BROKEN.format(what=_reason(exc))) from exc
        if not isinstance(ref, IndirectObject):
            raise PaperError(BROKEN.format(what="страница без номера объекта"))
        return ref, page


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text[:120]


class _Update:
    """The objects of the incremental update and their serialisation after the original bytes."""

    def __init__(self, original: _Original) -> None:
        self.original = original
        self.next_id = original.size
        self.objects: dict[int, tuple[int, PdfObject]] = {}  # id -> (generation, object)
        self._relocated: dict[int, int] = {}  # fpdf2's object id -> ours

    def add(self, obj: PdfObject) -> IndirectObject:
        number = self.next_id
        self.next_id += 1
        self.objects[number] = (0, obj)
        return IndirectObject(number, 0, None)

    def replace(self, ref: IndirectObject, obj: PdfObject) -> None:
        self.objects[ref.idnum] = (ref.generation, obj)

    def relocate(self, obj: Any) -> Any:
        """A copy of an object of fpdf2's PDF whose references point to copies added to this update."""
        if isinstance(obj, IndirectObject):
            if obj.idnum not in self._relocated:
                number = self.next_id
                self.next_id += 1
                self._relocated[obj.idnum] = number
                self.objects[number] = (0, self.relocate(obj.get_object()))
            return IndirectObject(self._relocated[obj.idnum], 0, None)
        if isinstance(obj, StreamObject):
            stream = DecodedStreamObject() if not obj.get("/Filter") else type(obj)()
            stream._data = obj._data
            for key, value in obj.items():
                if key != "/Length":  # written anew with the data; an indirect /Length would be an orphan
                    stream[NameObject(key)] = self.relocate(value)
            return stream
        if isinstance(obj, DictionaryObject):
            return DictionaryObject({NameObject(k): self.relocate(v) for k, v in obj.items()})
        if isinstance(obj, ArrayObject):
            return ArrayObject(self.relocate(v) for v in obj)
        return obj

    def overlay_last_page(self, page_ref: IndirectObject, page: Any, geo: Geometry, overlay: Any) -> None:
        """The last page's dictionary again, its content streams wrapped and followed by the marks' Form XObject."""
        contents = overlay.get_contents()
        assert contents is not None
        drawing = DecodedStreamObject()
        drawing.set_data(contents.get_data())
        form = drawing.flate_encode()
        form[NameObject("/Type")] = NameObject("/XObject")
        form[NameObject("/Subtype")] = NameObject("/Form")
        form[NameObject("/BBox")] = ArrayObject(
            [FloatObject(0), FloatObject(0), FloatObject(geo.width), FloatObject(geo.height)]
        )
        form[NameObject("/Resources")] = self.relocate(overlay.raw_get("/Resources"))
        form_ref = self.add(form)

        original = self.original.reader.get_object(page_ref)
        assert isinstance(original, DictionaryObject)
        new_page = DictionaryObject(original)
        resources = _direct_copy(new_page.get("/Resources"))
        xobjects = _direct_copy(resources.get("/XObject"))
        name = _unique_name(xobjects, "/KDMarks")
        xobjects[NameObject(name)] = form_ref
        resources[NameObject("/XObject")] = xobjects
        new_page[NameObject("/Resources")] = resources

        before = DecodedStreamObject()
        before.set_data(b"q\n")
        after = DecodedStreamObject()
        matrix = " ".join(_num(v) for v in geo.to_user)
        after.set_data(f"\nQ\nq {matrix} cm {name} Do Q\n".encode())
        new_page[NameObject("/Contents")] = ArrayObject([self.add(before), *_content_refs(original), self.add(after)])
        self.replace(page_ref, new_page)

    def append_pages(self, pages: Sequence[Any]) -> None:
        """fpdf2's pages appended to the root of the page tree (MediaBox, Rotate and CropBox set on each, so
        nothing is inherited from the original's tree)."""
        root = self.original.reader.get_object(self.original.root_ref)
        assert isinstance(root, DictionaryObject)
        tree_ref = root.raw_get("/Pages")
        if not isinstance(tree_ref, IndirectObject):
            raise PaperError(BROKEN.format(what="дерево страниц без номера объекта"))
        tree = self.original.reader.get_object(tree_ref)
        assert isinstance(tree, DictionaryObject)
        new_tree = DictionaryObject(tree)
        old_kids = tree["/Kids"].get_object()
        if not isinstance(old_kids, ArrayObject):
            raise PaperError(BROKEN.format(what="дерево страниц без списка страниц"))
        kids = ArrayObject(old_kids)
        for page in pages:
            box = ArrayObject([FloatObject(float(v)) for v in page.mediabox])
            new_page = DictionaryObject(
                {
                    NameObject("/Type"): NameObject("/Page"),
                    NameObject("/Parent"): tree_ref,
                    NameObject("/MediaBox"): box,
                    NameObject("/CropBox"): box,
                    NameObject("/Rotate"): NumberObject(0),
                    NameObject("/Resources"): self.relocate(page.raw_get("/Resources")),
                    NameObject("/Contents"): self.relocate(page.raw_get("/Contents")),
                }
            )
            kids.append(self.add(new_page))
        new_tree[NameObject("/Kids")] = kids
        new_tree[NameObject("/Count")] = NumberObject(int(tree.get("/Count", 0)) + len(pages))
        self.replace(tree_ref, new_tree)

    def write(self) -> bytes:
        """The original bytes, then the update: objects, a cross-reference section and a trailer with /Prev."""
        out = io.BytesIO()
        data = self.original.data
        out.write(data)
        if not data.endswith((b"\n", b"\r")):
            out.write(b"\n")
        base = self.original.base
        offsets: dict[int, tuple[int, int]] = {}
        for number in sorted(self.objects):
            generation, obj = self.objects[number]
            offsets[number] = (out.tell() - base, generation)
            out.write(f"{number} {generation} obj\n".encode())
            obj.write_to_stream(out)
            out.write(b"\nendobj\n")
        trailer = DictionaryObject(
            {
                NameObject("/Root"): self.original.root_ref,
                NameObject("/Prev"): NumberObject(self.original.startxref),
            }
        )
        for key in ("/Info", "/ID"):
            value = self.original.trailer.raw_get(key) if key in self.original.trailer else None
            if value is not None:
                trailer[NameObject(key)] = value
        if self.original.xref_stream:
            self._xref_stream(out, offsets, trailer)
        else:
            self._xref_table(out, offsets, trailer)
        return out.getvalue()

    def _xref_table(self, out: io.BytesIO, offsets: dict[int, tuple[int, int]], trailer: DictionaryObject) -> None:
        at = out.tell() - self.original.base
        out.write(b"xref\n")
        for start, run in _runs(sorted(offsets)):
            out.write(f"{start} {len(run)}\n".encode())
            for number in run:
                offset, generation = offsets[number]
                out.write(f"{offset:010d} {generation:05d} n\r\n".encode())
        trailer[NameObject("/Size")] = NumberObject(max(self.next_id, self.original.size))
        out.write(b"trailer\n")
        trailer.write_to_stream(out)
        out.write(f"\nstartxref\n{at}\n%%EOF\n".encode())

    def _xref_stream(self, out: io.BytesIO, offsets: dict[int, tuple[int, int]], trailer: DictionaryObject) -> None:
        number = self.next_id
        at = out.tell() - self.original.base
        offsets = {**offsets, number: (at, 0)}
        rows = b"".join(struct.pack(">BIH", 1, offsets[n][0], offsets[n][1]) for n in sorted(offsets))
        stream = DecodedStreamObject()
        stream.set_data(rows)
        for key, value in trailer.items():
            stream[NameObject(key)] = value
        stream[NameObject("/Type")] = NameObject("/XRef")
        stream[NameObject("/Size")] = NumberObject(max(number + 1, self.original.size))
        stream[NameObject("/W")] = ArrayObject([NumberObject(1), NumberObject(4), NumberObject(2)])
        stream[NameObject("/Index")] = ArrayObject(
            [NumberObject(v) for start, run in _runs(sorted(offsets)) for v in (start, len(run))]
        )
        out.write(f"{number} 0 obj\n".encode())
        stream.write_to_stream(out)
        out.write(f"\nendobj\nstartxref\n{at}\n%%EOF\n".encode())


def _runs(numbers: list[int]) -> list[tuple[int, list[int]]]:
    runs: list[tuple[int, list[int]]] = []
    for n in numbers:
        if runs and runs[-1][1][-1] == n - 1:
            runs[-1][1].append(n)
        else:
            runs.append((n, [n]))
    return runs


def _direct_copy(value: Any) -> DictionaryObject:
    """A new direct dictionary with the entries of ``value`` (resolved if indirect; empty if missing or not a
    dictionary): the original's shared objects are never changed, the new page gets its own."""
    resolved = value.get_object() if value is not None else None
    return DictionaryObject(resolved) if isinstance(resolved, DictionaryObject) else DictionaryObject()


def _unique_name(existing: DictionaryObject, prefix: str) -> str:
    n = 0
    while f"{prefix}{n}" in existing:
        n += 1
    return f"{prefix}{n}"


def _content_refs(page: DictionaryObject) -> list[Any]:
    """The page's content streams as the references the original has (the same objects, untouched)."""
    raw = page.raw_get("/Contents") if "/Contents" in page else None
    if raw is None:
        return []
    if isinstance(raw, IndirectObject):
        resolved = raw.get_object()
        if isinstance(resolved, ArrayObject):
            return list(resolved)
        return [raw]
    if isinstance(raw, ArrayObject):
        return list(raw)
    return []


def _num(value: float) -> str:
    text = f"{value:.4f}".rstrip("0").rstrip(".")
    return text if text not in ("", "-0") else "0"
