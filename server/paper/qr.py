"""The QR code of a copy's verification address, drawn as vector squares (sharp at any zoom and printer).

segno makes the matrix (the whole QR standard, error correction "M" or better as space allows); the modules of a
row are merged into runs so a code is a few hundred rectangles, not a few thousand.
"""

from __future__ import annotations

from typing import Final

import segno
from fpdf import FPDF

QUIET_MODULES: Final = 2  # white around the code inside its square; the layout keeps more space around it


def draw_qr(pdf: FPDF, x: float, y: float, size: float, data: str) -> None:
    """A QR code of ``data`` filling the square (x, y, size) of the current page (fpdf units, y down), on white."""
    code = segno.make(data, error="m", micro=False)
    matrix = code.matrix
    modules = len(matrix) + 2 * QUIET_MODULES
    step = size / modules
    pdf.set_fill_color(255, 255, 255)
    pdf.rect(x, y, size, size, style="F")
    pdf.set_fill_color(0, 0, 0)
    for row_number, row in enumerate(matrix):
        top = y + (row_number + QUIET_MODULES) * step
        start = None
        for col, dark in enumerate((*row, 0)):
            if dark and start is None:
                start = col
            elif not dark and start is not None:
                # a hair wider and taller than the module, so neighbours touch without a white seam when rendered
                left = x + (start + QUIET_MODULES) * step
                pdf.rect(left, top, (col - start) * step + 0.01, step + 0.01, style="F")
                start = None
