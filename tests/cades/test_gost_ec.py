"""GOST R 34.10 signatures: standard examples, every parameter set, and OpenSSL's gost engine both ways."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from cades import gost, hashing
from cades.gost import ec_openssl, ec_python
from cades.gost import keys as gost_keys
from cades.gost.curves import ALL_CURVES, CURVES_BY_OID, TEST_256, TEST_512, Curve

GMP_MODES = [False, True] if ec_python.gmpy2_available() else [False]

# GOST R 34.10-2012 appendix A / RFC 7091 section 7: test curves with known d, k, e, r, s and Q.
EXAMPLES = {
    256: dict(
        curve=TEST_256,
        d=0x7A929ADE789BB9BE10ED359DD39A72C11B60961F49397EEE1D19CE9891EC3B28,
        e=0x2DFBC1B372D89A1188C09C52E0EEC61FCE52032AB1022E8E67ECE6672B043EE5,
        k=0x77105C9B20BCD3122823C8CF6FCC7B956DE33814E95B7FE64FED924594DCEAB3,
        r=0x41AA28D2F1AB148280CD9ED56FEDA41974053554A42767B83AD043FD39DC0493,
        s=0x01456C64BA4642A1653C235A98A60249BCD6D3F746B631DF928014F6C5BF9C40,
        qx=0x7F2B49E270DB6D90D8595BEC458B50C58585BA1D4E9B788F6689DBD8E56FD80B,
        qy=0x26F1B489D6701DD185C8413A977B3CBBAF64D1C593D26627DFFB101A87FF77DA,
    ),
    512: dict(
        curve=TEST_512,
        d=int(
            "0BA6048AADAE241BA40936D47756D7C93091A0E8514669700EE7508E508B1020"
            "72E8123B2200A0563322DAD2827E2714A2636B7BFD18AADFC62967821FA18DD4",
            16,
        ),
        e=int(
            "3754F3CFACC9E0615C4F4A7C4D8DAB531B09B6F9C170C533A71D147035B0C591"
            "7184EE536593F4414339976C647C5D5A407ADEDB1D560C4FC6777D2972075B8C",
            16,
        ),
        k=int(
            "0359E7F4B1410FEACC570456C6801496946312120B39D019D455986E364F3658"
            "86748ED7A44B3E794434006011842286212273A6D14CF70EA3AF71BB1AE679F1",
            16,
        ),
        r=int(
            "2F86FA60A081091A23DD795E1E3C689EE512A3C82EE0DCC2643C78EEA8FCACD3"
            "5492558486B20F1C9EC197C90699850260C93BCBCD9C5C3317E19344E173AE36",
            16,
        ),
        s=int(
            "1081B394696FFE8E6585E7A9362D26B6325F56778AADBC081C0BFBE933D52FF5"
            "823CE288E8C4F362526080DF7F70CE406A6EEB1F56919CB92A9853BDE73E5B4A",
            16,
        ),
        qx=int(
            "115DC5BC96760C7B48598D8AB9E740D4C4A85A65BE33C1815B5C320C854621DD"
            "5A515856D13314AF69BC5B924C8B4DDFF75C45415C1D9DD9DD33612CD530EFE1",
            16,
        ),
        qy=int(
            "37C7C90CD40B0F5621DC3AC1B751CFA0E2634FA0503B3D52639F5D7FB72AFD61"
            "EA199441D943FFE7F0C70A2759A3CDB84C114E1F9339FDF27F35ECA93677BEEC",
            16,
        ),
    ),
}


def engine_verify(key: gost.PublicKey, digest: bytes, signature: bytes) -> bool:
    """The OpenSSL engine's own answer (no silent pure-Python fallback)."""
    return ec_openssl.verify(key, digest, signature, fallback=False)


def python_verify(key: gost.PublicKey, digest: bytes, signature: bytes, gmp: bool = False) -> bool:
    return ec_python.verify(key.curve, key.x, key.y, digest, signature, gmp=gmp)


@pytest.fixture(scope="module")
def engine() -> None:
    if not ec_openssl.available():  # pragma: no cover - the project's machines have the engine
        pytest.fail(
            f"OpenSSL gost engine unavailable ({ec_openssl.unavailable_reason()}); "
            "`make test` installs libengine-gost-openssl"
        )


