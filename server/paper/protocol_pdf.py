"""The verification protocol drawn as PDF (A4, DejaVu, page numbers), from :func:`server.paper.protocol.protocol_view`.

A module of its own so that only a PDF download loads fpdf2 (half a second of every process start otherwise):
callers import it where they draw, not at the top.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any, Final

from fpdf import FPDF
from fpdf.fonts import TTFFont

from cades.verdicts import TimeText

from .fonts import font_file
from .protocol import GENERATED_LABEL, PROGRAM_NOTE, TITLE, Protocol, ProtocolView, Row, _row, clean, protocol_view

__all__ = ["render_protocol_pdf", "render_protocols_pdf"]

FONT: Final = "dejavu"
MONO_SIZE: Final = 8.5
LABEL_WIDTH: Final = 55.0  # mm, the label column of a row
LINE: Final = 4.6  # mm per line of 9 pt text
TONE_RGB: Final = {"valid": (10, 93, 30), "invalid": (160, 0, 0), "indeterminate": (138, 90, 0)}


class _Pdf(FPDF):
    """A4 with the page number «Страница X из Y» at the bottom of every page."""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(90, 90, 90)
        self.cell(0, 5, f"Страница {self.page_no()} из {{nb}}", align="C")
        self.set_text_color(0, 0, 0)


class _Writer:
    """Draws a :class:`ProtocolView` onto a PDF: sections, two-column rows that wrap, no row split off its label.

    Lines are broken here, not by fpdf2's ``multi_cell``: its line breaker measures a line again for every
    character added (a protocol of 100 signatures took 4 s); measuring each word once with the font's width
    table keeps it well under a second. A word wider than its column (an attacker's 400-letter name) is cut
    into pieces that fit."""

    def __init__(self, pdf: _Pdf) -> None:
        self.pdf = pdf
        font = pdf.fonts[FONT]
        assert isinstance(font, TTFFont)  # added from font_file(): always TrueType
        self.glyphs = font.cmap  # code point -> glyph of the regular font (the bold has the same)
        self.bottom = pdf.h - pdf.b_margin
        self.y = pdf.t_margin

    def safe(self, text: str) -> str:
        """``text`` with the characters the font cannot draw as «?» (fpdf2 would leave a hole)."""
        glyphs = self.glyphs
        if all(ord(ch) in glyphs for ch in text):
            return text
        return "".join(ch if ord(ch) in glyphs else "?" for ch in text)

    def font(self, size: float, *, bold: bool = False) -> None:
        self.pdf.set_font(FONT, "B" if bold else "", size)

    def wrap(self, text: str, width: float) -> list[str]:
        """``text`` (no line breaks in it) broken into lines of at most ``width`` mm in the current font."""
        pdf = self.pdf
        assert pdf.current_font is not None
        cw: Any = pdf.current_font.cw  # glyph advance widths in 1/1000 of the size, by code point
        scale = pdf.font_size_pt * 0.001 / pdf.k  # font units -> mm

        def measure(word: str) -> float:
            return sum(cw[ord(c)] for c in word) * scale

        space = measure(" ")
        lines: list[str] = []
        line: list[str] = []
        used = 0.0
        for word in text.split(" "):
            w = measure(word)
            if w > width:  # a word no line can hold: cut it where the column ends
                if line:
                    lines.append(" ".join(line))
                    line, used = [], 0.0
                piece, pw = "", 0.0
                for ch in word:
                    cwid = cw[ord(ch)] * scale
                    if pw + cwid > width and piece:
                        lines.append(piece)
                        piece, pw = "", 0.0
                    piece += ch
                    pw += cwid
                word, w = piece, pw
            if line and used + space + w > width:
                lines.append(" ".join(line))
                line, used = [], 0.0
            used += (space if line else 0.0) + w
            line.append(word)
        lines.append(" ".join(line))
        return lines

    def new_page(self) -> None:
        self.pdf.add_page()
        self.y = self.pdf.t_margin

    def room(self, height: float) -> None:
        """A new page unless ``height`` mm still fit on this one."""
        if self.y + height > self.bottom:
            self.new_page()

    def draw(self, x: float, lines: Sequence[str], step: float, size: float) -> None:
        """Lines from the cursor down, at ``x``; a line that does not fit goes to the next page."""
        pdf = self.pdf
        for line in lines:
            self.room(step)
            if line:
                pdf.text(x, self.y + size * 0.3528 * 0.82, line)  # the baseline: 0.82 of the size (pt -> mm)
            self.y += step

    def para(self, text: str, *, size: float = 9, bold: bool = False, rgb: tuple[int, int, int] = (0, 0, 0)) -> None:
        pdf = self.pdf
        self.font(size, bold=bold)
        pdf.set_text_color(*rgb)
        width = pdf.w - pdf.l_margin - pdf.r_margin
        lines = [line for part in self.safe(text).split("\n") for line in self.wrap(part, width)]
        self.draw(pdf.l_margin, lines, size * 0.5, size)
        pdf.set_text_color(0, 0, 0)

    def gap(self, mm: float) -> None:
        self.y += mm

    def heading(self, text: str, *, size: float = 11, rgb: tuple[int, int, int] = (0, 0, 0)) -> None:
        pdf = self.pdf
        self.room(25)  # a heading never ends a page
        self.gap(2)
        self.para(text, size=size, bold=True, rgb=rgb)
        y = self.y + 0.5
        pdf.set_draw_color(150, 150, 150)
        pdf.line(pdf.l_margin, y, pdf.w - pdf.r_margin, y)
        self.gap(1.5)

    def rows(self, rows: Sequence[Row]) -> None:
        pdf = self.pdf
        width = pdf.w - pdf.l_margin - pdf.r_margin - LABEL_WIDTH
        for row in rows:
            size = MONO_SIZE if row.mono else 9.0
            self.font(size)
            value = [line for part in row.lines for line in self.wrap(self.safe(part), width)]
            self.font(8.5, bold=True)
            label = self.wrap(self.safe(row.label), LABEL_WIDTH - 2)
            height = LINE * max(len(value), len(label))
            if height < (self.bottom - pdf.t_margin) / 2:
                self.room(height)  # a row short enough stays whole
            else:
                self.room(LINE * len(label))
            top, page = self.y, pdf.page
            pdf.set_text_color(60, 60, 60)
            self.draw(pdf.l_margin, label, LINE, 8.5)
            label_end = self.y
            pdf.set_text_color(0, 0, 0)
            if pdf.page != page:  # only a label of one page's height would do this: never with our labels
                top = pdf.t_margin
            self.y = top
            self.font(size)
            self.draw(pdf.l_margin + LABEL_WIDTH, value, LINE, size)
            if pdf.page == page:
                self.y = max(self.y, label_end)
            self.gap(0.6)

    def items(self, label: str, items: Sequence[str]) -> None:
        if items:
            self.rows([Row(label=label, lines=tuple(f"• {i}" for i in items))])

    def protocol(self, view: ProtocolView, *, level: int = 0) -> None:
        if level == 0:
            self.para(TITLE, size=15, bold=True)
            self.gap(1)
            self.para(view.title, size=12, bold=True)
        else:
            self.heading(f"Документ: {view.title}", size=13)
        self.para(f"{GENERATED_LABEL}: {view.generated}")
        self.gap(2)
        rgb = TONE_RGB[view.headline.tone]
        self.para(view.headline.title, size=12, bold=True, rgb=rgb)
        self.para(
            view.headline.text + (f" [{view.headline.sub_indication}]" if view.headline.sub_indication else ""),
            rgb=rgb,
        )
        self.gap(2)
        self.rows(view.rows)
        self.heading("Файлы")
        for f in view.files:
            self.para(f"Файл «{f.name}»", bold=True)
            self.rows(f.rows)
        for s in view.signatures:
            self.heading(s.heading, rgb=TONE_RGB[s.headline.tone])
            self.para(s.verdict_text, rgb=TONE_RGB[s.headline.tone])
            self.gap(1)
            self.rows(s.rows)
            self.items("Причины", [f"{words} [{code}]" for words, code in s.reasons])
            self.items("Предупреждения", [f"{words} [{code}]" for words, code in s.warnings])
            self.items("Подробности", s.details)
        if not view.signatures:
            self.para("Подписей нет.")


def _new_pdf(title: str) -> _Pdf:
    pdf = _Pdf(format="A4", unit="mm")
    pdf.set_margins(18, 15, 15)
    pdf.set_auto_page_break(False, margin=18)  # _Writer breaks pages itself
    pdf.add_font(FONT, "", str(font_file()))
    pdf.add_font(FONT, "B", str(font_file(bold=True)))
    pdf.set_title(title)
    pdf.set_creator("KlikDok")
    pdf.set_lang("ru")
    pdf.add_page()
    return pdf


def render_protocol_pdf(protocol: Protocol, *, time_text: TimeText) -> bytes:
    """The protocol as PDF: each file with its digest, each signature's verdict with the reasons in words, the
    certificate and chain, revocation source and time, time-stamp, and the protocol's own date."""
    view = protocol_view(protocol, time_text=time_text)
    pdf = _new_pdf(f"{TITLE}: {view.title}")
    writer = _Writer(pdf)
    writer.protocol(view)
    writer.gap(3)
    writer.para(PROGRAM_NOTE, size=8)
    return bytes(pdf.output())


def render_protocols_pdf(
    protocols: Sequence[Protocol], *, title: str, generated: dt.datetime, time_text: TimeText
) -> bytes:
    """One PDF for a selection of documents: a summary of their verdicts, then a section per document, each
    numbered the way its own protocol is (a document's signatures №1..N), so a section matches that document's
    report word for word."""
    views = [protocol_view(p, time_text=time_text) for p in protocols]
    pdf = _new_pdf(f"{TITLE}: {title}")
    writer = _Writer(pdf)
    writer.para(TITLE, size=15, bold=True)
    writer.gap(1)
    writer.para(clean(title), size=12, bold=True)
    writer.gap(1)
    writer.para(f"{GENERATED_LABEL}: {time_text(generated)}")
    writer.rows([_row("Документов", str(len(views)))])
    writer.heading("Документы")
    for n, view in enumerate(views, start=1):
        writer.para(f"{n}. «{view.title}»: {view.headline.title}", rgb=TONE_RGB[view.headline.tone])
    for view in views:
        writer.new_page()
        writer.protocol(view, level=1)
    writer.gap(3)
    writer.para(PROGRAM_NOTE, size=8)
    return bytes(pdf.output())
