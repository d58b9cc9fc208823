"""Verifying a whole archive: every signature in a folder or a ZIP, on every core.

Why a process pool: an auditor gets thousands of signed documents at once, and one verification is CPU work in
Python (ASN.1, the chain, the GOST arithmetic when the engine is missing) plus hashing the document; threads would
share one core. Each worker builds nothing per document that it can keep: the validation context (trust roots,
CRLs) is made once in the parent and reaches the workers by ``fork``, a network fetcher is made once per worker.

Memory stays flat: the parent lists names only, keeps at most two tasks per worker in flight, and a worker holds
one signature file and streams its document (a file, or a ZIP member read straight from the archive) through
the hash in chunks. Results come back in the order they finish.

Which document a signature belongs to: ``<name>[.<anything>].sig`` / ``.p7s`` is matched to the longest
``<name>`` that is an ordinary file in the same folder (``Договор.pdf.Иванов.sig`` -> ``Договор.pdf``, the
KlikDok package's naming; ``Акт.pdf.sig`` -> ``Акт.pdf``; ``Акт.sig`` -> ``Акт`` or ``Акт.pdf`` when only one
file starts so). A signature with no such file, or a ``.p7m``, is taken as attached: the document is inside it.
"""

from __future__ import annotations

import concurrent.futures as cf
import dataclasses
import multiprocessing
import os
import posixpath
import signal
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Literal

import msgspec

from .asn1 import MAX_INPUT_SIZE, MalformedInput
from .result import VerificationResult
from .validation import ValidationContext

SIGNATURE_SUFFIXES = (".sig", ".p7s", ".sgn")
ATTACHED_SUFFIXES = (".p7m",)
MAX_MEMBER_SIZE = 4 * 1024 * 1024 * 1024  # a ZIP member above this is refused before reading (a ZIP bomb)

Verdict = Literal["valid", "invalid", "indeterminate", "unusable"]
VERDICT_TEXT: dict[Verdict, str] = {
    "valid": "действительна",
    "invalid": "недействительна",
    "indeterminate": "не подтверждена",
    "unusable": "не проверена (файл повреждён или не читается)",
}


class ArchiveError(Exception):
    """The archive itself cannot be read (not a folder or a ZIP, a broken ZIP): one line, exit code 2."""


@dataclasses.dataclass(frozen=True)
class Item:
    """One signature file to check: names are paths inside the archive, with ``/``."""

    signature: str
    document: str | None  # None: attached


class Outcome(msgspec.Struct, frozen=True):
    item: Item
    verdict: Verdict
    result: VerificationResult | None = None
    error: str = ""  # why the file could not be checked (unusable)

    def headline(self) -> str:
        """The verdict as one line, as every report's first line says it."""
        if self.result is None:
            return f"ПОДПИСЬ НЕ ПРОВЕРЕНА: {self.error}"
        from .verdicts import document_headline

        return document_headline(self.result).line


class Summary(msgspec.Struct):
    counts: dict[str, int]
    unsigned: list[str]  # files no signature belongs to
    total: int
    checked: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    def add(self, outcome: Outcome) -> None:
        self.counts[outcome.verdict] = self.counts.get(outcome.verdict, 0) + 1
        self.checked += 1

    def tone(self) -> Literal["valid", "invalid", "indeterminate"]:
        """The worst verdict (a damaged signature file counts as invalid: ETSI's FORMAT_FAILURE)."""
        if self.counts.get("invalid") or self.counts.get("unusable"):
            return "invalid"
        if self.counts.get("indeterminate") or self.interrupted or not self.checked:
            return "indeterminate"
        return "valid"


# ---- reading an archive ---------------------------------------------------------------------------------------