# --- curves ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("curve", ALL_CURVES, ids=lambda c: c.name)
def test_curve_parameters_are_consistent(curve: Curve) -> None:
    assert (curve.y**2 - curve.x**3 - curve.a * curve.x - curve.b) % curve.p == 0
    for n in (curve.p, curve.q):  # Fermat check with a few bases: cheap and catches a typo'd digit
        assert all(pow(b, n - 1, n) == 1 for b in (2, 3, 5, 7))
    assert ec_python.scalar_mult(curve, curve.q, curve.x, curve.y) is None
    assert ec_python.scalar_mult(curve, curve.q + 1, curve.x, curve.y) == (curve.x, curve.y)
    # Hasse bound: the group order (cofactor * q) lies within p + 1 +- 2 sqrt(p)
    order = curve.cofactor * curve.q
    assert (order - curve.p - 1) ** 2 <= 4 * curve.p


def test_every_documented_oid_resolves() -> None:
    expected = {
        "1.2.643.2.2.35.1": "CryptoPro-A",
        "1.2.643.2.2.35.2": "CryptoPro-B",
        "1.2.643.2.2.35.3": "CryptoPro-C",
        "1.2.643.2.2.36.0": "CryptoPro-A",
        "1.2.643.2.2.36.1": "CryptoPro-C",
        "1.2.643.7.1.2.1.1.1": "256-paramSetA",
        "1.2.643.7.1.2.1.1.2": "CryptoPro-A",
        "1.2.643.7.1.2.1.1.3": "CryptoPro-B",
        "1.2.643.7.1.2.1.1.4": "CryptoPro-C",
        "1.2.643.7.1.2.1.2.0": "512-paramSetTest",
        "1.2.643.7.1.2.1.2.1": "512-paramSetA",
        "1.2.643.7.1.2.1.2.2": "512-paramSetB",
        "1.2.643.7.1.2.1.2.3": "512-paramSetC",
    }
    for oid, fragment in expected.items():
        assert fragment in gost.curve_by_oid(oid).name, oid
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.curve_by_oid("1.2.643.2.2.35.9")
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.curve_by_oid("1.2.840.10045.3.1.7")  # NIST P-256


# --- the standard's examples ---------------------------------------------------------------------


@pytest.mark.parametrize("bits", [256, 512])
@pytest.mark.parametrize("gmp", GMP_MODES)
def test_standard_example_sign_and_verify(bits: int, gmp: bool) -> None:
    ex = EXAMPLES[bits]
    curve: Curve = ex["curve"]
    digest = ex["e"].to_bytes(curve.size, "little")  # e is the digest read little-endian
    assert ec_python.public_key(curve, ex["d"], gmp=gmp) == (ex["qx"], ex["qy"])
    sig = ec_python.sign(curve, ex["d"], digest, k=ex["k"], gmp=gmp)
    assert sig == ex["s"].to_bytes(curve.size, "big") + ex["r"].to_bytes(curve.size, "big")
    assert ec_python.verify(curve, ex["qx"], ex["qy"], digest, sig, gmp=gmp)
    assert gost.sign(curve, ex["d"], digest, k=ex["k"]) == sig


@pytest.mark.parametrize("bits", [256, 512])
def test_standard_example_verified_by_engine(bits: int, engine: None) -> None:
    ex = EXAMPLES[bits]
    curve: Curve = ex["curve"]
    key = gost.PublicKey(curve=curve, x=ex["qx"], y=ex["qy"])  # key OID follows the curve size
    assert key.key_oid == (gost.KEY_OID_2012_256 if bits == 256 else gost.KEY_OID_2012_512)
    digest = ex["e"].to_bytes(curve.size, "little")
    sig = ex["s"].to_bytes(curve.size, "big") + ex["r"].to_bytes(curve.size, "big")
    assert engine_verify(key, digest, sig)
    assert not engine_verify(key, digest[::-1], sig)  # byte order matters: the engine reads little-endian


# --- round trips on every parameter set ----------------------------------------------------------

ALL_OIDS = sorted(CURVES_BY_OID)


@pytest.mark.parametrize("oid", ALL_OIDS)
def test_round_trip_every_parameter_set(oid: str, engine: None) -> None:
    curve = gost.curve_by_oid(oid)
    rng = random.Random(oid)
    d = rng.randrange(1, curve.q)
    base = gost.public_key_from_private(curve, d)
    key = gost.PublicKey(
        curve=curve, x=base.x, y=base.y, key_oid=base.key_oid, digest_oid=base.digest_oid, param_oid=oid
    )
    assert gost.PublicKey.from_spki(key.to_spki()) == key
    digest = rng.randbytes(curve.size)
    sig = gost.sign(curve, d, digest)
    assert gost.verify(key, digest, sig)
    for gmp in GMP_MODES:
        assert python_verify(key, digest, sig, gmp)
    assert engine_verify(key, digest, sig)
    bad_digest = bytes([digest[0] ^ 0x80]) + digest[1:]
    assert not gost.verify(key, bad_digest, sig)
    assert not engine_verify(key, bad_digest, sig)
    assert not python_verify(key, bad_digest, sig)


