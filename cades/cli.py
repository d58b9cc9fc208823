"""``klikdok hash`` and ``klikdok verify``: offline tools for IT staff and auditors.

:func:`register` adds both subcommands to the main ``klikdok`` parser; :func:`main` runs them alone.
Exit codes of ``verify`` (ETSI EN 319 102-1 verdicts, see :mod:`cades.verdicts`): 0 every signature valid,
1 any invalid, 3 none invalid but some indeterminate (revocation unknown, untrusted CA, no trusted time...),
2 unusable input (one line on stderr, never a traceback). The text report's first line is the headline.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime as dt
import sys
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from asn1crypto import x509

    from .fetch import Fetcher
    from .result import VerificationResult
    from .validation import ValidationContext
    from .verdicts import Headline

__all__ = ["UsageError", "add_verification_options", "main", "register", "verify_signature_files"]

EXIT_VALID, EXIT_INVALID, EXIT_UNUSABLE, EXIT_INDETERMINATE = 0, 1, 2, 3
VERIFY_EXIT_HELP = (
    "Коды выхода: 0 — все подписи действительны; 1 — есть недействительная подпись; "
    "3 — действительность не подтверждена (статус отзыва неизвестен, недоверенный УЦ, нет доверенного времени "
    "и т. п.); 2 — неверные входные данные. С --poa итог учитывает и проверку МЧД: недействительная МЧД — 1, "
    "не подтверждённая (например, статус в реестре ФНС не проверен) — 3."
)


class UsageError(Exception):
    """Bad command-line input: printed as one line, exit code 2."""


if TYPE_CHECKING:  # issue 18: the МЧД verdicts (--poa) shown beside the signatures
    from .poa import PoaVerdict


StoreAnchors = Callable[[argparse.Namespace], Sequence["x509.Certificate"]]
# (signature file, its result) for every signature file, the document's path (None: attached signatures) and, per
# signature file, the МЧД verdicts by signature index (--poa; empty dicts without it) -> the verification protocol
# as PDF. A ValueError is a refusal in words (printed as one line, exit code 2).
PdfRenderer = Callable[
    [Sequence[tuple[str, "VerificationResult"]], "str | None", Sequence[Mapping[int, "PoaVerdict"]]], bytes
]
PDF_TO_TERMINAL = (
    "PDF не выводится в терминал: укажите файл протокола, например -o протокол.pdf, или перенаправьте вывод в файл"
)


def register(
    subparsers: Any, *, store_anchors: StoreAnchors | None = None, render_pdf: PdfRenderer | None = None
) -> None:
    """Add ``hash`` and ``verify`` to an ``argparse`` subparsers object; each sets ``func(args) -> int``.

    ``store_anchors`` is how the ``klikdok`` server command lends ``verify`` its trust store (the list of
    accredited CAs and the admin's roots) without this library knowing where the store lives; ``render_pdf``
    is how it lends the PDF protocol (``--format pdf``): drawing PDFs is the server's (server.paper), and this
    library imports nothing of it.
    """
    p_hash = subparsers.add_parser(
        "hash",
        help="хэш ГОСТ Р 34.11-2012 файлов (как gost12sum)",
        description="Печатает «<hex> <файл>» как gost12sum.",
    )
    p_hash.add_argument("--bits", type=int, choices=(256, 512), default=256, help="длина хэша (по умолчанию 256)")
    p_hash.add_argument("files", nargs="+", metavar="FILE")
    p_hash.set_defaults(func=cmd_hash)

    p_verify = subparsers.add_parser(
        "verify",
        help="проверить электронную подпись (CMS/CAdES)",
        description="Проверяет подписи CMS/CAdES документа. Первая строка отчёта — итог проверки. " + VERIFY_EXIT_HELP,
    )
    p_verify.add_argument("paths", nargs="*", metavar="DOCUMENT SIGNATURE", help="документ и файлы подписей")
    p_verify.add_argument("--attached", action="append", default=[], metavar="SIGNATURE",
                          help="присоединённая подпись (документ внутри)")  # fmt: skip
    p_verify.add_argument("--archive", metavar="PATH",
                          help="проверить все подписи каталога или ZIP-архива (пакет KlikDok или файлы "
                          "с .sig/.p7s рядом с документами) на всех ядрах; с -o КАТАЛОГ — отчёт по каждой "
                          "подписи и итог")  # fmt: skip
    p_verify.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                          help="с --archive: число процессов проверки (по умолчанию — по числу ядер)")  # fmt: skip
    add_verification_options(p_verify)
    formats = ("text", "json", "html", "pdf") if render_pdf is not None else ("text", "json", "html")
    format_help = "вид отчёта: " + ", ".join(formats) + " (по умолчанию text)"
    if render_pdf is not None:
        format_help += "; pdf — протокол проверки электронной подписи, в файл (-o) или в перенаправленный вывод"
    p_verify.add_argument("--format", choices=formats, default="text", help=format_help)
    p_verify.add_argument("-o", "--output", metavar="FILE", help="записать отчёт в файл")
    from .poa.cli import add_poa_options

    add_poa_options(p_verify)
    if store_anchors is not None:
        p_verify.add_argument("--no-store", action="store_true",
                              help="не брать доверенные сертификаты из хранилища сервера (klikdok trust)")  # fmt: skip
    p_verify.set_defaults(func=cmd_verify, store_anchors=store_anchors, render_pdf=render_pdf)


# Commands import their modules inside the function so that `klikdok-verify --help` and `hash` start fast.

# --- hash ---------------------------------------------------------------------------------------------


def cmd_hash(args: argparse.Namespace) -> int:
    """Print digests exactly as gost12sum does; unreadable files are reported and skipped (exit 1)."""
    from . import hashing

    name = "streebog512" if args.bits == 512 else "streebog256"
    status = 0
    for file in args.files:
        try:
            if file == "-":
                h = hashing.new(name)
                while chunk := sys.stdin.buffer.read(1024 * 1024):
                    h.update(chunk)
                value = h.digest()
            else:
                value = hashing.hash_file(file, name)
        except OSError as exc:
            print(f"{file}: {exc.strerror or exc}", file=sys.stderr)
            status = 1
            continue
        sys.stdout.write(f"{value.hex()} {file}\n")
    sys.stdout.flush()
    return status


# --- verify -------------------------------------------------------------------------------------------


def add_verification_options(parser: argparse.ArgumentParser) -> None:
    """The options that say how to verify (trust, CRLs, network, grace, moment): ``verify`` and ``klikdok stamp``
    take the same ones, read by :func:`verify_signature_files`."""
    parser.add_argument("--trust", action="append", default=[], metavar="PATH",
                        help="доверенные корневые сертификаты (файл или каталог)")  # fmt: skip
    parser.add_argument("--intermediate", action="append", default=[], metavar="PATH",
                        help="промежуточные сертификаты (файл или каталог)")  # fmt: skip
    parser.add_argument("--crl", action="append", default=[], metavar="PATH", help="списки отзыва (CRL)")
    parser.add_argument("--fetch", "--fetch-crls", dest="fetch", action="store_true",
                        help="обращаться в сеть: OCSP, списки отзыва (CRL) и сертификаты издателей "
                        "по адресам из сертификатов")  # fmt: skip
    parser.add_argument("--grace", type=_minutes, default=0, metavar="MINUTES",
                        help="период ожидания публикации отзыва после времени подписания, минут")  # fmt: skip
    parser.add_argument("--at", metavar="ISO-TIME", help="момент проверки, например 2025-01-31T12:00:00+03:00")


def verify_signature_files(
    args: argparse.Namespace, document: str | None, signatures: Sequence[str]
) -> list[tuple[str, VerificationResult]]:
    """Each signature file's result against ``document`` (None: attached), with the context the options of
    :func:`add_verification_options` describe plus the lent store anchors (``args.store_anchors`` unless
    ``--no-store``). Raises :class:`UsageError` (one line, exit code 2) for input that cannot be checked."""
    from .asn1 import MalformedInput
    from .fetch import HttpFetcher
    from .verify import verify_cms_file

    with ExitStack() as stack:
        fetcher = stack.enter_context(HttpFetcher()) if args.fetch else None
        context = validation_context(args, fetcher)
        results: list[tuple[str, VerificationResult]] = []
        for sig_path in signatures:
            _read(sig_path, "подпись")  # a clear message for a missing file before any parsing
            try:
                result = verify_cms_file(sig_path, document, context=context)
            except MalformedInput as exc:
                raise UsageError(f"подпись {sig_path}: {exc}") from exc
            results.append((sig_path, result))
    return results


def validation_context(args: argparse.Namespace, fetcher: Fetcher | None) -> ValidationContext:
    """The context the options of :func:`add_verification_options` describe, plus the lent store anchors
    (``args.store_anchors`` unless ``--no-store``). Raises :class:`UsageError` for unreadable trust material."""
    from .asn1 import MalformedInput
    from .validation import ValidationContext

    try:
        context = ValidationContext.from_paths(
            args.trust,
            intermediates=args.intermediate,
            crls=args.crl,
            at=_parse_time(args.at) if args.at else None,
            fetcher=fetcher,
            grace=dt.timedelta(minutes=args.grace),
        )
    except OSError as exc:
        raise UsageError(f"{getattr(exc, 'filename', '') or ''}: {exc.strerror or exc}") from exc
    except (ValueError, MalformedInput) as exc:
        raise UsageError(str(exc)) from exc
    store_anchors: StoreAnchors | None = getattr(args, "store_anchors", None)
    if store_anchors is not None and not getattr(args, "no_store", False):
        extra = tuple(store_anchors(args))
        if extra:
            context = dataclasses.replace(context, trust_roots=(*context.trust_roots, *extra))
    return context


def _parse_time(text: str) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise UsageError(f"неверное время --at: {text!r} (нужен формат ISO 8601)") from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)  # an auditor's bare time is taken as UTC, and said so in reports
    return value


def _minutes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"нужно целое число минут, а не {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("период ожидания не может быть отрицательным")
    return value


def _read(path: str, what: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: файл не найден") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: {exc.strerror or exc}") from exc


def cmd_verify(args: argparse.Namespace) -> int:
    from .asn1 import MalformedInput
    from .report import render_html, render_json, render_text
    from .verdicts import exit_code

    if args.archive:
        from .archive import ArchiveError
        from .archive_cli import run_archive

        try:
            if args.attached or args.paths:
                raise UsageError("с --archive документ и подписи не указываются")
            # A network fetcher, if asked for, is made in each worker process.
            return run_archive(args, validation_context(args, None))
        except (UsageError, ArchiveError) as exc:
            print(f"klikdok verify: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    try:
        if args.format == "pdf" and not args.output and sys.stdout.isatty():
            raise UsageError(PDF_TO_TERMINAL)
        if args.attached:
            if args.paths:
                raise UsageError("с --attached документ и подписи позиционно не указываются")
            document = None
            signatures = list(args.attached)
        else:
            if len(args.paths) < 2:
                raise UsageError("нужны DOCUMENT и хотя бы одна SIGNATURE (или --attached SIGNATURE)")
            document, signatures = args.paths[0], args.paths[1:]
            if not Path(document).is_file():
                raise UsageError(f"документ {document}: файл не найден")
        results = verify_signature_files(args, document, signatures)
        poas: list[dict[int, PoaVerdict]] = [{} for _ in results]
        if getattr(args, "poa", None):
            from .fetch import HttpFetcher
            from .poa.cli import PoaInputError, poa_verdicts

            try:
                with ExitStack() as stack:
                    fetcher = stack.enter_context(HttpFetcher()) if args.fetch else None
                    poas = poa_verdicts(args, results, validation_context(args, fetcher))
            except PoaInputError as exc:
                raise UsageError(str(exc)) from exc
    except (UsageError, MalformedInput) as exc:
        print(f"klikdok verify: {exc}", file=sys.stderr)
        return EXIT_UNUSABLE

    doc_label = document or ", ".join(signatures)
    if args.format == "json":
        import msgspec

        from .report import report_builtins

        if len(results) == 1:
            out = render_json(results[0][1], poas=poas[0])
        else:
            files = [
                {"signature_file": p, "result": report_builtins(r, poas=pv)}
                for (p, r), pv in zip(results, poas, strict=True)
            ]
            out = (
                msgspec.json.format(
                    msgspec.json.encode(files),
                    indent=2,
                )
                + b"\n"
            )
    elif args.format == "pdf":
        render_pdf: PdfRenderer = args.render_pdf
        try:
            out = render_pdf(results, document, poas)
        except ValueError as exc:
            print(f"klikdok verify: {exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    elif args.format == "html":
        firsts = _first_numbers([r for _, r in results])
        out = "".join(
            render_html(r, document=f"{doc_label} ← {p}", first_number=n, poas=pv)
            for (p, r), n, pv in zip(results, firsts, poas, strict=True)
        ).encode()
        if len(results) > 1:
            out = _merge_html(out.decode()).encode()
    else:
        firsts = _first_numbers([r for _, r in results])
        text = "\n".join(
            (f"Файл подписи: {p}\n" if len(results) > 1 else "")
            + render_text(r, document=doc_label, first_number=n, poas=pv)
            for (p, r), n, pv in zip(results, firsts, poas, strict=True)
        )
        if len(results) > 1:
            text = _overall([r for _, r in results]).line + "\n\n" + text
        out = text.encode()
    if args.output:
        try:
            Path(args.output).write_bytes(out)
        except OSError as exc:
            print(f"klikdok verify: {args.output}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_UNUSABLE
    else:
        sys.stdout.buffer.write(out)
        sys.stdout.flush()
    return _with_poas(exit_code(_overall([r for _, r in results])), poas)


def _with_poas(code: int, poas: Sequence[dict[int, PoaVerdict]]) -> int:
    """The exit code with the МЧД verdicts counted: an invalid МЧД makes it 1, an undecided one at least 3."""
    from .poa.cli import poa_exit_status

    status = poa_exit_status(poas)
    if code == EXIT_INVALID or status == "invalid":
        return EXIT_INVALID
    if code == EXIT_INDETERMINATE or status == "indeterminate":
        return EXIT_INDETERMINATE
    return code


def _first_numbers(results: list[VerificationResult]) -> list[int]:
    """The number of each signature file's first signature: signatures are numbered №1..N across all the files
    given (a CMS with two SignerInfos holds two), as in the PDF protocol, never «№ 1» again for the next file."""
    firsts, n = [], 1
    for result in results:
        firsts.append(n)
        n += len(result.signatures)
    return firsts


def _overall(results: list[VerificationResult]) -> Headline:
    """The headline over several signature files: the worst file's (invalid before undecided before valid)."""
    from .verdicts import document_headline

    heads = [document_headline(r) for r in results]
    rank = {"valid": 0, "indeterminate": 1, "invalid": 2}
    return max(heads, key=lambda h: rank[h.tone])


def _merge_html(pages: str) -> str:
    """Several reports in one printable file: keep the first head, join the bodies."""
    parts = pages.split("<!DOCTYPE html>")
    bodies = [p.split("<body>", 1)[1].rsplit("</body>", 1)[0] for p in parts if "<body>" in p]
    head = parts[1].split("<body>", 1)[0]
    return (
        "<!DOCTYPE html>"
        + head
        + "<body>"
        + '<hr style="page-break-after: always">'.join(bodies)
        + "</body>\n</html>\n"
    )


# --- standalone ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``hash``/``verify`` without the rest of the klikdok CLI (tests, and before it is wired)."""
    parser = argparse.ArgumentParser(prog="klikdok")
    subparsers = parser.add_subparsers(dest="command", required=True)
    register(subparsers)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed its one-line usage error
        return EXIT_UNUSABLE if exc.code not in (0, None) else 0
    return int(args.func(args))


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
