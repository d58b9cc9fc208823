"""The stamped copy («копия с отметками об электронной подписи») and the signing sheet («лист подписания»).
CONTRACT (issue 16): signatures fixed; built by the stamp part.

A PDF original gets the marks in a free area at the bottom of its last page, or on an added page when that is
not free, written as an incremental update after the original bytes: the original file and its pages are never
changed. Any other original (DOCX, XLSX, images...) gets a signing sheet PDF that names the file with its GOST
digest and carries the same marks. Every copy has a QR code of ``verify_url``.
"""

from __future__ import annotations

from collections.abc import Sequence

from cades.verdicts import TimeText

from .marks import SignatureMark


def is_pdf(data: bytes) -> bool:
    """Whether the original is a PDF (by its bytes, not its name)."""
    raise NotImplementedError("issue 16 contract")


def copy_name(file_name: str, *, pdf: bool) -> str:
    """The file name of the copy of ``file_name``: its stamped copy or its signing sheet, always ``.pdf``."""
    raise NotImplementedError("issue 16 contract")


def stamp_pdf(original: bytes, marks: Sequence[SignatureMark], *, verify_url: str, time_text: TimeText) -> bytes:
    """The original PDF with the marks and the QR code added; raises PaperError for an encrypted or broken PDF."""
    raise NotImplementedError("issue 16 contract")


def signing_sheet(
    file_name: str, streebog256: str, marks: Sequence[SignatureMark], *, verify_url: str, time_text: TimeText
) -> bytes:
    """A «лист подписания» PDF for a non-PDF original: its name, its GOST R 34.11-2012 digest, the marks."""
    raise NotImplementedError("issue 16 contract")


def stamped_copy(
    file_name: str,
    data: bytes,
    streebog256: str,
    marks: Sequence[SignatureMark],
    *,
    verify_url: str,
    time_text: TimeText,
) -> tuple[str, bytes]:
    """(copy's file name, PDF): the stamped PDF for a PDF original, else its signing sheet."""
    raise NotImplementedError("issue 16 contract")
