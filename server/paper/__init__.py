"""Paper and PDF (issue 16): the stamped copy, the signing sheet and the verification protocol.

- :mod:`.marks`: what one signature's visual mark says (GOST R 7.0.97-2025 п. 5.23), built from a verification
  result; the stamped copy, the signing sheet and the protocol all print it from here.
- :mod:`.stamp`: the copy of a PDF original with the marks (appended to the original bytes as an incremental
  update, so its pages stay byte-identical), or the «лист подписания» PDF for any other original.
- :mod:`.protocol`: the «протокол проверки электронной подписи» as PDF, per document or for a selection.
- :mod:`.fonts`: the Cyrillic TrueType font, found through fontconfig (Debian's fonts-dejavu-core).

No I/O beyond reading the font; no database, no portal: the server (server.workflow.paper_copies), the public
verify page and the CLI (``klikdok stamp``, ``klikdok verify --format pdf``) hand in bytes and results.
"""

from __future__ import annotations


class PaperError(Exception):
    """A copy or protocol that cannot be made, with a Russian message for the person who asked (e.g. no font,
    an encrypted or broken PDF original)."""
