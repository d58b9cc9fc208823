"""The TC 26 CMS examples (made by nobody on this project, shipped in the repository with their provenance)
verify in `make test`, on any machine: the standard's own bytes against our parser, Streebog and GOST code."""

from __future__ import annotations

from pathlib import Path

import pytest

from cades.cms import check_digested_data, parse_signed_data
from cades.validation import ValidationContext
from cades.verdicts import document_headline, exit_code
from cades.verify import verify_cms

SAMPLES = Path(__file__).parent / "samples" / "tc26"
TEXT = "Контрольный пример для структуры SignedData."
SIGNED = ["tc26-a111-signed-attached-gost2012-512.p7s", "tc26-a121-signed-attached-gost2012-256-no-signedattrs.p7s"]


@pytest.mark.parametrize("name", SIGNED)
def test_signed_examples_are_intact_but_not_trusted(name: str) -> None:
    result = verify_cms((SAMPLES / name).read_bytes())
    (sig,) = result.signatures
    assert sig.intact and sig.signature_valid is True and sig.digest_valid is True, sig.reasons
    assert sig.status == "indeterminate"  # nobody trusts the TC 26 test CA
    assert {"untrusted_root", "chain_incomplete"} & set(sig.reasons)


@pytest.mark.parametrize("name", SIGNED)
def test_signed_examples_are_valid_with_their_signer_trusted(name: str) -> None:
    der = (SAMPLES / name).read_bytes()
    parsed = parse_signed_data(der)
    signer_cert = parsed.certificates[0]
    at = parsed.signers[0].signing_time or signer_cert["tbs_certificate"]["validity"]["not_before"].chosen.native
    result = verify_cms(der, context=ValidationContext(trust_roots=(signer_cert,), at=at))
    assert result.status == "valid", result.signatures[0].reasons
    # The trusted certificate is the signer's own: nobody above it publishes its revocation, so "valid" stands.
    assert document_headline(result).title == "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" and exit_code(document_headline(result)) == 0
    assert parsed.content is not None and parsed.content.decode("cp1251") == TEXT


@pytest.mark.parametrize("name", SIGNED)
def test_a_flipped_content_byte_is_caught(name: str) -> None:
    der = bytearray((SAMPLES / name).read_bytes())
    marker = TEXT.encode("cp1251")
    at = der.find(marker)
    assert at > 0
    der[at] ^= 0x01
    (sig,) = verify_cms(bytes(der)).signatures
    assert sig.status == "invalid" and not sig.intact
    assert {"digest_mismatch", "bad_signature"} & set(sig.reasons)


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("tc26-a311-digesteddata-streebog256.p7m", "streebog256"),
        ("tc26-a321-digesteddata-streebog512.p7m", "streebog512"),
    ],
)
def test_digested_data_examples(name: str, algorithm: str) -> None:
    check = check_digested_data((SAMPLES / name).read_bytes())
    assert check.matches and check.digest_algorithm == algorithm
    assert check.content.decode("cp1251") == "Контрольный пример для структуры DigestData."
