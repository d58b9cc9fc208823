"""Request bodies that carry files, read as a stream: every file goes to a temporary file while it is hashed.

Litestar's ``request.form()`` and ``request.body()`` collect the whole body before the handler can look at it,
so a size check made afterwards comes too late: one 900 MB upload held the server at almost a gigabyte. Here the
body is parsed as it arrives (``multipart``'s push parser, the one Litestar itself uses), each file part is
written to a private temporary file under ``<data_dir>/uploads`` and fed to Streebog-256/512 on the way, and
the request is refused the moment a file passes its limit or the body passes the request's total: nothing
more is read, the temporary files are removed, and the caller answers 413. Memory stays at a few chunks
whatever the client sends.

Use :func:`receive_form` (multipart) or :func:`receive_body` (a raw body) as ``async with``: the temporary
files live until the block ends, whatever happens inside it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from litestar import Request
from multipart import MultipartError, MultipartSegment, PushMultipartParser  # type: ignore[import-untyped]  # multipart ships no type information

from cades import hashing

# Hashing and writing happen off the event loop in pieces of this size: large enough that the thread hop is
# cheap, small enough that memory does not notice.
FLUSH_BYTES = 1024 * 1024
MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 200
SPOOL_DIR = "uploads"


class UploadRefused(Exception):
    """The body is refused (``code``: too large, or not a form); ``message`` is for the person who sent it."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Limits:
    """What one request may carry, and how to say it when it does not fit."""

    file_bytes: int
    total_bytes: int
    file_too_large: Callable[[str], str]
    total_too_large: str


@dataclass
class ReceivedFile:
    """One file of the request, on disk; its digests were computed while it arrived."""

    field: str
    filename: str
    content_type: str
    path: Path
    size: int = 0
    streebog256: str = ""
    streebog512: str = ""

    def read_bytes(self) -> bytes:
        """For small files (signatures) whose size the limits already bound."""
        return self.path.read_bytes()


@dataclass
class ReceivedForm:
    fields: dict[str, list[str]] = field(default_factory=dict)
    files: list[ReceivedFile] = field(default_factory=list)

    def get(self, name: str, default: str = "") -> str:
        values = self.fields.get(name)
        return values[0] if values else default


def spool_dir(data_dir: Path) -> Path:
    return data_dir / SPOOL_DIR


def sweep(data_dir: Path) -> int:
    """Remove what a killed server left in the spool (at start-up, before any request); how many files."""
    root = spool_dir(data_dir)
    if not root.is_dir():
        return 0
    removed = 0
    for entry in root.iterdir():
        if entry.is_file():
            entry.unlink(missing_ok=True)
            removed += 1
    return removed


class _Sink:
    """A temporary file plus its running digests; data is buffered and flushed in a worker thread."""

    def __init__(self, handle: BinaryIO, path: Path) -> None:
        self.handle = handle
        self.path = path
        self.size = 0
        self.buffer = bytearray()
        self.h256 = hashing.new("streebog256")
        self.h512 = hashing.new("streebog512")

    def _write(self, data: bytes) -> None:
        self.handle.write(data)
        self.h256.update(data)
        self.h512.update(data)

    async def add(self, data: bytes) -> None:
        self.size += len(data)
        self.buffer += data
        if len(self.buffer) >= FLUSH_BYTES:
            await self.flush()

    async def flush(self) -> None:
        if self.buffer:
            data, self.buffer = bytes(self.buffer), bytearray()
            await asyncio.to_thread(self._write, data)

    async def finish(self, received: ReceivedFile) -> None:
        await self.flush()
        await asyncio.to_thread(self.handle.close)
        received.size = self.size
        received.streebog256 = self.h256.hexdigest()
        received.streebog512 = self.h512.hexdigest()


