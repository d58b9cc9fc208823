"""Third-party signatures (CryptoPro, ViPNet, TC 26, government systems) come out as MANIFEST.md says."""

from __future__ import annotations

import base64
import datetime as dt
from pathlib import Path

import pytest

from cades.asn1 import load_certificate
from cades.cms import check_digested_data, parse_signed_data
from cades.validation import ValidationContext
from cades.verify import verify_cms
from tests.interop.conftest import INTEROP

# MANIFEST "openssl result" column, sample by sample.
VERIFIED = [
    "tc26-a111-signed-attached-gost2012-512.p7s",
    "tc26-a121-signed-attached-gost2012-256-no-signedattrs.p7s",
    "cryptoarm-style-gost2001-detached-der-docname-attrs.p7s",
    "cryptopro-gost2001-detached-ber-testcenter2.p7s",
    "cryptopro-attached-der-streebog256-qwerty.p7s",
    "cryptopro-testca2012-detached-streebog512.p7s",
    "vipnet-gosuslugi-plugin-attached-ber-streebog256.p7s",
    "vipnet-gosuslugi-plugin-detached-ber-streebog256.p7s",
    "cryptopro-nestjs-example-attached-ber-streebog256.p7s",
    "fir-moskomarkhitektura-gost2001-detached-no-signedattrs.p7s",
    "vtb-esia-client-secret-detached-no-signedattrs.p7s",
    "rosreestr-egrn-mosobl-attached-der-app1-xml.p7s",
    "rosreestr-egrn-mosobl-attached-der-zip.p7s",
    "rosreestr-egrn-samara-minstroy-detached-der-zip.p7s",
    "rosreestr-egrn-samara-minstroy-detached-app1-xml.p7s",
    "rosreestr-egrn-mosobl-detached-der-zip-oct2020.p7s",
]
SIGNED_ATTRS_ONLY = [
    "cryptopro-dss-testca-detached-sigalg-with-params.p7s",
    "treasury-ca-gisgkh-smev-detached-ber-streebog256.p7s",
    "fns-receipt-gost2001-gost94-detached-ber.p7s",
]
INVALID_CODES = {
    "digest_mismatch", "bad_signature", "cert_hash_mismatch", "malformed", "content_type_mismatch",
    "bad_certificate_signature", "revoked",
}  # fmt: skip


def _sample(name: str) -> tuple[bytes, bytes | None]:
    sig = (INTEROP / name).read_bytes()
    stem = name.rsplit(".", 1)[0]
    contents = list(INTEROP.glob(f"{stem}.content.*"))
    return sig, contents[0].read_bytes() if contents else None


def test_manifest_lists_every_sample_we_check() -> None:
    on_disk = {p.name for p in INTEROP.glob("*.p7s")}
    covered = (
        set(VERIFIED)
        | set(SIGNED_ATTRS_ONLY)
        | {
            "ebs-biometric-jwt-attached-ber-no-certificates.p7s",
            "rtk-esia-test-client-secret-digestalg-mismatch.p7s",
        }
    )
    assert on_disk == covered


@pytest.mark.parametrize("name", VERIFIED)
def test_verified_samples_are_intact(name: str) -> None:
    sig, content = _sample(name)
    result = verify_cms(sig, content)
    (sr,) = result.signatures
    assert sr.intact, sr.reasons
    assert sr.signature_valid is True and sr.digest_valid is True
    assert not INVALID_CODES & set(sr.reasons)
    # Nobody configured a trust anchor: such a signature can never come out "valid".
    assert sr.status == "indeterminate"
    assert {"untrusted_root", "chain_incomplete"} & set(sr.reasons)


@pytest.mark.parametrize("name", VERIFIED)
def test_verified_samples_are_valid_when_their_certificate_is_trusted_at_signing_time(name: str) -> None:
    sig, content = _sample(name)
    parsed = parse_signed_data(sig)
    signer_cert = parsed.certificates[0]
    not_before = signer_cert["tbs_certificate"]["validity"]["not_before"].chosen.native
    at = parsed.signers[0].signing_time or not_before + dt.timedelta(days=1)
    context = ValidationContext(trust_roots=(signer_cert,), at=at)
    result = verify_cms(sig, content, context=context)
    (sr,) = result.signatures
    assert sr.status == "valid", (sr.reasons, sr.details)
    assert result.status == "valid"
    assert sr.validation_time == at


@pytest.mark.parametrize("name", VERIFIED)
def test_tampered_content_is_invalid(name: str) -> None:
    sig, content = _sample(name)
    parsed = parse_signed_data(sig)
    original = content if content is not None else parsed.content
    assert original
    tampered = bytes([original[0] ^ 0x01]) + original[1:]
    (sr,) = verify_cms(sig, tampered).signatures
    assert sr.status == "invalid"
    assert not sr.intact
    assert {"digest_mismatch", "bad_signature"} & set(sr.reasons)


