"""The verification protocol («протокол проверки электронной подписи») as PDF, and as the rows every other rendering
of it shows.

One model (:class:`Protocol`: the files of a document, each with the results of its ``.sig`` files) and one
function deciding what a protocol says (:func:`protocol_view`: the overall verdict, the files, every signature
numbered №1..N across the whole protocol with the file it belongs to, its rows in words). The PDF here, the
server's HTML report page (server.workflow.reports) and the JSON (:func:`protocol_json`) all render that view, so
they cannot disagree. The words come from cades.verdicts and cades.report (headlines, revocation lines, identity
labels, algorithm names): a protocol says exactly what the reports and the CLI say.

The drawing itself is :mod:`server.paper.protocol_pdf`: fpdf2 and fontTools take half a second to import, and
every server, CLI run and report page needs the view while only a PDF download needs the drawing.

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

from cades.report import ALGORITHM_RU, IDENTITY_LABELS, headline_json
from cades.result import REASONS, WARNINGS, SignatureResult, VerificationResult, overall_status
from cades.verdicts import Headline, TimeText, checked_lines, document_headline, revocation_line, signature_headline

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
]

TITLE: Final = "Протокол проверки электронной подписи"
GENERATED_LABEL: Final = "Протокол сформирован"
PROGRAM_NOTE: Final = "Проверка выполнена программой KlikDok по ГОСТ Р 34.10-2012 / 34.11-2012 (CMS, CAdES)."


class ProtocolNote(msgspec.Struct, kw_only=True, frozen=True):
    """A row the server adds under a signature beyond what its CMS says (issue 18: the МЧД it was judged with)."""

    label: str
    lines: list[str]


class ProtocolFile(msgspec.Struct, kw_only=True):
    name: str
    streebog256: str | None = None  # hex, of the file as signed
    size: int | None = None
    results: list[VerificationResult] = []  # one per signature file (.sig) of this file, in order
    notes: list[list[ProtocolNote]] = []  # per result (same order), rows added under its signature; may be short


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


def _notes(file: ProtocolFile, result_index: int) -> tuple[Row, ...]:
    notes = file.notes[result_index] if result_index < len(file.notes) else []
    return tuple(_row(n.label, *n.lines) for n in notes)


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
                rows=_signature_rows(sig, name, time_text) + _notes(protocol.files[fi], ri),
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
