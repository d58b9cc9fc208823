"""How marks are drawn: the framed block of one signature (GOST R 7.0.97-2025 п. 5.23), the QR column, and the
grid they make together, on an fpdf2 page (millimetres, y down).

Everything printed in a mark comes from a certificate, that is from whoever made it: a name can be a thousand
characters long, carry control and bidi-override characters, or characters the font lacks. :func:`clean` makes any
string printable (controls dropped, what the font lacks shown as «?», capped in length) and :meth:`Painter.wrap`
wraps it inside the frame with a cap on lines (the last one ends with «…»), so a hostile certificate can make its
own mark say odd things but never spill over the frame, a neighbour or the page.
"""

from __future__ import annotations

import copy
import functools
import io
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from fontTools import ttLib  # type: ignore[import-untyped]  # fontTools ships no type information
from fpdf import FPDF
from fpdf.fonts import SubsetMap, TTFFont

from cades.verdicts import TimeText

from .fonts import font_data
from .marks import SignatureMark
from .qr import draw_qr

FAMILY: Final = "kd"
MM_PER_PT: Final = 25.4 / 72

BODY_PT: Final = 7.0
HEAD_PT: Final = 7.5
LINE_MM: Final = 3.05  # body line pitch
PAD_MM: Final = 2.0  # inside a mark's frame
GAP_MM: Final = 3.0  # between marks, and between the QR column and the marks
MIN_MARK_MM: Final = 64.0  # narrower than this a mark wraps every line: one column then
MAX_MARK_MM: Final = 96.0
QR_MM: Final = 24.0
QR_COLUMN_MM: Final = 27.0
CAPTION_PT: Final = 6.0
CAPTION_LINE_MM: Final = 2.6
MAX_CHARS: Final = 400  # of one field, before wrapping (a mark shows at most a few lines of it anyway)

HEADING: Final = "ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ"
HEADING_LINES: Final = ("ДОКУМЕНТ ПОДПИСАН", "ЭЛЕКТРОННОЙ ПОДПИСЬЮ")
TRUSTED: Final = "время подтверждено штампом времени"
CLAIMED: Final = "время заявлено подписантом"
QR_CAPTION: Final = "Проверка подписей:"

FRAME: Final = (31, 56, 140)  # the blue of a stamp
INK: Final = (20, 20, 20)
TONE: Final = {"valid": (0, 110, 45), "invalid": (176, 0, 0), "indeterminate": (150, 85, 0)}

Color = tuple[int, int, int]


def new_pdf() -> FPDF:
    """An fpdf2 document in millimetres with the Cyrillic font (regular and bold) and no automatic page breaks."""
    pdf = FPDF(unit="mm")
    pdf.set_auto_page_break(False)
    pdf.set_margins(0, 0, 0)
    for style in ("", "B"):
        _add_font(pdf, style)
    pdf.set_creator("KlikDok")
    return pdf


@functools.cache
def _font_prototype(style: str) -> TTFFont:
    """fpdf2's parsed font, once per process: reading the font's cmap and metrics is a good part of a copy's time."""
    return TTFFont(FPDF(), io.BytesIO(font_data(bold=style == "B")), FAMILY + style, style)  # type: ignore[arg-type]  # fontTools reads a file object as well as a path


def _add_font(pdf: FPDF, style: str) -> None:
    """``pdf.add_font`` of :func:`.fonts.font_data` without parsing it again: the parsed metrics are shared (read
    only), the per-document parts (the glyphs used, the fontTools object fpdf2's subsetter cuts down in place) are
    fresh, each with its own file object (documents may be made in parallel threads)."""
    proto = _font_prototype(style)
    font = copy.copy(proto)
    font.ttfont = ttLib.TTFont(io.BytesIO(font_data(bold=style == "B")), recalcTimestamp=False, lazy=True)
    font.i = len(pdf.fonts) + 1
    font.subset = SubsetMap(font)
    font.missing_glyphs = []
    font.biggest_size_pt = 0
    font.cw = proto.cw.copy()  # a defaultdict: a lookup of a missing character writes into it
    pdf.fonts[FAMILY + style] = font


def clean(text: str, pdf: FPDF, *, limit: int = MAX_CHARS) -> str:
    """``text`` made safe to print: controls and format characters (bidi overrides, zero-width) dropped, line
    breaks and odd spaces made plain spaces, characters the fonts lack shown as «?», capped at ``limit``."""
    regular, bold = _cmap(pdf, FAMILY), _cmap(pdf, FAMILY + "B")
    out: list[str] = []
    for ch in text[: limit * 4]:
        category = unicodedata.category(ch)
        if category[0] == "Z" or ch in "\t\n\r\v\f":
            out.append(" ")
        elif category[0] == "C":  # Cc controls, Cf format (RLO, ZWJ...), Cs/Co/Cn
            continue
        elif ord(ch) in regular and ord(ch) in bold:
            out.append(ch)
        else:
            out.append("?")
    result = re.sub(r" {2,}", " ", "".join(out)).strip()
    return result if len(result) <= limit else result[: limit - 1] + "…"


