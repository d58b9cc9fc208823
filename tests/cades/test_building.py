"""The openssl backend's "hashed" signing (cades.building + ``openssl dgst -sign``): the agent has hashed the
document on download, the backend signs the signed attributes only, and the CMS it puts together must be what
``openssl cms -sign -cades`` makes: accepted by ``openssl cms -verify`` (an independent verifier) and valid
for this package's verifier, for 256- and 512-bit keys, a passworded PEM and a PKCS#12."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms

from agent.backends.openssl import OpenSSLBackend
from agent.jobs import check_locally
from cades import hashing
from cades.asn1 import load_certificate, load_crl
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import GostPki

DOC = "Акт сверки взаиморасчётов за ноябрь 2026\n".encode() * 2000


def _trusted(pki: GostPki) -> ValidationContext:
    return ValidationContext(
        trust_roots=(load_certificate(pki.root.cert_pem),),
        intermediates=(load_certificate(pki.inter.cert_pem),),
        crls=tuple(load_crl(p.read_bytes()) for p in pki.crl_files),
    )


def _digests(data: bytes) -> dict[str, bytes]:
    return {name: hashing.digest(name, data) for name in ("streebog256", "streebog512")}


def _attribute_types(der: bytes) -> list[str]:
    signer = cms.ContentInfo.load(der)["content"]["signer_infos"][0]
    return sorted(a["type"].native for a in signer["signed_attrs"])


def _fixed_parts(der: bytes) -> dict[str, bytes]:
    """What does not change between two signatures of one signer: the attributes but the time and the digest,
    the signer's identifier, the algorithms and the certificates, as DER."""
    signed_data = cms.ContentInfo.load(der)["content"]
    signer = signed_data["signer_infos"][0]
    parts = {
        a["type"].native: a.dump()
        for a in signer["signed_attrs"]
        if a["type"].native not in ("signing_time", "message_digest")
    }
    for field in ("sid", "digest_algorithm", "signature_algorithm"):
        parts[field] = signer[field].dump()
    parts["digest_algorithms"] = signed_data["digest_algorithms"].dump()
    parts["certificates"] = signed_data["certificates"].dump()
    return parts


@pytest.mark.parametrize("bits", [256, 512])
def test_a_signature_from_the_digest_is_openssls_own_shape_and_valid(
    gost_pki: GostPki, tmp_path: Path, bits: int
) -> None:
    signer: Issued = gost_pki.user256 if bits == 256 else gost_pki.user512
    doc = tmp_path / "акт.pdf"
    doc.write_bytes(DOC)
    with OpenSSLBackend(str(signer.cert), str(signer.key)) as backend:
        assert backend.digest_name() == f"streebog{bits}"
        hashed = backend.sign_hashed(tmp_path / "not-read.pdf", _digests(DOC))  # the file itself is not needed
        reference = backend.sign(doc)
    assert _attribute_types(hashed) == _attribute_types(reference)
    # Byte for byte what openssl writes, the signingCertificateV2 (the certificate's issuer and hash) included.
    assert _fixed_parts(hashed) == _fixed_parts(reference)
    assert gost_pki.pki.openssl_verify(hashed, DOC, gost_pki.chain_file)
    (sr,) = verify_cms(hashed, DOC, context=_trusted(gost_pki)).signatures
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert sr.digest_algorithm == f"streebog{bits}"
    assert check_locally(hashed, _digests(DOC)["streebog256"], _digests(DOC)["streebog512"]) is None
    # A digest of other bytes makes a signature over those bytes, which the agent's check refuses.
    other = backend.sign_hashed(doc, _digests(DOC + b"!"))
    assert not gost_pki.pki.openssl_verify(other, DOC, gost_pki.chain_file)
    assert check_locally(other, _digests(DOC)["streebog256"], _digests(DOC)["streebog512"]) is not None


def test_a_passworded_key_and_a_pkcs12_sign_from_the_digest_too(gost_pki: GostPki, tmp_path: Path) -> None:
    signer = gost_pki.user256
    pin = tmp_path / "pin"
    pin.write_text("секрет-1234\n")
    pin.chmod(0o600)
    locked = tmp_path / "locked.key"
    subprocess.run(
        ["openssl", "pkey", "-in", str(signer.key), "-out", str(locked), "-aes256", "-passout", "pass:секрет-1234"],
        env=gost_pki.pki.env,
        check=True,
        capture_output=True,
    )
    p12 = tmp_path / "key.p12"
    gost_pki.pki.run(
        "pkcs12", "-export", "-inkey", signer.key, "-in", signer.cert, "-out", p12, "-passout", "pass:секрет-1234"
    )
    for backend in (OpenSSLBackend(str(signer.cert), str(locked), str(pin)), OpenSSLBackend("", str(p12), str(pin))):
        with backend:
            sig = backend.sign_hashed(tmp_path / "unused", _digests(DOC))
        assert gost_pki.pki.openssl_verify(sig, DOC, gost_pki.chain_file)


def test_without_the_backends_digest_the_file_is_signed_as_before(gost_pki: GostPki, tmp_path: Path) -> None:
    doc = tmp_path / "doc.bin"
    doc.write_bytes(DOC)
    with OpenSSLBackend(str(gost_pki.user512.cert), str(gost_pki.user512.key)) as backend:
        sig = backend.sign_hashed(doc, {"streebog256": _digests(DOC)["streebog256"]})  # no Streebog-512 given
    assert gost_pki.pki.openssl_verify(sig, DOC, gost_pki.chain_file)


def test_the_signing_time_is_utctime_through_2049_and_generalizedtime_after() -> None:
    import datetime as dt

    from cades.building import _time

    assert _time(dt.datetime(2049, 12, 31, 23, 59, 59, tzinfo=dt.UTC)) == b"\x17\x0d491231235959Z"
    assert _time(dt.datetime(2050, 1, 1, 3, 0, 0, tzinfo=dt.timezone(dt.timedelta(hours=3)))) == (
        b"\x18\x0f20500101000000Z"
    )
