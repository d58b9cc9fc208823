"""Which document files a page may show inline (a PDF in a frame, a picture as an image), decided from the
file's own first bytes: never from its name or the type the uploader claimed, because a "contract.pdf" that is
really an HTML page must never reach a browser as HTML next to the portal's session.

The one definition of "previewable" for every page: the signer's panel (``/api/v1/.../preview``) and the
counterparty's page (``/c/<token>/files/<id>?inline=1``) both serve a file through :func:`served`, and both
decide whether to offer a preview with :func:`kind_of` on the type stored at intake (:func:`stored_type`).
SVG is not among the types on purpose: it can carry scripts.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

PreviewKind = Literal["pdf", "image", ""]

# The types a page shows inline, and how.
PREVIEW_KINDS: dict[str, PreviewKind] = {
    "application/pdf": "pdf",
    "image/png": "image",
    "image/jpeg": "image",
    "image/gif": "image",
    "image/webp": "image",
}
# Enough of a file's start to recognise every type above.
HEAD_BYTES = 16
OCTET_STREAM = "application/octet-stream"


def sniff(head: bytes) -> str | None:
    """The previewable type the bytes start like, or None (anything else, HTML and SVG included)."""
    if head.startswith(b"%PDF-"):
        return "application/pdf"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith((b"GIF87a", b"GIF89a")):
        return "image/gif"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    return None


def kind_of(content_type: str) -> PreviewKind:
    """How a page previews a file whose type was stored by :func:`stored_type` ("" for a download only)."""
    return PREVIEW_KINDS.get(content_type, "")


def stored_type(head: bytes, claimed: str) -> str:
    """The content type recorded at intake: the sniffed one for a previewable file; otherwise the uploader's
    claim, unless that claim is a previewable type the bytes do not bear out (then a plain octet stream)."""
    found = sniff(head)
    if found:
        return found
    claimed = (claimed or "").split(";")[0].strip().lower()
    if not claimed or claimed in PREVIEW_KINDS or "/" not in claimed or len(claimed) > 127:
        return OCTET_STREAM
    return claimed


class Served(NamedTuple):
    """How a file's bytes go to a browser: inline with their sniffed type, or as an octet-stream attachment."""

    content_type: str
    inline: bool


def served(data: bytes) -> Served:
    found = sniff(data[:HEAD_BYTES])
    return Served(found, True) if found else Served(OCTET_STREAM, False)
