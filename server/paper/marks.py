"""One signature's visual mark: «ДОКУМЕНТ ПОДПИСАН ЭЛЕКТРОННОЙ ПОДПИСЬЮ», the certificate's serial number, its owner,
its validity period (GOST R 7.0.97-2025 п. 5.23), plus the signing time (trusted or claimed, said which) and the
organization. The stamped copy, the signing sheet and the protocol all print a mark from these fields, so the
three never disagree about a signature; the words of the verdict are cades.verdicts' headline, the one vocabulary
of every page and report."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import msgspec

from cades.result import SignatureResult, SignerIdentity, VerificationResult
from cades.verdicts import signature_headline


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
    marks: list[SignatureMark] = []
    for result in results:
        for sig in result.signatures:
            marks.append(_mark(file_name, sig, first_number + len(marks), accepted=accepted))
    return marks


def _mark(file_name: str, sig: SignatureResult, number: int, *, accepted: bool) -> SignatureMark:
    cert = sig.certificate
    signer = sig.signer or SignerIdentity()
    return SignatureMark(
        number=number,
        file_name=file_name,
        serial=cert.serial if cert is not None else "",
        owner=owner_name(signer),
        organization=(signer.organization or "").strip(),
        title=(signer.title or "").strip(),
        valid_from=cert.not_before if cert is not None else None,
        valid_to=cert.not_after if cert is not None else None,
        signing_time=sig.signing_time,
        # Only a CAdES-T token from a trusted time-stamping service proves the moment; cades downgrades an untrusted
        # or broken token to the signer's own signingTime attribute ("signed_attribute"), which proves nothing.
        signing_time_trusted=sig.signing_time_source == "timestamp" and sig.signing_time is not None,
        status=sig.status,
        verdict=signature_headline(sig, accepted=accepted).title,
    )


def owner_name(signer: SignerIdentity) -> str:
    """The certificate's owner as a person reads it: «Иванов Иван Иванович» from SN and G (a qualified certificate
    has both), else its CN (an organization's or a test certificate), else empty."""
    person = " ".join(part.strip() for part in (signer.surname, signer.given_name) if part and part.strip())
    return person or (signer.common_name or "").strip()
