"""The Cyrillic TrueType font of every PDF, found through fontconfig (never downloaded at run time).
CONTRACT (issue 16): built by the protocol part."""

from __future__ import annotations

from pathlib import Path


def font_file(*, bold: bool = False) -> Path:
    """DejaVu Sans (Debian's fonts-dejavu-core) or another sans font with Cyrillic, through ``fc-match``;
    raises PaperError with a Russian message naming the package to install when there is none."""
    raise NotImplementedError("issue 16 contract")
