"""The verification protocol («протокол проверки электронной подписи») as PDF, and as the rows every other rendering
of it shows.

One model (:class:`Protocol`: the files of a document, each with the results of its ``.sig`` files) and one
function deciding what a protocol says (:func:`protocol_view`: the overall verdict, the files, every signature
numbered №1..N across the whole protocol with the file it belongs to, its rows in words). The PDF here, the
server's HTML report page (server.workflow.reports) and the JSON (:func:`protocol_json`) all render that view, so
they cannot disagree. The words come from cades.verdicts and cades.report (headlines, revocation lines, identity
labels, algorithm names): a protocol says exactly what the reports and the CLI say.

Certificate names and document titles are chosen by outsiders: control and bidi-format characters are dropped
(they would reorder or hide text), glyphs the font lacks print as «?», and a long unbroken string wraps inside its
column instead of running off the page.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import msgspec
from fpdf import FPDF
from fpdf.fonts import TTFFont

from cades.report import ALGORITHM_RU, IDENTITY_LABELS, headline_json
from cades.result import REASONS, WARNINGS, SignatureResult, VerificationResult, overall_status
from cades.verdicts import Headline, TimeText, checked_lines, document_headline, revocation_line, signature_headline

from .fonts import font_file

__all__ = [
    "TITLE",
    "FileView",
    "Protocol",
    "ProtocolFile",
    "ProtocolView",
    "Row",
    "SignatureView",
    "protocol_json",
    "protocol_view",
    "render_protocol_pdf",
    "render_protocols_pdf",
]

TITLE: Final = "Протокол проверки электронной подписи"
GENERATED_LABEL: Final = "Протокол сформирован"
PROGRAM_NOTE: Final = "Проверка выполнена программой KlikDok по ГОСТ Р 34.10-2012 / 34.11-2012 (CMS, CAdES)."


class ProtocolFile(msgspec.Struct, kw_only=True):
    name: str
    streebog256: str | None = None  # hex, of the file as signed
    size: int | None = None
    results: list[VerificationResult] = []  # one per signature file (.sig) of this file, in order


class Protocol(msgspec.Struct, kw_only=True):
    title: str  # the document's title, or what was checked («Проверка подписи» on the public page)
    files: list[ProtocolFile]
    generated: dt.datetime  # the protocol's own date (UTC; printed in the time zone of ``time_text``)
    accepted: bool = False  # the workflow accepted these signatures (server reports): see cades.verdicts
    verify_url: str | None = None  # the document's public verification address, when it has one


# --- what a protocol says ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Row:
    """One labelled row; ``lines`` are shown one under another (a chain, one certificate per line)."""

    label: str
    lines: tuple[str, ...]
    mono: bool = False  # a serial number, a digest, an address: printed so every character can be read


@dataclass(frozen=True)
class SignatureView:
    number: int  # 1-based across the whole protocol, every file's signatures in order
    file_name: str
    file_index: int  # where it comes from in the Protocol: files[file_index].results[result_index]
    result_index: int
    signer_index: int  # the SignerInfo inside that CMS
    headline: Headline
    rows: tuple[Row, ...]
    reasons: tuple[tuple[str, str], ...]  # (words, code)
    warnings: tuple[tuple[str, str], ...]
    details: tuple[str, ...]
    signature: SignatureResult

    @property
    def heading(self) -> str:
        return f"Подпись № {self.number}: {self.headline.title}"

    @property
    def verdict_text(self) -> str:
        return self.headline.text + (f" [{self.headline.sub_indication}]" if self.headline.sub_indication else "")


@dataclass(frozen=True)
class FileView:
    name: str
    rows: tuple[Row, ...]
    numbers: tuple[int, ...]  # the numbers of its signatures


@dataclass(frozen=True)
class ProtocolView:
    title: str
    generated: str  # the protocol's own date in words, the zone named
    headline: Headline
    files: tuple[FileView, ...]
    signatures: tuple[SignatureView, ...]
    verify_url: str | None
    rows: tuple[Row, ...] = field(default=())  # the document's rows under the headline


def clean(text: object) -> str:
    """Printable text of an outsider's string: control and format characters (bidi overrides, zero-width
    joiners) dropped, line breaks and tabs made spaces, so no value can reorder, hide or break a line."""
    value = str(text)
    if value.isprintable():
        return value
    return "".join(
        " " if ch in "\t\n\r\x0b\x0c\x85\u2028\u2029" else ch
        for ch in value
        if ch in "\t\n\r\x0b\x0c\x85\u2028\u2029" or unicodedata.category(ch) not in ("Cc", "Cf", "Cs", "Co", "Cn")
    )


# How cades writes a moment into a free-text detail («отозван 2026-12-07 15:05:11 UTC»).
_DETAIL_TIME: Final = re.compile(r"\b(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}(?::\d{2})?) UTC\b")


def _detail(text: str, time_text: TimeText) -> str:
    """A cades detail with its UTC moments shown in the zone of ``time_text``, like every other moment."""

    def local(match: re.Match[str]) -> str:
        moment = dt.datetime.fromisoformat(f"{match.group(1)}T{match.group(2)}").replace(tzinfo=dt.UTC)
        return time_text(moment)

    return clean(_DETAIL_TIME.sub(local, text))


def _row(label: str, *lines: object, mono: bool = False) -> Row:
    return Row(label=label, lines=tuple(clean(line) for line in lines), mono=mono)


def _algorithm(name: str | None) -> str:
    return ALGORITHM_RU.get(name or "", name or "—")


def _signature_rows(sig: SignatureResult, file_name: str, time_text: TimeText) -> tuple[Row, ...]:
    rows = [_row("Файл", file_name)]
    rows += [_row(label, value) for label, value in checked_lines(sig, time_text)]
    if sig.claimed_signing_time and sig.signing_time_source == "timestamp":
        rows.append(_row("Заявленное подписантом время", time_text(sig.claimed_signing_time)))
    rows.append(_row("Служба штампов времени", sig.timestamp_authority or "нет штампа времени"))
    rows.append(_row("Проверено на момент", time_text(sig.validation_time)))
    rows.append(_row("Алгоритмы", f"{_algorithm(sig.digest_algorithm)}; {_algorithm(sig.signature_algorithm)}"))
    if sig.signer is not None:
        data = msgspec.structs.asdict(sig.signer)
        rows += [_row(label, data[key]) for key, label in IDENTITY_LABELS if data.get(key)]
    cert = sig.certificate
    if cert is not None:
        rows.append(_row("Серийный номер сертификата", cert.serial, mono=True))
        rows.append(_row("Владелец сертификата", cert.subject))
        rows.append(_row("Издатель", cert.issuer))
        rows.append(_row("Срок действия", f"с {time_text(cert.not_before)} по {time_text(cert.not_after)}"))
        chain: list[str] = []
        for n, entry in enumerate(cert.chain):
            chain.append(f"{n + 1}. {entry.subject}" + (" — доверенный корневой" if entry.trusted else ""))
            # The signer's own status is the «Отзыв сертификата» row above; the CAs' are here.
            if n > 0 and (entry.revocation != "not_checked" or entry.revocation_source is not None):
                chain.append("отзыв: " + revocation_line(entry.revocation, entry.revocation_source, None, time_text))
        if chain:
            rows.append(_row("Цепочка сертификатов", *chain))
    return tuple(rows)


def _numbered(protocol: Protocol) -> list[tuple[int, int, int, SignatureResult]]:
    """(file index, result index, signer index, signature) of every signature, in the protocol's order."""
    return [
        (fi, ri, si, sig)
        for fi, f in enumerate(protocol.files)
        for ri, result in enumerate(f.results)
        for si, sig in enumerate(result.signatures)
    ]