class Reader:
    """Names and streams of a folder or a ZIP; opened again in each worker (a ZIP handle is not shared)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        if path.is_dir():
            self.kind = "folder"
        elif path.is_file() and zipfile.is_zipfile(path):
            self.kind = "zip"
        elif path.exists():
            raise ArchiveError(f"{path}: это не каталог и не ZIP-архив")
        else:
            raise ArchiveError(f"{path}: не найден")

    def names(self) -> list[str]:
        if self.kind == "folder":
            found = []
            for dirpath, dirnames, filenames in os.walk(self.path):
                dirnames.sort()
                rel = Path(dirpath).relative_to(self.path)
                found += [(rel / f).as_posix() for f in sorted(filenames)]
            return found
        try:
            return [i.filename for i in self._zipfile().infolist() if not i.is_dir()]
        except (zipfile.BadZipFile, OSError) as exc:
            raise ArchiveError(f"{self.path}: ZIP-архив повреждён ({exc})") from exc

    def _zipfile(self) -> zipfile.ZipFile:
        if self._zip is None:
            self._zip = zipfile.ZipFile(self.path)
        return self._zip

    def open(self, name: str) -> IO[bytes]:
        if self.kind == "folder":
            return (self.path / name).open("rb")
        info = self._zipfile().getinfo(name)
        if info.file_size > MAX_MEMBER_SIZE:
            raise OSError(f"файл в архиве больше {MAX_MEMBER_SIZE // 2**30} ГБ")
        return self._zipfile().open(info)

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as fh:
            data = fh.read(limit + 1)
        if len(data) > limit:
            raise OSError(f"файл больше {limit // 2**20} МБ")
        return data


def pair(names: list[str]) -> tuple[list[Item], list[str]]:
    """The signatures with their documents, and the files no signature belongs to (see the module's docstring)."""

    def is_sig(name: str) -> bool:
        return name.lower().endswith(SIGNATURE_SUFFIXES + ATTACHED_SUFFIXES)

    documents = {n for n in names if not is_sig(n)}
    by_folder: dict[str, list[str]] = {}
    for d in documents:
        by_folder.setdefault(posixpath.dirname(d), []).append(d)
    items: list[Item] = []
    signed: set[str] = set()
    for name in sorted(n for n in names if is_sig(n)):
        document = None if name.lower().endswith(ATTACHED_SUFFIXES) else _document_of(name, documents, by_folder)
        if document is not None:
            signed.add(document)
        items.append(Item(name, document))
    return items, sorted(documents - signed)


def _document_of(signature: str, documents: set[str], by_folder: dict[str, list[str]]) -> str | None:
    stem = signature.rsplit(".", 1)[0]
    candidate = stem
    while candidate and candidate not in documents:
        if "." not in posixpath.basename(candidate):
            break
        candidate = candidate.rsplit(".", 1)[0]
    if candidate in documents:
        return candidate
    # «Акт.sig» beside a single «Акт.<ext>»: the extension was dropped from the signature's name.
    near = [d for d in by_folder.get(posixpath.dirname(signature), []) if d.rsplit(".", 1)[0] == stem]
    return near[0] if len(near) == 1 else None


# ---- one signature, in a worker ------------------------------------------------------------------------------

_WORKER: dict[str, object] = {}


def _init_worker(path: Path, context: ValidationContext, fetch: bool) -> None:
    if fetch:
        from .fetch import HttpFetcher

        context = dataclasses.replace(context, fetcher=HttpFetcher())
    _WORKER["reader"] = Reader(path)
    _WORKER["context"] = context


def _init_pool_worker(path: Path, context: ValidationContext, fetch: bool) -> None:
    # Ctrl-C reaches the whole process group: the parent decides (it lets running checks finish, starts no more).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _init_worker(path, context, fetch)


def check(item: Item, reader: Reader, context: ValidationContext) -> Outcome:
    """One signature's verdict; never raises for bad input (a broken file is an ``unusable`` outcome)."""
    from .verify import verify_cms, verify_cms_stream

    try:
        cms = reader.read(item.signature, MAX_INPUT_SIZE)
        if item.document is None:
            result = verify_cms(cms, context=context)
        else:
            with reader.open(item.document) as fh:
                result = verify_cms_stream(cms, fh, context=context)
    except MalformedInput as exc:
        return Outcome(item, "unusable", error=str(exc))
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        return Outcome(item, "unusable", error=f"не читается: {getattr(exc, 'strerror', None) or exc}")
    from .verdicts import document_headline

    return Outcome(item, document_headline(result).tone, result=result)


def _check_in_worker(item: Item) -> Outcome:
    reader = _WORKER["reader"]
    context = _WORKER["context"]
    assert isinstance(reader, Reader) and isinstance(context, ValidationContext)
    return check(item, reader, context)


# ---- the whole archive -----------------------------------------------------------------------------------------


def verify_archive(
    path: Path,
    context: ValidationContext,
    *,
    items: list[Item],
    workers: int | None = None,
    fetch: bool = False,
    threads: bool = False,
    on_outcome: Callable[[Outcome], None],
    stop: Callable[[], bool] = lambda: False,
) -> int:
    """Check ``items`` of the archive at ``path`` on ``workers`` processes (every core by default), calling
    ``on_outcome`` in the caller's thread as each finishes. Returns how many were checked; a ``KeyboardInterrupt``
    (or ``stop()``) ends the run after cancelling what had not started, and propagates.

    ``threads``: threads instead of processes, sharing ``context`` (and its fetcher) as it is: for a caller that must
    not fork (the server, whose context holds its revocation cache and database). Hashing, most of the work on real
    documents, runs in OpenSSL without the GIL, so threads still use the cores for it."""
    workers = max(1, workers or os.cpu_count() or 1)
    pool: cf.Executor
    if threads:
        reader = Reader(path)  # a ZIP member is read under zipfile's own lock: one handle serves every thread
        pool = cf.ThreadPoolExecutor(workers, thread_name_prefix="archive-check")

        def submit(item: Item) -> cf.Future[Outcome]:
            return pool.submit(check, item, reader, context)

    elif workers == 1 or len(items) <= 1:
        _init_worker(path, context, fetch)
        done = 0
        for item in items:
            if stop():
                break
            on_outcome(_check_in_worker(item))
            done += 1
        return done
    else:
        # fork: the context (thousands of CA certificates, CRLs) reaches the workers without being pickled.
        pool = cf.ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("fork"),
            initializer=_init_pool_worker,
            initargs=(path, context, fetch),
        )

        def submit(item: Item) -> cf.Future[Outcome]:
            return pool.submit(_check_in_worker, item)

    pending: set[cf.Future[Outcome]] = set()
    queue: Iterator[Item] = iter(items)
    done = 0
    try:
        while True:
            while len(pending) < 2 * workers and not stop():
                following = next(queue, None)
                if following is None:
                    break
                pending.add(submit(following))
            if not pending:
                break
            finished, pending = cf.wait(pending, timeout=0.5, return_when=cf.FIRST_COMPLETED)
            for future in finished:
                on_outcome(future.result())
                done += 1
    finally:
        for future in pending:
            future.cancel()
        pool.shutdown(wait=True, cancel_futures=True)
    return done
