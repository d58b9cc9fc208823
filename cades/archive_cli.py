"""``klikdok verify --archive PATH``: the terminal side of :mod:`cades.archive`.

What an auditor sees: a progress bar with the rate and the time left on a terminal (tqdm), a plain progress
line every few seconds when the output goes to a file or a pipe; one line per signature on stdout as it is
checked (JSON lines with ``--format json``); and a summary by verdict at the end. With ``-o DIR`` each signature
gets its report there (``<signature path>.<txt|json|html|pdf>``) and the summary goes to ``summary.txt`` and
``summary.json`` as well. Ctrl-C stops cleanly: the signatures being checked finish, the rest is not started,
and the partial summary says so (exit code 130).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any, TextIO

import msgspec

from .archive import VERDICT_TEXT, ArchiveError, Item, Outcome, Reader, Summary, pair, verify_archive

if TYPE_CHECKING:
    from .validation import ValidationContext

EXIT_INTERRUPTED = 130
_PLAIN_EVERY = 5.0  # seconds between progress lines when stderr is not a terminal
_EXT = {"text": "txt", "json": "json", "html": "html", "pdf": "pdf"}
_TITLE = {
    "valid": "ВСЕ ПОДПИСИ ДЕЙСТВИТЕЛЬНЫ",
    "invalid": "ЕСТЬ НЕДЕЙСТВИТЕЛЬНЫЕ ПОДПИСИ",
    "indeterminate": "ЕСТЬ НЕПОДТВЕРЖДЁННЫЕ ПОДПИСИ",
}


class _Record(msgspec.Struct):
    signature: str
    document: str | None
    verdict: str
    headline: str


def run_archive(args: argparse.Namespace, context: ValidationContext) -> int:
    """The whole run; an archive or a report folder that cannot be used raises :class:`ArchiveError` (the caller
    prints it as one line, exit code 2)."""
    from .verdicts import EXIT_CODES

    out_dir = Path(args.output) if args.output else None
    if args.format == "pdf" and out_dir is None:
        raise ArchiveError("протоколы PDF пишутся в каталог: укажите -o КАТАЛОГ")
    reader = Reader(Path(args.archive))
    items, unsigned = pair(reader.names())
    if out_dir is not None:
        try:
            out_dir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise ArchiveError(f"{out_dir}: {exc.strerror or exc}") from exc

    summary = Summary(counts={}, unsigned=unsigned, total=len(items))
    records: list[_Record] = []
    progress = _Progress(len(items), sys.stderr)
    started = time.monotonic()

    def on_outcome(outcome: Outcome) -> None:
        summary.add(outcome)
        record = _record(outcome)
        records.append(record)
        if out_dir is not None:
            _write_report(out_dir, outcome, args)
        if args.format == "json":
            progress.write(msgspec.json.encode(record).decode())
        else:
            where = f" (документ {record.document})" if record.document else ""
            progress.write(f"{record.headline} — {record.signature}{where}")
        progress.update()

    try:
        verify_archive(
            Path(args.archive),
            context,
            items=items,
            workers=args.jobs or None,
            fetch=bool(args.fetch),
            on_outcome=on_outcome,
        )
    except KeyboardInterrupt:
        summary.interrupted = True
    finally:
        progress.close()
    summary.seconds = time.monotonic() - started
    text = summary_text(summary, str(args.archive), workers=args.jobs)
    sys.stdout.write(text)
    sys.stdout.flush()
    if out_dir is not None:
        (out_dir / "summary.txt").write_text(text, encoding="utf-8")
        body = {"archive": str(args.archive), **msgspec.to_builtins(summary), "signatures": records}
        (out_dir / "summary.json").write_bytes(msgspec.json.format(msgspec.json.encode(body), indent=2) + b"\n")
    if summary.interrupted:
        return EXIT_INTERRUPTED
    return EXIT_CODES[summary.tone()]


def _record(outcome: Outcome) -> _Record:
    return _Record(outcome.item.signature, outcome.item.document, outcome.verdict, outcome.headline())


def report_path(out_dir: Path, item: Item, fmt: str) -> Path:
    """``<out_dir>/<signature path>.<ext>``; a name from a ZIP never leaves ``out_dir`` (no ``..``, no root)."""
    parts = [p for p in PurePosixPath(item.signature.replace("\\", "/")).parts if p not in ("", "/", ".", "..")]
    target = out_dir.joinpath(*parts[:-1], f"{parts[-1] if parts else 'подпись'}.{_EXT[fmt]}")
    target.parent.mkdir(parents=True, exist_ok=True)
    return target


def _write_report(out_dir: Path, outcome: Outcome, args: argparse.Namespace) -> None:
    from .report import render_html, render_json, render_text

    item = outcome.item
    label = f"{item.document} ← {item.signature}" if item.document else item.signature
    target = report_path(out_dir, item, args.format)
    if outcome.result is None:
        target.with_suffix(".txt").write_text(f"ПОДПИСЬ НЕ ПРОВЕРЕНА: {outcome.error}\n", encoding="utf-8")
        return
    if args.format == "json":
        target.write_bytes(render_json(outcome.result))
    elif args.format == "html":
        target.write_text(render_html(outcome.result, document=label), encoding="utf-8")
    elif args.format == "pdf":
        target.write_bytes(args.render_pdf([(item.signature, outcome.result)], item.document, [{}]))
    else:
        target.write_text(render_text(outcome.result, document=label), encoding="utf-8")


def summary_text(summary: Summary, archive: str, *, workers: int = 0) -> str:
    title = "ПРОВЕРКА ПРЕРВАНА" if summary.interrupted else _TITLE[summary.tone()]
    lines = [
        f"ИТОГ ПРОВЕРКИ АРХИВА: {title}",
        f"Архив: {archive}",
        f"Подписей проверено: {summary.checked} из {summary.total}"
        + (" (проверка прервана, остальные не проверялись)" if summary.interrupted else ""),
    ]
    lines += [f"  {text}: {summary.counts.get(verdict, 0)}" for verdict, text in VERDICT_TEXT.items()]
    lines.append(f"Файлов без подписи: {len(summary.unsigned)}")
    lines += [f"  {name}" for name in summary.unsigned[:50]]
    if len(summary.unsigned) > 50:
        lines.append(f"  … и ещё {len(summary.unsigned) - 50}")
    rate = summary.checked / summary.seconds if summary.seconds > 0 else 0.0
    lines.append(f"Время: {_ru(summary.seconds)} с ({_ru(rate)} подписей/с)")
    return "\n".join(lines) + "\n"


def _ru(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


class _Progress:
    """tqdm on a terminal; otherwise a plain line every few seconds (logs and CI read those)."""

    def __init__(self, total: int, stream: TextIO) -> None:
        self.total = total
        self.stream = stream
        self.done = 0
        self.started = time.monotonic()
        self.last = self.started
        self.bar: Any = None
        if stream.isatty() and total:
            import tqdm  # type: ignore[import-untyped]  # no stubs; two calls, checked by the tests

            tqdm.tqdm.monitor_interval = 0  # no monitor thread: the pool forks its workers after this
            self.bar = tqdm.tqdm(total=total, file=stream, unit=" подп.", desc="Проверка", dynamic_ncols=True)

    def write(self, line: str) -> None:
        if self.bar is not None:
            self.bar.write(line, file=sys.stdout)
        else:
            sys.stdout.write(line + "\n")

    def update(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
            return
        now = time.monotonic()
        if now - self.last >= _PLAIN_EVERY or self.done == self.total:
            self.last = now
            elapsed = now - self.started
            rate = self.done / elapsed if elapsed > 0 else 0.0
            left = (self.total - self.done) / rate if rate > 0 else 0.0
            percent = 100 * self.done // self.total if self.total else 100
            self.stream.write(
                f"Проверено {self.done} из {self.total} ({percent} %), {_ru(rate)} подписей/с, "
                f"осталось ≈ {_ru(left)} с\n"
            )
            self.stream.flush()

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
