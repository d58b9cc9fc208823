"""PDF originals for the paper tests, drawn by fpdf2 at test time (nothing here is a fixture file): the shapes a
stamped copy has to cope with — a short last page, a full one, many pages, a turned and cropped page, an image,
a footer, an original whose last update uses a cross-reference stream."""

from __future__ import annotations

import io

from fpdf import FPDF
from PIL import Image
from pypdf import PdfReader, PdfWriter
from pypdf.generic import ArrayObject, FloatObject, NameObject

from server.paper.fonts import font_file

LINE = "Стороны договорились о нижеследующем: поставщик передаёт товар, покупатель принимает и оплачивает его."


def _pdf() -> FPDF:
    pdf = FPDF(unit="mm")
    pdf.set_auto_page_break(False)
    pdf.add_font("body", "", str(font_file()))
    pdf.set_font("body", size=11)
    return pdf


def _lines(pdf: FPDF, first: float, last: float, step: float = 6.0, x: float = 20.0, text: str = LINE) -> None:
    y = first
    n = 1
    while y <= last:
        pdf.text(x, y, f"{n}. {text}"[:95])
        y += step
        n += 1


def short(pages: int = 1) -> bytes:
    """``pages`` A4 pages of text; the last one ends high (a heading and five lines)."""
    pdf = _pdf()
    for number in range(1, pages + 1):
        pdf.add_page()
        pdf.text(20, 20, f"ДОГОВОР ПОСТАВКИ № 17, страница {number}")
        _lines(pdf, 30, 60 if number == pages else 280)
    return bytes(pdf.output())


def full() -> bytes:
    """One A4 page with text down to 285 mm: no room for the marks under it."""
    pdf = _pdf()
    pdf.add_page()
    _lines(pdf, 20, 285)
    return bytes(pdf.output())


def footer() -> bytes:
    """Body text at the top and a page number 10 mm above the bottom edge, as word processors print them."""
    pdf = _pdf()
    pdf.add_page()
    _lines(pdf, 20, 90)
    pdf.set_font("body", size=9)
    pdf.text(95, 287, "Страница 1 из 1")
    return bytes(pdf.output())


def picture(width: int = 300, height: int = 120) -> Image.Image:
    image = Image.new("RGB", (width, height))
    image.putdata([((x * 255) // width, (y * 255) // height, 120) for y in range(height) for x in range(width)])
    return image


def with_image(top: float, height: float) -> bytes:
    """Text at the top and an image (a colour gradient, no text in it) from ``top`` mm, ``height`` mm tall."""
    pdf = _pdf()
    pdf.add_page()
    _lines(pdf, 20, 45)
    pdf.image(picture(), x=20, y=top, w=170, h=height)
    return bytes(pdf.output())


def turned(rotation: int = 90) -> bytes:
    """A portrait page shown turned (/Rotate ``rotation``) with a CropBox inset from a MediaBox that does not start at
    the origin: its short lines run in the part of the page shown at the top (or, at 180, shown upside down)."""
    pdf = _pdf()
    pdf.add_page()
    for n in range(25):
        if rotation in (90, 270):
            x = 25 if rotation == 90 else 150
            pdf.text(x, 20 + n * 10, f"Строка {n + 1} повёрнутой страницы")
        elif n < 6:
            pdf.text(25, 280 - n * 8, f"Строка {n + 1} повёрнутой страницы")
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(bytes(pdf.output()))))
    page = writer.pages[0]
    page.rotation = rotation
    page[NameObject("/MediaBox")] = ArrayObject([FloatObject(v) for v in (-20, -10, 595.28, 841.89)])
    page[NameObject("/CropBox")] = ArrayObject([FloatObject(v) for v in (30, 40, 565, 800)])
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def xref_stream() -> bytes:
    """A short original whose last update (pypdf's incremental writer: new metadata) ends in a cross-reference
    stream, as many producers' files do."""
    writer = PdfWriter(PdfReader(io.BytesIO(short())), incremental=True)
    writer.add_metadata({"/Title": "Договор поставки"})
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def encrypted() -> bytes:
    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(short())))
    writer.encrypt(user_password="секрет", owner_password="владелец", algorithm="RC4-128")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def png() -> bytes:
    out = io.BytesIO()
    picture().save(out, format="PNG")
    return out.getvalue()


def docx() -> bytes:
    """A minimal Office Open XML package (a ZIP): what matters is that it is not a PDF."""
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as package:
        package.writestr("[Content_Types].xml", '<?xml version="1.0"?><Types/>')
        package.writestr("word/document.xml", "<w:document>Акт сверки</w:document>")
    return out.getvalue()


def in_a_form() -> bytes:
    """A short page whose whole content sits in a Form XObject with a full-page /BBox (as imposition and merging
    tools write pages): the free area is found inside the form, not assumed gone."""
    from pypdf.generic import DecodedStreamObject, DictionaryObject

    writer = PdfWriter(clone_from=PdfReader(io.BytesIO(short())))
    page = writer.pages[0]
    form = DecodedStreamObject()
    contents = page.get_contents()
    assert contents is not None
    form.set_data(contents.get_data())
    form.update(
        {
            NameObject("/Type"): NameObject("/XObject"),
            NameObject("/Subtype"): NameObject("/Form"),
            NameObject("/BBox"): ArrayObject([FloatObject(v) for v in page.mediabox]),
            NameObject("/Resources"): page["/Resources"],
        }
    )
    body = DecodedStreamObject()
    body.set_data(b"q 1 0 0 1 0 0 cm /Page0 Do Q\n")
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/XObject"): DictionaryObject({NameObject("/Page0"): writer._add_object(form)})}
    )
    page[NameObject("/Contents")] = writer._add_object(body)
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def drawing_at(top: float) -> bytes:
    """Text at the top and a stroked vector frame (no text, no image) from ``top`` mm down to 200 mm."""
    pdf = _pdf()
    pdf.add_page()
    _lines(pdf, 20, 45)
    pdf.set_line_width(0.8)
    pdf.rect(20, top, 170, 200 - top, style="D")
    return bytes(pdf.output())


def annotated_at_bottom() -> bytes:
    """Short text and a visible note (a FreeText annotation) near the bottom edge: annotations are shown content."""
    pdf = _pdf()
    pdf.add_page()
    _lines(pdf, 20, 45)
    pdf.free_text_annotation("Согласовано юристом", x=20, y=262, w=120, h=20)
    return bytes(pdf.output())


def receipt(lines_to: float) -> bytes:
    """A till receipt: 80 mm wide, 250 mm long, short lines of text down to ``lines_to`` mm."""
    pdf = FPDF(unit="mm", format=(80, 250))
    pdf.set_auto_page_break(False)
    pdf.add_font("body", "", str(font_file()))
    pdf.set_font("body", size=8)
    pdf.add_page()
    _lines(pdf, 10, lines_to, step=4.0, x=5.0, text="Товар, 1 шт. — 100,00 ₽")
    return bytes(pdf.output())