def _cmap(pdf: FPDF, key: str) -> dict[int, str]:
    font = pdf.fonts[key]
    return font.cmap if isinstance(font, TTFFont) else {}


@dataclass(frozen=True)
class Line:
    text: str
    bold: bool = False
    size: float = BODY_PT
    color: Color = INK
    center: bool = False
    pitch: float = LINE_MM
    rule_after: bool = False  # a thin line under it (the mark's heading)


@dataclass(frozen=True)
class MarkBox:
    mark: SignatureMark
    lines: tuple[Line, ...]

    @property
    def height(self) -> float:
        return 2 * PAD_MM + sum(line.pitch for line in self.lines) + 0.6


def date_text(value: object, time_text: TimeText) -> str:
    """The date of a moment as the portal's zone sees it (the first «дд.мм.гггг» of ``time_text``): a certificate's
    validity is printed as dates, the way the stamp of п. 5.23 shows it."""
    if value is None:
        return "—"
    shown = time_text(value)  # type: ignore[arg-type]  # a datetime; kept loose for stored values
    found = re.search(r"\d{2}\.\d{2}\.\d{4}", shown)
    return found.group(0) if found else shown


class Painter:
    """Measures and draws marks on one fpdf2 document."""

    def __init__(self, pdf: FPDF, time_text: TimeText) -> None:
        self.pdf = pdf
        self.time_text = time_text

    def _font(self, bold: bool, size: float) -> None:
        self.pdf.set_font(FAMILY, "B" if bold else "", size)

    def width_of(self, text: str, *, bold: bool = False, size: float = BODY_PT) -> float:
        self._font(bold, size)
        return float(self.pdf.get_string_width(text))

    def wrap(
        self, text: str, width: float, *, bold: bool = False, size: float = BODY_PT, max_lines: int = 3
    ) -> list[str]:
        """``text`` in lines no wider than ``width`` (words kept whole when they fit a line, else split), at most
        ``max_lines``; text cut off ends with «…»."""
        self._font(bold, size)
        measure = self.pdf.get_string_width
        lines: list[str] = []
        current = ""
        for word in text.split(" "):
            candidate = f"{current} {word}" if current else word
            if measure(candidate) <= width:
                current = candidate
                continue
            if current:
                lines.append(current)
                current = ""
            while measure(word) > width and len(lines) <= max_lines:
                cut = self._fit(word, width)
                lines.append(word[:cut])
                word = word[cut:]
            current = word
            if len(lines) > max_lines:
                break
        if current:
            lines.append(current)
        if len(lines) > max_lines:
            lines = lines[:max_lines]
            last = lines[-1]
            while last and measure(last + "…") > width:
                last = last[:-1]
            lines[-1] = last.rstrip() + "…"
        return lines or [""]

    def _fit(self, word: str, width: float) -> int:
        """The longest prefix of ``word`` (at least one character) no wider than ``width``."""
        lo, hi = 1, len(word)
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if self.pdf.get_string_width(word[:mid]) <= width:
                lo = mid
            else:
                hi = mid - 1
        return lo

    # --- one mark ------------------------------------------------------------------------------------------------

    def mark_box(self, mark: SignatureMark, width: float) -> MarkBox:
        """The lines of one mark inside a frame ``width`` wide."""
        inner = width - 2 * PAD_MM
        lines: list[Line] = []

        def add(text: str, *, max_lines: int = 2, bold: bool = False, color: Color = INK) -> None:
            for part in self.wrap(clean(text, self.pdf), inner, bold=bold, max_lines=max_lines):
                lines.append(Line(part, bold=bold, color=color))

        # One line where it fits, else the stamp's classic two: «ДОКУМЕНТ ПОДПИСАН» over «ЭЛЕКТРОННОЙ ПОДПИСЬЮ».
        if self.width_of(HEADING, bold=True, size=HEAD_PT) <= inner:
            heading = [HEADING]
        else:
            heading = [
                part for half in HEADING_LINES for part in self.wrap(half, inner, bold=True, size=HEAD_PT, max_lines=2)
            ]
        for n, part in enumerate(heading):
            last = n == len(heading) - 1
            lines.append(Line(part, bold=True, size=HEAD_PT, color=FRAME, center=True, pitch=3.3, rule_after=last))

        def value(text: str, missing: str = "") -> str:
            return clean(text, self.pdf) or missing  # a name of nothing but controls is no name

        add(f"Сертификат: {value(mark.serial, 'не найден')}", max_lines=3)
        add(f"Владелец: {value(mark.owner, 'не указан')}", max_lines=3)
        if title := value(mark.title):
            add(f"Должность: {title}")
        if organization := value(mark.organization):
            add(f"Организация: {organization}")
        add(
            f"Действителен: с {date_text(mark.valid_from, self.time_text)} "
            f"по {date_text(mark.valid_to, self.time_text)}"
        )
        if mark.signing_time is not None:
            add(
                f"Подписан: {self.time_text(mark.signing_time)} ({TRUSTED if mark.signing_time_trusted else CLAIMED})",
                max_lines=3,
            )
        else:
            add("Подписан: время подписания не указано")
        add(f"Подпись № {mark.number}: {mark.verdict}", max_lines=3, bold=True, color=TONE.get(mark.status, INK))
        return MarkBox(mark, tuple(lines))

    def draw_mark(self, box: MarkBox, x: float, y: float, width: float, height: float) -> None:
        pdf = self.pdf
        pdf.set_draw_color(*FRAME)
        pdf.set_line_width(0.35)
        pdf.rect(x, y, width, height, style="D", round_corners=True, corner_radius=1.2)
        top = y + PAD_MM
        for line in box.lines:
            self._font(line.bold, line.size)
            pdf.set_text_color(*line.color)
            baseline = top + line.pitch * 0.78
            left = x + PAD_MM
            if line.center:
                left = x + (width - pdf.get_string_width(line.text)) / 2
            pdf.text(left, baseline, line.text)
            top += line.pitch
            if line.rule_after:
                pdf.set_line_width(0.2)
                pdf.line(x + PAD_MM, top + 0.1, x + width - PAD_MM, top + 0.1)
                top += 0.6

    # --- the QR column -------------------------------------------------------------------------------------------

    def qr_lines(self, url: str, width: float) -> list[str]:
        return self.wrap(clean(url, self.pdf, limit=300), width, size=CAPTION_PT, max_lines=5)

    def qr_height(self, url: str, width: float) -> float:
        return QR_MM + 1.0 + CAPTION_LINE_MM * (1 + len(self.qr_lines(url, width)))

    def draw_qr(self, url: str, x: float, y: float, width: float) -> None:
        draw_qr(self.pdf, x + (width - QR_MM) / 2, y, QR_MM, url)
        top = y + QR_MM + 1.0
        self.pdf.set_text_color(*INK)
        self._font(True, CAPTION_PT)
        self.pdf.text(x, top + CAPTION_LINE_MM * 0.8, QR_CAPTION)
        self._font(False, CAPTION_PT)
        for n, line in enumerate(self.qr_lines(url, width), start=1):
            self.pdf.text(x, top + CAPTION_LINE_MM * (n + 0.8), line)


