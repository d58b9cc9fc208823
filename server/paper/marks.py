"""One signature's visual mark: «ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ», the certificate's serial number, its owner,
its validity period (GOST R 7.0.97-2025 п. 5.23), plus the signing time (trusted or claimed, said which) and the
organization. CONTRACT (issue 16): the fields are fixed; the builder is filled in by the stamp part."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from cades.result import VerificationResult


class SignatureMark(msgspec.Struct, frozen=True, kw_only=True):
    number: int  # 1-based, across the whole document (every file's signatures in order)
    file_name: str
    serial: str  # the certificate's serial number as the reports print it
    owner: str  # the certificate's owner: surname and given names, else its CN
    organization: str  # O of the certificate, "" for a private person
    title: str  # the owner's position, "" when the certificate has none
    valid_from: dt.datetime | None
    valid_to: dt.datetime | None
    signing_time: dt.datetime | None
    signing_time_trusted: bool  # True: from a trusted CAdES-T time-stamp; False: claimed by the signer (or none)
    status: str  # the signature's verdict: "valid" | "invalid" | "indeterminate"
    verdict: str  # the verdict in words, the headline's title (cades.verdicts)


def marks_for(
    file_name: str, results: Sequence[VerificationResult], *, first_number: int = 1, accepted: bool = False
) -> list[SignatureMark]:
    """Marks for every signature of ``results`` (the file's ``.sig`` files, in order), numbered from
    ``first_number``; ``accepted``: the workflow accepted them (cades.verdicts.signature_headline)."""
    raise NotImplementedError("issue 16 contract: built by the stamp part")