def test_signatures_are_randomised_but_all_valid() -> None:
    curve = gost.curve_by_oid("1.2.643.7.1.2.1.1.1")
    d = 0x1234567890ABCDEF
    key = gost.public_key_from_private(curve, d)
    digest = hashing.digest("streebog256", b"document")
    sigs = {gost.sign(curve, d, digest) for _ in range(3)}
    assert len(sigs) == 3
    assert all(gost.verify(key, digest, s) for s in sigs)


def test_zero_e_is_replaced_by_one(engine: None) -> None:
    """A digest equal to q (mod q) gives e = 0, which the standard replaces with 1: both backends agree."""
    curve = gost.curve_by_oid("1.2.643.2.2.35.1")
    d = 0xC0FFEE
    key = gost.public_key_from_private(curve, d)
    digest_q = curve.q.to_bytes(32, "little")
    sig = gost.sign(curve, d, digest_q)
    assert python_verify(key, digest_q, sig)
    assert engine_verify(key, digest_q, sig)
    one = (1).to_bytes(32, "little")
    assert python_verify(key, one, sig) and engine_verify(key, one, sig)


# --- tampering and out-of-range values -----------------------------------------------------------


@pytest.fixture(scope="module")
def signed_512() -> tuple[gost.PublicKey, bytes, bytes, int]:
    curve = gost.curve_by_oid("1.2.643.7.1.2.1.2.2")
    d = random.Random(5).randrange(1, curve.q)
    key = gost.public_key_from_private(curve, d)
    digest = hashing.digest("streebog512", b"contract #42")
    return key, digest, gost.sign(curve, d, digest), d


def _all_verifiers() -> list[tuple[str, object]]:
    verifiers: list[tuple[str, object]] = [("api", gost.verify)]
    verifiers += [(f"python-gmp={g}", lambda k, dg, s, g=g: python_verify(k, dg, s, g)) for g in GMP_MODES]
    if ec_openssl.available():
        verifiers.append(("engine", engine_verify))
    return verifiers


@pytest.mark.parametrize(("label", "verifier"), _all_verifiers(), ids=lambda v: v if isinstance(v, str) else "")
def test_tampering_and_range_checks(label: str, verifier, signed_512) -> None:
    key, digest, sig, _ = signed_512
    q, size = key.curve.q, key.curve.size
    assert verifier(key, digest, sig)
    for i in (0, size - 1, size, 2 * size - 1):  # a bit flipped in s and in r
        tampered = bytearray(sig)
        tampered[i] ^= 0x01
        assert not verifier(key, digest, bytes(tampered)), i
    assert not verifier(key, digest[:-1] + bytes([digest[-1] ^ 1]), sig)
    s, r = sig[:size], sig[size:]
    assert not verifier(key, digest, r + s)  # halves swapped
    for bad in (0, q, q + 1, (1 << (8 * size)) - 1):
        big = bad.to_bytes(size, "big")
        assert not verifier(key, digest, s + big), ("r", bad)
        assert not verifier(key, digest, big + r), ("s", bad)
    # r + q is the same residue but outside (0, q): must be refused, not reduced
    r_plus_q = int.from_bytes(r, "big") + q
    if r_plus_q < 1 << (8 * size):
        assert not verifier(key, digest, s + r_plus_q.to_bytes(size, "big"))
    other = gost.public_key_from_private(key.curve, 7)
    assert not verifier(other, digest, sig)


@pytest.mark.parametrize(("label", "verifier"), _all_verifiers(), ids=lambda v: v if isinstance(v, str) else "")
def test_digest_of_the_wrong_size_is_false(label: str, verifier) -> None:
    """Also guards the process: the engine asserts (aborts) on digests that are not 32 or 64 bytes."""
    curve = gost.curve_by_oid("1.2.643.2.2.35.1")
    key = gost.public_key_from_private(curve, 777)
    digest = bytes(range(32))
    sig = gost.sign(curve, 777, digest)
    assert verifier(key, digest, sig)
    for bad in (b"", digest[:16], digest + b"\0", digest + bytes(32)):
        assert verifier(key, bad, sig) is False
    with pytest.raises(ValueError):
        gost.sign(curve, 777, digest + bytes(32))


