"""The Cyrillic TrueType font of every PDF, found through fontconfig (never downloaded at run time).

fpdf2 embeds a subset of the file it is given, so a copy prints the same on any computer. DejaVu Sans (Debian's
fonts-dejavu-core, a dependency of the package) is asked for first; any other sans font fontconfig picks for
Russian text will do where it is missing, but a font without Cyrillic never (the marks would print as boxes).
"""

from __future__ import annotations

import functools
import io
import shutil
import subprocess
from pathlib import Path
from typing import Final

from . import PaperError

# fontconfig patterns, best first: the packaged font, then whatever covers Russian.
PATTERNS: Final = ("DejaVu Sans:style={style}", "sans-serif:lang=ru:style={style}")
MISSING: Final = (
    "Не найден шрифт с кириллицей для PDF: установите пакет fonts-dejavu-core (sudo apt-get install "
    "fonts-dejavu-core fontconfig)."
)


@functools.cache
def font_file(*, bold: bool = False) -> Path:
    """DejaVu Sans or another sans TrueType font with Cyrillic, through ``fc-match``; PaperError when none."""
    fc_match = shutil.which("fc-match")
    if fc_match is None:
        raise PaperError(MISSING)
    style = "Bold" if bold else "Book"
    for pattern in PATTERNS:
        try:
            found = subprocess.run(
                [fc_match, "--format=%{file}\n%{lang}", pattern.format(style=style)],
                capture_output=True,
                text=True,
                timeout=10,
                check=True,
            ).stdout
        except (OSError, subprocess.SubprocessError):
            continue
        file, _, langs = found.partition("\n")
        path = Path(file)
        # fpdf2 reads TrueType/OpenType outlines; fc-match falls back to anything, a bitmap font included.
        if path.suffix.lower() in {".ttf", ".otf"} and path.is_file() and "ru" in langs.split("|"):
            return path
    raise PaperError(MISSING)


# What a mark can print: Latin (with the extensions European names use), Greek, Cyrillic (with its supplement),
# Hebrew and Arabic (a name in them prints, if in logical order), punctuation, currency, №, arrows and the usual
# symbols. Anything else is printed as «?» (server.paper.layout.clean).
SCRIPTS: Final = (
    (0x0020, 0x007E), (0x00A0, 0x024F), (0x0370, 0x03FF), (0x0400, 0x052F), (0x0590, 0x05FF), (0x0600, 0x06FF),
    (0x2000, 0x206F), (0x20A0, 0x20CF), (0x2100, 0x218F), (0x2190, 0x21FF), (0x2200, 0x22FF), (0x25A0, 0x25FF),
    (0xFFFD, 0xFFFD),
)  # fmt: skip


@functools.cache
def font_data(*, bold: bool = False) -> bytes:
    """The font of :func:`font_file` cut down to :data:`SCRIPTS`, once per process (about a quarter of a second).

    fpdf2 subsets the font it embeds in every PDF, and that work grows with the font's glyph count: DejaVu Sans has
    over 6,000 glyphs, these scripts under 2,000, which halves the time of every stamped copy. Hinting and glyph
    names are dropped (a PDF viewer needs neither)."""
    from fontTools import subset, ttLib  # type: ignore[import-untyped]  # fontTools ships no type information

    source = font_file(bold=bold)
    try:
        font = ttLib.TTFont(str(source), lazy=True, recalcTimestamp=False)
        options = subset.Options()
        options.layout_features = []
        options.notdef_outline = True
        options.recommended_glyphs = True
        options.glyph_names = False
        options.hinting = False
        options.name_IDs = ["*"]
        options.name_languages = ["*"]
        options.drop_tables += ["GSUB", "GPOS", "GDEF", "kern", "hdmx", "VDMX", "LTSH", "FFTM", "MATH"]
        subsetter = subset.Subsetter(options)
        subsetter.populate(unicodes=[c for first, last in SCRIPTS for c in range(first, last + 1)])
        subsetter.subset(font)
        out = io.BytesIO()
        font.save(out)
    except Exception as exc:  # a damaged font file: say which, not a fontTools traceback
        raise PaperError(f"Шрифт {source} не читается ({exc}); переустановите пакет fonts-dejavu-core.") from exc
    return out.getvalue()