class Stamp:
    """The marks of a copy laid out for a given width: the QR column on the left (on top when the page is too
    narrow for both), the marks in as many columns as fit, row by row. A block of rows is drawn where the caller
    found room: on the last page under its content, or on added pages (:meth:`pages` splits the rows)."""

    def __init__(self, painter: Painter, marks: Sequence[SignatureMark], width: float, url: str) -> None:
        self.painter = painter
        self.url = url
        self.width = width
        self.qr_left = width >= QR_COLUMN_MM + GAP_MM + MIN_MARK_MM
        room = width - (QR_COLUMN_MM + GAP_MM if self.qr_left else 0)
        columns = max(1, int((room + GAP_MM) // (MIN_MARK_MM + GAP_MM)))
        columns = max(1, min(columns, len(marks)))
        self.mark_width = min(MAX_MARK_MM, (room - (columns - 1) * GAP_MM) / columns)
        self.columns = columns
        boxes = [painter.mark_box(mark, self.mark_width) for mark in marks]
        self.rows = [boxes[i : i + columns] for i in range(0, len(boxes), columns)]
        self.qr_width = QR_COLUMN_MM if self.qr_left else min(width, 60.0)
        self.qr_height = painter.qr_height(url, self.qr_width)

    @staticmethod
    def row_height(row: Sequence[MarkBox]) -> float:
        return max(box.height for box in row)

    def height(self, rows: Sequence[Sequence[MarkBox]]) -> float:
        marks = sum(self.row_height(row) for row in rows) + GAP_MM * max(0, len(rows) - 1)
        if self.qr_left:
            return max(marks, self.qr_height)
        return self.qr_height + (GAP_MM + marks if rows else 0)

    def draw(self, x: float, y: float, rows: Sequence[Sequence[MarkBox]]) -> None:
        self.painter.draw_qr(self.url, x, y, self.qr_width)
        if self.qr_left:
            left, top = x + QR_COLUMN_MM + GAP_MM, y
        else:
            left, top = x, y + self.qr_height + GAP_MM
        for row in rows:
            height = self.row_height(row)
            for n, box in enumerate(row):
                self.painter.draw_mark(box, left + n * (self.mark_width + GAP_MM), top, self.mark_width, height)
            top += height + GAP_MM

    def pages(self, first: float, other: float) -> list[list[list[MarkBox]]]:
        """The rows split into pages: ``first`` mm of room on the first page, ``other`` on the next ones; each page
        takes at least one row (a row taller than a page is drawn anyway: a page can hold any capped mark)."""
        pages: list[list[list[MarkBox]]] = []
        current: list[list[MarkBox]] = []
        room = first
        for row in self.rows:
            if current and self.height([*current, row]) > room:
                pages.append(current)
                current, room = [], other
            current.append(row)
        if current or not pages:
            pages.append(current)
        return pages