def test_wrong_lengths_and_bad_keys_are_false_not_errors(signed_512) -> None:
    key, digest, sig, _ = signed_512
    assert gost.verify(key, digest, sig[:-1]) is False
    assert gost.verify(key, digest, sig + b"\0") is False
    assert gost.verify(key, digest, b"") is False
    off_curve = gost.PublicKey(curve=key.curve, x=key.x, y=(key.y + 1) % key.curve.p, key_oid=key.key_oid)
    assert gost.verify(off_curve, digest, sig) is False
    assert ec_python.verify(key.curve, key.x, key.y + 1, digest, sig) is False


def test_unknown_curve_raises_unsupported() -> None:
    base = gost.curve_by_oid("1.2.643.2.2.35.1")
    foreign = Curve(name="toy", oid="1.2.3.4", p=base.p, a=base.a, b=base.b, q=base.q, x=base.x, y=base.y)
    key = gost.PublicKey(curve=foreign, x=base.x, y=base.y)
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.verify(key, bytes(32), bytes(64))
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.sign(foreign, 5, bytes(32))
    # an equal copy of a known curve is that curve
    import dataclasses

    copy = dataclasses.replace(base)
    assert copy is not base
    twin = gost.public_key_from_private(base, 5)
    assert gost.verify(gost.PublicKey(curve=copy, x=twin.x, y=twin.y), bytes(32), gost.sign(copy, 5, bytes(32)))


# --- SubjectPublicKeyInfo and PKCS#8 from OpenSSL ------------------------------------------------


def test_from_spki_rejects_non_gost_and_malformed() -> None:
    from asn1crypto import keys

    rsa_like = keys.PublicKeyInfo(
        {
            "algorithm": {"algorithm": "rsa", "parameters": None},
            "public_key": keys.RSAPublicKey({"modulus": 2**64 + 13, "public_exponent": 65537}),
        }
    ).dump()
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.PublicKey.from_spki(rsa_like)
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.PublicKey.from_spki(b"\x30\x03\x02\x01\x00")
    good = gost.public_key_from_private(gost.curve_by_oid("1.2.643.2.2.35.1"), 99).to_spki()
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.PublicKey.from_spki(good + b"\0")  # trailing garbage
    wrong_size = good.replace(b"\x06\x07\x2a\x85\x03\x02\x02\x23\x01", b"\x06\x09\x2a\x85\x03\x07\x01\x02\x01\x02\x01")
    with pytest.raises(gost.UnsupportedAlgorithm):  # a 512-bit set under a 256-bit key OID
        gost.PublicKey.from_spki(wrong_size)


# the keys the conftest fixture `openssl_gost_keys` makes with `openssl genpkey -engine gost`
OPENSSL_KEY_NAMES = (
    [f"256-{p}" for p in ("A", "B", "C", "XA", "XB", "TCA", "TCB", "TCC", "TCD")]
    + [f"512-{p}" for p in ("A", "B", "C")]
    + ["2001-A"]
)


@pytest.mark.parametrize("name", OPENSSL_KEY_NAMES)
def test_openssl_keys_both_directions(name: str, openssl_gost_keys, openssl_gost, tmp_path: Path, engine: None) -> None:
    entry = openssl_gost_keys[name]
    spki: bytes = entry["spki"]
    md: str = entry["md"]
    key = gost.PublicKey.from_spki(spki)
    assert key.to_spki() == spki  # parameters (and the optional digest OID) survive byte for byte
    curve, d = gost.private_key_from_pem(Path(entry["key"]).read_bytes())
    assert curve is key.curve
    derived = gost.public_key_from_private(curve, d, key.key_oid)
    assert (derived.x, derived.y) == (key.x, key.y)

    data = tmp_path / "doc.bin"
    data.write_bytes(random.Random(name).randbytes(3000))
    sig_path = tmp_path / "openssl.sig"
    openssl_gost("dgst", f"-{md}", "-sign", str(entry["key"]), "-out", str(sig_path), str(data))
    ossl_sig = sig_path.read_bytes()
    assert len(ossl_sig) == 2 * curve.size
    digest = hashing.digest(md, data.read_bytes())
    # OpenSSL's signature, checked by each of our backends
    assert python_verify(key, digest, ossl_sig)
    assert engine_verify(key, digest, ossl_sig)
    assert gost.verify(key, digest, ossl_sig)
    assert not python_verify(key, hashing.digest(md, b"other"), ossl_sig)

    # our signature, checked by `openssl dgst -verify`
    ours = tmp_path / "ours.sig"
    ours.write_bytes(gost.sign(curve, d, digest))
    out = openssl_gost("dgst", f"-{md}", "-verify", str(entry["pub"]), "-signature", str(ours), str(data))
    assert b"Verified OK" in out
    tampered = tmp_path / "doc2.bin"
    tampered.write_bytes(data.read_bytes() + b"!")
    with pytest.raises(AssertionError, match="signature mismatch"):
        openssl_gost("dgst", f"-{md}", "-verify", str(entry["pub"]), "-signature", str(ours), str(tampered))