class _Spool:
    """Every temporary file of one request, removed together."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.paths: list[Path] = []

    def open(self) -> tuple[BinaryIO, Path]:
        self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, name = tempfile.mkstemp(dir=self.root, prefix="up-", suffix=".part")
        path = Path(name)
        self.paths.append(path)
        return os.fdopen(fd, "wb"), path

    def remove(self) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)


def _announced_too_large(request: Request, limits: Limits) -> None:
    raw = request.headers.get("content-length")
    if raw and raw.strip().isdigit() and int(raw) > limits.total_bytes:
        raise UploadRefused("too_large", limits.total_too_large)


@contextlib.asynccontextmanager
async def receive_form(request: Request[Any, Any, Any], data_dir: Path, limits: Limits) -> AsyncIterator[ReceivedForm]:
    """A ``multipart/form-data`` body: text fields in memory (bounded), file parts in temporary files."""
    ctype, options = request.content_type
    if ctype != "multipart/form-data" or not options.get("boundary"):
        raise UploadRefused("bad_form", "Ожидалась форма с файлами (multipart/form-data).")
    _announced_too_large(request, limits)
    spool = _Spool(spool_dir(data_dir))
    form = ReceivedForm()
    try:
        await _parse(request, options["boundary"], spool, form, limits)
        yield form
    finally:
        spool.remove()


async def _parse(
    request: Request[Any, Any, Any], boundary: str, spool: _Spool, form: ReceivedForm, limits: Limits
) -> None:
    total = 0
    segment: MultipartSegment | None = None
    sink: _Sink | None = None
    current: ReceivedFile | None = None
    text = bytearray()
    try:
        with PushMultipartParser(boundary, max_segment_count=MAX_PARTS) as parser:
            async for chunk in request.stream():
                total += len(chunk)
                if total > limits.total_bytes:
                    raise UploadRefused("too_large", limits.total_too_large)
                for event in parser.parse(chunk):
                    if isinstance(event, MultipartSegment):
                        segment, text = event, bytearray()
                        if event.filename:  # a part without a file name is a text field (as browsers mean it)
                            handle, path = spool.open()
                            sink = _Sink(handle, path)
                            current = ReceivedFile(
                                field=event.name,
                                filename=event.filename,
                                content_type=event.content_type or "",
                                path=path,
                            )
                    elif event:
                        if sink is not None and current is not None:
                            if sink.size + len(event) > limits.file_bytes:
                                raise UploadRefused("too_large", limits.file_too_large(current.filename))
                            await sink.add(event)
                        else:
                            text += event
                            if len(text) > MAX_FIELD_BYTES:
                                raise UploadRefused("field_too_large", "Слишком длинное значение поля формы.")
                    else:
                        assert segment is not None
                        if sink is not None and current is not None:
                            await sink.finish(current)
                            form.files.append(current)
                        else:
                            form.fields.setdefault(segment.name, []).append(
                                text.decode(segment.charset or "utf-8", errors="replace")
                            )
                        segment, sink, current = None, None, None
                if parser.closed:
                    break
    except MultipartError:
        raise UploadRefused(
            "bad_form", "Не удалось прочитать отправленную форму: она повреждена или оборвалась."
        ) from None
    finally:
        if sink is not None:
            await asyncio.to_thread(sink.handle.close)


@contextlib.asynccontextmanager
async def receive_body(
    request: Request[Any, Any, Any], data_dir: Path, limits: Limits, *, name: str = "body"
) -> AsyncIterator[ReceivedFile]:
    """A raw body (one file), spooled and hashed the same way."""
    _announced_too_large(request, limits)
    limit = min(limits.file_bytes, limits.total_bytes)
    spool = _Spool(spool_dir(data_dir))
    handle, path = spool.open()
    sink = _Sink(handle, path)
    received = ReceivedFile(field=name, filename=name, content_type=request.headers.get("content-type", ""), path=path)
    try:
        try:
            async for chunk in request.stream():
                if sink.size + len(chunk) > limit:
                    raise UploadRefused(
                        "too_large",
                        limits.file_too_large(name) if limit == limits.file_bytes else limits.total_too_large,
                    )
                await sink.add(chunk)
            await sink.finish(received)
        finally:
            if not handle.closed:
                await asyncio.to_thread(handle.close)
        yield received
    finally:
        spool.remove()
