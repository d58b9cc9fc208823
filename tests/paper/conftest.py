"""Fixtures for the paper suites: real GOST signatures made by openssl at test time and verified by cades, so a
mark prints what a verification really returned; the PDF originals are drawn by fpdf2 in each test."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest

from cades.asn1 import load_certificate, load_crl
from cades.cms import TIMESTAMP_TOKEN_OID, parse_signed_data
from cades.result import VerificationResult
from cades.validation import ValidationContext
from cades.verify import verify_cms
from server.text import local_time
from tests.support.openssl_pki import Issued, add_unsigned_attributes
from tests.support.pki_fixtures import GostPki, gost_pki  # noqa: F401  fixture re-exported for the paper suites

ZONE = "Europe/Moscow"


def portal_time(value: object) -> str:
    """The portal's way to show a moment (Moscow, named), as Reports.time_text does: never the UTC of cades."""
    return local_time(value, ZONE, seconds=True) or "—"


@dataclass(frozen=True)
class Signing:
    """How the test signatures are made and checked: the signers, and a verification with the test root trusted and
    both CAs' CRLs, so a good signature is ``valid``."""

    pki: GostPki

    def context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=(load_certificate(self.pki.root.cert_pem),),
            crls=tuple(load_crl(p.read_bytes()) for p in self.pki.crl_files),
        )

    def sign(self, signer: Issued, data: bytes, *, timestamp: bool = False) -> bytes:
        """A detached CAdES-BES from ``openssl cms``; with ``timestamp``, CAdES-T: the test TSA's token over the
        signature value in the unsigned attributes (a trusted signing time)."""
        sig = self.pki.pki.sign(signer, data, certfile=[self.pki.inter.cert])
        if not timestamp:
            return sig
        value = parse_signed_data(sig).signers[0].signature
        token = self.pki.pki.timestamp_token(self.pki.tsa, value)
        return add_unsigned_attributes(sig, [(TIMESTAMP_TOKEN_OID, [token])])

    def three(self, data: bytes) -> tuple[list[bytes], list[VerificationResult]]:
        """Three signatures of ``data`` as a document gets them: the director with a time-stamp (trusted time,
        organization and title in the certificate), a sole trader and a private person (claimed times)."""
        signatures = [
            self.sign(self.pki.user256, data, timestamp=True),
            self.sign(self.pki.ip, data),
            self.sign(self.pki.user512, data),
        ]
        return signatures, [verify_cms(sig, data, context=self.context()) for sig in signatures]


@pytest.fixture(scope="session")
def signing(gost_pki: GostPki) -> Signing:  # noqa: F811  the re-exported fixture, requested by name
    return Signing(gost_pki)


@pytest.fixture(scope="session")
def time_text() -> Callable[[object], str]:
    return portal_time