@pytest.mark.parametrize("name", SIGNED_ATTRS_ONLY)
def test_detached_without_content_checks_only_signed_attributes(name: str) -> None:
    sig, content = _sample(name)
    assert content is None
    (sr,) = verify_cms(sig).signatures
    assert sr.signature_valid is True
    assert sr.digest_valid is None
    assert not sr.intact
    assert "no_content" in sr.reasons
    assert sr.status == "indeterminate"


@pytest.mark.parametrize("name", SIGNED_ATTRS_ONLY)
def test_detached_against_the_known_digest(name: str) -> None:
    """The server path: it holds only the document digest, here the messageDigest the signer stated."""
    sig, _ = _sample(name)
    parsed = parse_signed_data(sig)
    signer = parsed.signers[0]
    assert signer.digest_name is not None and signer.message_digest is not None
    good = verify_cms(sig, content_digest={signer.digest_name: signer.message_digest}).signatures[0]
    assert good.intact and "no_content" not in good.reasons
    wrong = bytes(len(signer.message_digest))
    bad = verify_cms(sig, content_digest={signer.digest_name: wrong}).signatures[0]
    assert bad.status == "invalid" and "digest_mismatch" in bad.reasons


def test_missing_signer_certificate_is_unverifiable() -> None:
    sig, _ = _sample("ebs-biometric-jwt-attached-ber-no-certificates.p7s")
    result = verify_cms(sig)
    (sr,) = result.signatures
    assert "no_signer_certificate" in sr.reasons
    assert sr.digest_valid is True  # messageDigest matches the embedded JWT text
    assert sr.signature_valid is None
    assert sr.status == "indeterminate" and result.status == "indeterminate"
    assert sr.signature_algorithm == "gost3410_2012_256_streebog256"


def test_parse_only_sample_with_digest_algorithm_disagreement() -> None:
    sig, _ = _sample("rtk-esia-test-client-secret-digestalg-mismatch.p7s")
    (sr,) = verify_cms(sig).signatures
    assert sr.digest_algorithm == "streebog256"
    assert "digest_algorithms_mismatch" in sr.warnings
    assert sr.signature_valid is None and "no_content" in sr.reasons
    assert sr.status == "indeterminate"
    assert sr.signer is not None
    assert sr.signer.inn == "671742358830"
    assert sr.signer.innle == "0000000000"
    assert sr.signer.snils == "00000060006"
    assert sr.signer.ogrn == "2000000000002"
    assert sr.signer.title == "Сотрудник"
    assert sr.signer.surname == "Фамилия006"
    assert sr.signer.given_name == "Имя006 Отчество006"
    assert sr.signer.issuer_sign_tool and "КриптоПро УЦ" in sr.signer.issuer_sign_tool[1]


def test_identity_of_a_vipnet_certificate() -> None:
    sig, _ = _sample("vipnet-gosuslugi-plugin-attached-ber-streebog256.p7s")
    (sr,) = verify_cms(sig).signatures
    assert sr.signer is not None and sr.certificate is not None
    assert (sr.signer.common_name, sr.signer.organization) == ("Понедельник", "Понедельник")
    assert (sr.signer.inn, sr.signer.ogrn, sr.signer.snils) == ("006805224170", "4659294145231", "00100265851")
    assert sr.signer.subject_sign_tool == "ViPNet CSP 4.2"
    assert sr.certificate.serial == "1d5d678180e563000000000298e0001"
    assert sr.signing_time == dt.datetime(2020, 9, 10, 15, 11, 27, tzinfo=dt.UTC)
    assert sr.signing_time_source == "signed_attribute"


def test_organisation_inn_of_a_bank() -> None:
    sig, content = _sample("vtb-esia-client-secret-detached-no-signedattrs.p7s")
    (sr,) = verify_cms(sig, content).signatures
    assert sr.signer is not None
    assert (sr.signer.innle, sr.signer.ogrn, sr.signer.inn) == ("7702070139", "1027739609391", None)
    assert sr.signing_time_source == "none"


@pytest.mark.parametrize("armour", ["base64", "pem", "base64-wrapped"])
def test_text_armours_give_the_same_verdict(armour: str) -> None:
    sig, content = _sample("rosreestr-egrn-samara-minstroy-detached-app1-xml.p7s")
    b64 = base64.b64encode(sig)
    if armour == "base64":
        text = b64
    elif armour == "pem":
        lines = [b64[i : i + 64] for i in range(0, len(b64), 64)]
        text = b"-----BEGIN CMS-----\n" + b"\n".join(lines) + b"\n-----END CMS-----\n"
    else:
        text = b"\r\n".join(b64[i : i + 76] for i in range(0, len(b64), 76)) + b"\r\n"
    (sr,) = verify_cms(text, content).signatures
    assert sr.intact