def overall_headline(protocol: Protocol) -> Headline:
    """The verdict of everything the protocol holds, with the protocol's own numbers in it («подпись № 3 из 4»):
    cades.verdicts.document_headline over all signatures, renumbered across the files."""
    signatures = [msgspec.structs.replace(sig, index=n) for n, (_, _, _, sig) in enumerate(_numbered(protocol))]
    combined = VerificationResult(
        status=overall_status([s.status for s in signatures]),
        signatures=signatures,
        attached=False,
        verified_at=protocol.generated,
    )
    return document_headline(combined, accepted=protocol.accepted)


def protocol_view(protocol: Protocol, *, time_text: TimeText) -> ProtocolView:
    """What the protocol says, in order: every rendering (PDF, HTML page, JSON) shows exactly these rows."""
    signatures: list[SignatureView] = []
    numbers: dict[int, list[int]] = {}
    for n, (fi, ri, si, sig) in enumerate(_numbered(protocol), start=1):
        name = protocol.files[fi].name
        numbers.setdefault(fi, []).append(n)
        signatures.append(
            SignatureView(
                number=n,
                file_name=clean(name),
                file_index=fi,
                result_index=ri,
                signer_index=si,
                headline=signature_headline(sig, accepted=protocol.accepted),
                rows=_signature_rows(sig, name, time_text),
                reasons=tuple((clean(REASONS[c][1] if c in REASONS else c), clean(c)) for c in sig.reasons),
                warnings=tuple((clean(WARNINGS.get(c, c)), clean(c)) for c in sig.warnings),
                details=tuple(_detail(d, time_text) for d in sig.details),
                signature=sig,
            )
        )
    files = []
    for fi, f in enumerate(protocol.files):
        rows = [_row("Размер", f"{f.size} байт" if f.size is not None else "—")]
        rows.append(_row("ГОСТ Р 34.11-2012 (256)", f.streebog256 or "—", mono=True))
        mine = numbers.get(fi, [])
        rows.append(_row("Подписи", ", ".join(f"№ {n}" for n in mine) if mine else "нет"))
        files.append(FileView(name=clean(f.name), rows=tuple(rows), numbers=tuple(mine)))
    rows = [_row("Файлов", str(len(protocol.files)))]
    rows.append(_row("Подписей", str(len(signatures))))
    if protocol.verify_url:
        rows.append(_row("Проверка онлайн", protocol.verify_url, mono=True))
    return ProtocolView(
        title=clean(protocol.title),
        generated=time_text(protocol.generated),
        headline=overall_headline(protocol),
        files=tuple(files),
        signatures=tuple(signatures),
        verify_url=clean(protocol.verify_url) if protocol.verify_url else None,
        rows=tuple(rows),
    )


