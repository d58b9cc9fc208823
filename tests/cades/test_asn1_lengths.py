"""Values whose definite length ends in byte 0x80 (128, 384, 640, ...) keep their bytes.

asn1crypto takes a header such as ``30 81 80`` for an indefinite length and re-encodes the value on ``dump()``;
the re-encoding drops the GOST algorithm names it cannot map back and changes the signed bytes, so a CRL, an
OCSP answer or a certificate of such a length would fail its signature check.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import algos, core

from cades.asn1 import load_certificate, load_crl
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.openssl_pki import OpenSSLPki

DOC = b"document\n" * 10


class _Holder(core.Sequence):
    _fields = [("algorithm", algos.SignedDigestAlgorithm), ("filler", core.OctetString)]


@pytest.mark.parametrize("length", [128, 384, 640, 1152])
def test_a_sequence_of_such_a_length_dumps_as_read(length: int) -> None:
    alg = algos.SignedDigestAlgorithm({"algorithm": "1.2.643.7.1.1.3.2"}).dump()  # GOST 34.10-2012 256 + Streebog
    filler_len = length - len(alg) - (2 if length - len(alg) - 2 < 128 else 4)
    filler = core.OctetString(b"\x00" * filler_len).dump()
    body = alg + filler
    assert len(body) == length
    header = b"\x30" + (bytes([0x81, length]) if length < 256 else bytes([0x82, length >> 8, length & 0xFF]))
    der = header + body
    value = _Holder.load(der)
    assert value["algorithm"]["algorithm"].dotted == "1.2.643.7.1.1.3.2"
    assert value.dump() == der


def test_a_crl_whose_signed_part_is_128_bytes_verifies(tmp_path: Path) -> None:
    pki = OpenSSLPki(tmp_path)
    for n in range(40, 70):  # the CA name's length that makes tbsCertList exactly 128 bytes long
        ca = pki.root_ca(f"ca{n}", algorithm="gost2012_256", subject=pki.subject(CN="X" * n))
        crl_der = pki.run("crl", "-in", pki.crl(ca), "-outform", "DER")
        if len(load_crl(crl_der)["tbs_cert_list"].contents) == 128:
            break
    else:
        pytest.fail("no CA name gave a 128-byte tbsCertList")
    inter = pki.issue(ca, f"inter{n}", subject=pki.subject(CN="Issuing CA"), profile="v3_ca")
    user = pki.issue(inter, f"user{n}", subject=pki.subject(CN="Signer"))
    context = ValidationContext(
        trust_roots=(load_certificate(ca.cert_pem),),
        crls=(load_crl(crl_der), load_crl(pki.run("crl", "-in", pki.crl(inter), "-outform", "DER"))),
    )
    (sig,) = verify_cms(pki.sign(user, DOC, certfile=[inter.cert]), DOC, context=context).signatures
    assert sig.status == "valid", (sig.reasons, sig.warnings)
    assert "crl_unusable" not in sig.warnings
