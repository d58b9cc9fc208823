"""The Cyrillic TrueType font of every PDF, found through fontconfig (never downloaded at run time).

fpdf2 embeds a subset of the file it is given, so a copy prints the same on any computer. DejaVu Sans (Debian's
fonts-dejavu-core, a dependency of the package) is asked for first; any other sans font fontconfig picks for
Russian text will do where it is missing, but a font without Cyrillic never (the marks would print as boxes).
"""

from __future__ import annotations

import functools
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