def test_signature_algorithm_names() -> None:
    sig, content = _sample("cryptopro-dss-testca-detached-sigalg-with-params.p7s")
    (sr,) = verify_cms(sig).signatures
    assert (sr.digest_algorithm, sr.signature_algorithm) == ("streebog256", "gost3410_2012_256")
    sig, content = _sample("fns-receipt-gost2001-gost94-detached-ber.p7s")
    (sr,) = verify_cms(sig).signatures
    assert (sr.digest_algorithm, sr.signature_algorithm) == ("gost94", "gost3410_2001")


def test_supplied_certificate_is_used_when_the_bag_is_empty() -> None:
    """Signer cert found among caller-supplied certificates (strip it from the bag of a real sample)."""
    from asn1crypto import cms

    sig, content = _sample("rosreestr-egrn-samara-minstroy-detached-der-zip.p7s")
    info = cms.ContentInfo.load(sig)
    cert_der = info["content"]["certificates"][0].chosen.dump()
    info["content"]["certificates"] = []
    stripped = info.dump(force=True)
    (missing,) = verify_cms(stripped, content).signatures
    assert "no_signer_certificate" in missing.reasons
    (found,) = verify_cms(stripped, content, certificates=[load_certificate(cert_der)]).signatures
    assert found.intact


@pytest.mark.parametrize(
    ("name", "algorithm"),
    [
        ("tc26-a311-digesteddata-streebog256.p7m", "streebog256"),
        ("tc26-a321-digesteddata-streebog512.p7m", "streebog512"),
    ],
)
def test_tc26_digested_data(name: str, algorithm: str) -> None:
    check = check_digested_data((INTEROP / name).read_bytes())
    assert check.matches and check.digest_algorithm == algorithm
    assert check.content.decode("cp1251").startswith("Контрольный пример для структуры")


CORPUS_ROOT_SAMPLE = "cryptopro-nestjs-example-attached-ber-streebog256.p7s"  # the corpus's one self-issued CA


@pytest.fixture
def corpus_root(tmp_path: Path) -> Path:
    """The corpus's self-issued CA certificate as a file, as the admin hands it to ``klikdok trust add FILE``."""
    path = tmp_path / "corpus-root.cer"
    path.write_bytes(parse_signed_data(_sample(CORPUS_ROOT_SAMPLE)[0]).certificates[0].dump())
    return path


@pytest.mark.parametrize("name", VERIFIED)
def test_samples_with_a_corpus_root_in_the_trust_store(name: str, corpus_root: Path) -> None:
    """Issue 13: with a test root from the corpus trusted, every sample still verifies as the MANIFEST says
    (intact), and none is "valid" on an unknown revocation status or an unproven signing time."""
    sig, content = _sample(name)
    (sr,) = verify_cms(sig, content, context=ValidationContext.from_paths([corpus_root])).signatures
    assert sr.intact and not INVALID_CODES & set(sr.reasons), sr.reasons
    if name == CORPUS_ROOT_SAMPLE:
        # Trusted, the anchor itself (nothing to revoke), valid at its claimed signingTime (2021) but expired
        # since, and no time stamp proves the claim: indeterminate for the expiry alone.
        assert sr.status == "indeterminate" and sr.reasons == ["expired"]
        assert sr.validation_time == sr.claimed_signing_time
        at = ValidationContext.from_paths([corpus_root], at=sr.claimed_signing_time)
        assert verify_cms(sig, content, context=at).status == "valid"
    else:
        assert sr.status == "indeterminate"
        assert {"untrusted_root", "chain_incomplete"} & set(sr.reasons)


def test_klikdok_trust_add_then_klikdok_verify_with_the_corpus_root(corpus_root: Path, tmp_path: Path) -> None:
    """The admin's way, end to end: ``klikdok trust add`` puts the corpus root in the store, and ``klikdok verify``
    (which reads the store) then judges the sample as the MANIFEST says: intact, undecided today (expired since
    its claimed signingTime, exit 3), valid at that time."""
    from tests.support.server import clean_env, run_cli

    env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(tmp_path / "data"))
    sig_path = tmp_path / CORPUS_ROOT_SAMPLE
    sig_path.write_bytes(_sample(CORPUS_ROOT_SAMPLE)[0])
    assert run_cli("verify", "--attached", str(sig_path), env=env).returncode == 3  # nothing trusted yet
    added = run_cli("trust", "add", str(corpus_root), env=env)
    assert added.returncode == 0, added.stderr
    now = run_cli("verify", "--attached", str(sig_path), env=env)
    assert now.returncode == 3 and "Traceback" not in now.stderr, now.stdout
    then = run_cli("verify", "--attached", str(sig_path), "--at", "2021-08-12T09:45:03Z", env=env)
    assert then.returncode == 0, then.stdout
    assert then.stdout.startswith("ПОДПИСЬ ДЕЙСТВИТЕЛЬНА")