# --- JSON ----------------------------------------------------------------------------------------------


def _zoned(value: Any, zone: dt.tzinfo) -> Any:
    """Builtins with every moment as ISO 8601 with the zone's offset («2026-03-12T12:30:00+03:00»)."""
    if isinstance(value, dt.datetime):
        moment = value if value.tzinfo is not None else value.replace(tzinfo=dt.UTC)
        return moment.astimezone(zone).isoformat()
    if isinstance(value, dict):
        return {k: _zoned(v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [_zoned(v, zone) for v in value]
    return value


def zoned_builtins(value: Any, zone: dt.tzinfo) -> Any:
    """A msgspec value as JSON-able builtins, its moments in ``zone`` with the offset."""
    return _zoned(msgspec.to_builtins(value, builtin_types=(dt.datetime,)), zone)


def _rows_json(rows: Sequence[Row]) -> list[dict[str, Any]]:
    return [{"label": r.label, "value": "\n".join(r.lines)} for r in rows]


def protocol_json(
    protocol: Protocol,
    *,
    time_text: TimeText,
    zone: dt.tzinfo = dt.UTC,
    timezone: str = "UTC",
    view: ProtocolView | None = None,
) -> dict[str, Any]:
    """The protocol for machine readers: the same rows and numbers as the PDF, plus every signature's result
    with its moments as ISO 8601 in ``zone`` (named ``timezone``) with the offset. ``view``: the protocol's
    view when the caller has it already (the same ``time_text``)."""
    view = view or protocol_view(protocol, time_text=time_text)
    return {
        "title": view.title,
        "timezone": timezone,
        "generated": _zoned(protocol.generated, zone),
        "generated_text": view.generated,
        "headline": headline_json(view.headline),
        "verify_url": protocol.verify_url,
        "rows": _rows_json(view.rows),
        "files": [
            {
                "name": f.name,
                "size": protocol.files[i].size,
                "streebog256": protocol.files[i].streebog256,
                "signatures": list(f.numbers),
            }
            for i, f in enumerate(view.files)
        ],
        "signatures": [
            {
                "number": s.number,
                "file": s.file_name,
                "headline": headline_json(s.headline),
                "rows": _rows_json(s.rows),
                "reasons": [{"code": code, "text": words} for words, code in s.reasons],
                "warnings": [{"code": code, "text": words} for words, code in s.warnings],
                "details": list(s.details),
                "result": zoned_builtins(s.signature, zone),
            }
            for s in view.signatures
        ],
    }


# --- PDF -----------------------------------------------------------------------------------------------

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
