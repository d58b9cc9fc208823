"""The PDFs' Cyrillic font comes from fontconfig; without one the copy is refused in words, never printed as boxes."""

from __future__ import annotations

import pytest
from fpdf import FPDF

from server.paper import PaperError, fonts


@pytest.fixture(autouse=True)
def fresh_lookup() -> None:
    fonts.font_file.cache_clear()


def test_finds_dejavu_sans_regular_and_bold_that_print_cyrillic() -> None:
    regular, bold = fonts.font_file(), fonts.font_file(bold=True)
    assert regular.name == "DejaVuSans.ttf" and bold.name == "DejaVuSans-Bold.ttf"
    pdf = FPDF()
    pdf.add_font("kd", "", str(regular))
    pdf.add_page()
    pdf.set_font("kd", size=12)
    pdf.cell(text="ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ")  # raises on a glyph the font lacks
    assert bytes(pdf.output()).startswith(b"%PDF-")


def test_without_fontconfig_the_error_names_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(PaperError, match="fonts-dejavu-core"):
        fonts.font_file()
