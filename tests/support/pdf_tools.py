"""Reading PDFs back the way a person does, with tools that are not ours: poppler (pdftotext, pdftoppm) for the
words and where they are, zbar (zbarimg) for a QR code on the rendered page, pypdf for text and raw streams."""

from __future__ import annotations

import html
import io
import re
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from pypdf import PdfReader
from pypdf.generic import ArrayObject, IndirectObject


@dataclass(frozen=True)
class Word:
    """A word on a page as poppler places it: points from the displayed page's top-left corner (y down)."""

    text: str
    x0: float
    y0: float
    x1: float
    y1: float

    def overlaps(self, other: Word | tuple[float, float, float, float], slack: float = 0.0) -> bool:
        x0, y0, x1, y1 = (other.x0, other.y0, other.x1, other.y1) if isinstance(other, Word) else other
        return self.x0 < x1 - slack and x0 < self.x1 - slack and self.y0 < y1 - slack and y0 < self.y1 - slack


_WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">(.*?)</word>')
_PAGE = re.compile(r'<page width="([\d.]+)" height="([\d.]+)">')


def _run(*args: str, data: bytes | None = None) -> bytes:
    done = subprocess.run(list(args), input=data, capture_output=True, check=False, timeout=60)
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.decode(errors='replace')}")
    return done.stdout


def words(pdf: bytes, page: int) -> tuple[tuple[float, float], list[Word]]:
    """((width, height), words) of the 1-based ``page`` by ``pdftotext -cropbox -bbox``: the words' places are on
    the page as shown (the CropBox, turned by /Rotate), the size is the CropBox's unturned."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(pdf)
        out = _run("pdftotext", "-cropbox", "-bbox", "-f", str(page), "-l", str(page), str(path), "-").decode()
    size = _PAGE.search(out)
    assert size is not None, out[:500]
    found = [
        Word(html.unescape(m.group(5)), float(m.group(1)), float(m.group(2)), float(m.group(3)), float(m.group(4)))
        for m in _WORD.finditer(out)
    ]
    return (float(size.group(1)), float(size.group(2))), found


def render(pdf: bytes, page: int, dpi: int = 150) -> bytes:
    """The 1-based ``page`` as a PNG, rendered by poppler (``pdftoppm -r dpi -png``)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "in.pdf"
        path.write_bytes(pdf)
        _run("pdftoppm", "-r", str(dpi), "-png", "-f", str(page), "-l", str(page), "-singlefile", str(path),
             str(Path(folder) / "page"))  # fmt: skip
        return (Path(folder) / "page.png").read_bytes()


def qr_codes(pdf: bytes, page: int, dpi: int = 150) -> list[str]:
    """Every QR code zbar reads on the page rendered at ``dpi`` (nothing found is an empty list)."""
    with tempfile.TemporaryDirectory() as folder:
        image = Path(folder) / "page.png"
        image.write_bytes(render(pdf, page, dpi))
        done = subprocess.run(
            ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(image)],
            capture_output=True,
            check=False,
            timeout=60,
        )
    if done.returncode == 4:  # zbar: no symbol found
        return []
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return [line for line in done.stdout.decode().splitlines() if line]


def flat(text: str) -> str:
    """Text with every run of white space (line breaks of the layout included) made one space."""
    return " ".join(text.split())


def page_text(pdf: bytes, page: int) -> str:
    """pypdf's text of the 1-based ``page``, flattened."""
    return flat(PdfReader(io.BytesIO(pdf)).pages[page - 1].extract_text())


def content_streams(pdf: bytes) -> list[list[tuple[int, bytes]]]:
    """For each page, its content streams as (object number, raw stream bytes as stored, filters not undone)."""
    reader = PdfReader(io.BytesIO(pdf))
    pages = []
    for page in reader.pages:
        raw = page.raw_get("/Contents") if "/Contents" in page else None
        refs = []
        if isinstance(raw, IndirectObject) and isinstance(raw.get_object(), ArrayObject):
            refs = list(raw.get_object())
        elif isinstance(raw, IndirectObject):
            refs = [raw]
        elif isinstance(raw, ArrayObject):
            refs = list(raw)
        pages.append([(ref.idnum, ref.get_object()._data) for ref in refs])
    return pages


def assert_cross_references_sound(pdf: bytes) -> None:
    """The file reads in pypdf's strict mode (a wrong startxref or /Prev is an error there, where poppler quietly
    rebuilds the table), and every object the merged cross-reference tables place in the file is where they say:
    ``N G obj`` at that offset."""
    reader = PdfReader(io.BytesIO(pdf), strict=True)
    # As read from the tables, before any object is loaded (loading one repairs a wrong offset it meets).
    tables = {generation: dict(entries) for generation, entries in reader.xref.items()}
    assert tables, "no cross-reference entries"
    for generation, entries in tables.items():
        for number, offset in entries.items():
            head = pdf[offset : offset + 40]
            assert re.match(rb"\s*%d\s+%d\s+obj" % (number, generation), head), (number, generation, offset, head)
    _ = reader.pages[-1]