def test_private_key_forms(tmp_path: Path) -> None:
    """The raw little-endian scalar (OpenSSL) and the wrapped OCTET STRING / INTEGER forms read alike."""
    import base64

    from asn1crypto import core

    curve = gost.curve_by_oid("1.2.643.7.1.2.1.1.2")
    d = random.Random(11).randrange(1, curve.q)
    params = gost_keys._GostKeyParams({"public_key_param_set": curve.oid})
    alg = gost_keys._AlgorithmIdentifier({"algorithm": gost.KEY_OID_2012_256, "parameters": params})

    def pem(private: bytes) -> bytes:
        der = gost_keys._PrivateKeyInfo({"version": 0, "private_key_algorithm": alg, "private_key": private}).dump()
        return b"-----BEGIN PRIVATE KEY-----\n" + base64.encodebytes(der) + b"-----END PRIVATE KEY-----\n"

    raw = d.to_bytes(32, "little")
    assert gost.private_key_from_pem(pem(raw)) == (curve, d)
    assert gost.private_key_from_pem(pem(core.OctetString(raw).dump())) == (curve, d)
    assert gost.private_key_from_pem(pem(core.Integer(d).dump())) == (curve, d)
    with pytest.raises(gost.UnsupportedAlgorithm):
        gost.private_key_from_pem(pem(raw * 2))  # masked CryptoPro-style keys are not supported
    with pytest.raises(ValueError):
        gost.private_key_from_pem(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAA==\n-----END ENCRYPTED PRIVATE KEY-----")


# --- backends agree ------------------------------------------------------------------------------


def test_python_and_engine_agree_on_random_inputs(engine: None) -> None:
    rng = random.Random(2024)
    for oid in ("1.2.643.2.2.35.2", "1.2.643.7.1.2.1.1.1", "1.2.643.7.1.2.1.2.3"):
        curve = gost.curve_by_oid(oid)
        d = rng.randrange(1, curve.q)
        key = gost.public_key_from_private(curve, d)
        for _ in range(6):
            digest = rng.randbytes(curve.size)
            sig = gost.sign(curve, d, digest)
            junk = rng.randbytes(2 * curve.size)
            for candidate in (sig, junk, sig[: curve.size] + junk[curve.size :]):
                assert python_verify(key, digest, candidate) == engine_verify(key, digest, candidate)


def test_backend_knob(forced_backend) -> None:
    curve = gost.curve_by_oid("1.2.643.2.2.35.3")
    key = gost.public_key_from_private(curve, 31337)
    digest = hashing.digest("streebog256", b"x")
    sig = gost.sign(curve, 31337, digest)
    forced_backend("python")
    assert gost.backend_name() == "python"
    assert gost.verify(key, digest, sig) and not gost.verify(key, digest[::-1], sig)
    forced_backend("auto")
    assert gost.backend_name() == ("openssl" if ec_openssl.available() else "python")
    assert gost.verify(key, digest, sig) and not gost.verify(key, digest[::-1], sig)


def test_engine_missing_means_python_or_refusal(monkeypatch: pytest.MonkeyPatch, forced_backend) -> None:
    curve = gost.curve_by_oid("1.2.643.7.1.2.1.2.3")
    key = gost.public_key_from_private(curve, 4242)
    digest = hashing.digest("streebog512", b"y")
    sig = gost.sign(curve, 4242, digest)
    monkeypatch.setattr(ec_openssl, "available", lambda: False)
    monkeypatch.setattr(ec_openssl, "unavailable_reason", lambda: "simulated: no gost.so")
    forced_backend("auto")
    assert gost.backend_name() == "python"
    assert "simulated: no gost.so" in gost.backend_detail()
    assert gost.verify(key, digest, sig)
    forced_backend("openssl")  # OpenSSL required but missing: refuse rather than guess
    with pytest.raises(gost.UnsupportedAlgorithm, match="simulated"):
        gost.verify(key, digest, sig)


def test_backend_detail_names_the_implementation(forced_backend) -> None:
    forced_backend("python")
    assert gost.backend_detail().startswith("pure Python") and "KLIKDOK_GOST_BACKEND=python" in gost.backend_detail()
    forced_backend("auto")
    if ec_openssl.available():
        assert "OpenSSL" in gost.backend_detail()
