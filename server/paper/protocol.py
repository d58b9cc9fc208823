"""The verification protocol («протокол проверки электронной подписи») as PDF. CONTRACT (issue 16): the model is
fixed; the PDF is built by the protocol part, which also makes the HTML and JSON reports say the same (numbered
signatures across the document, the file each belongs to, one time zone)."""

from __future__ import annotations

import datetime as dt

import msgspec

from cades.result import VerificationResult
from cades.verdicts import TimeText


class ProtocolFile(msgspec.Struct, kw_only=True):
    name: str
    streebog256: str | None = None  # hex, of the file as signed
    size: int | None = None
    results: list[VerificationResult] = []  # one per signature file (.sig) of this file, in order


class Protocol(msgspec.Struct, kw_only=True):
    title: str  # the document's title, or what was checked («Проверка подписи» on the public page)
    files: list[ProtocolFile]
    generated: dt.datetime  # the protocol's own date (UTC; printed in the time zone of ``time_text``)
    accepted: bool = False  # the workflow accepted these signatures (server reports): see cades.verdicts
    verify_url: str | None = None  # the document's public verification address, when it has one


def render_protocol_pdf(protocol: Protocol, *, time_text: TimeText) -> bytes:
    """The protocol as PDF: each file with its digest, each signature's verdict with the reasons in words, the
    certificate and chain, revocation source and time, time-stamp, and the protocol's own date."""
    raise NotImplementedError("issue 16 contract: built by the protocol part")
