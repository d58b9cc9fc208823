"""GOST R 34.10 verification: pure Python (with and without gmpy2), OpenSSL engine, gostcrypto."""

from __future__ import annotations

import random

import pytest

from cades import gost, hashing
from cades.gost import ec_openssl, ec_python

CASES = {256: "1.2.643.7.1.2.1.1.2", 512: "1.2.643.7.1.2.1.2.1"}  # TC 26 256-B (= CryptoPro A), 512-A


def _material(bits: int) -> tuple[gost.PublicKey, bytes, bytes]:
    curve = gost.curve_by_oid(CASES[bits])
    d = random.Random(bits).randrange(1, curve.q)
    key = gost.public_key_from_private(curve, d)
    digest = hashing.digest("streebog256" if bits == 256 else "streebog512", b"benchmark document")
    return key, digest, gost.sign(curve, d, digest)


@pytest.mark.parametrize("bits", [256, 512])
@pytest.mark.parametrize("gmp", [False, True], ids=["int", "gmpy2"])
def test_verify_python(record, bits: int, gmp: bool) -> None:
    if gmp and not ec_python.gmpy2_available():
        pytest.skip("gmpy2 not installed")
    key, digest, sig = _material(bits)
    ec_python.verify(key.curve, key.x, key.y, digest, sig, gmp=gmp)  # builds the cached generator table

    def run() -> bool:
        return ec_python.verify(key.curve, key.x, key.y, digest, sig, gmp=gmp)

    assert record(f"verify{bits}_python_{'gmpy2' if gmp else 'int'}", run, rounds=30)


@pytest.mark.parametrize("bits", [256, 512])
def test_verify_openssl(record, bits: int) -> None:
    if not ec_openssl.available():
        pytest.skip(f"OpenSSL gost engine unavailable: {ec_openssl.unavailable_reason()}")
    key, digest, sig = _material(bits)
    assert record(f"verify{bits}_openssl", lambda: ec_openssl.verify(key, digest, sig, fallback=False), rounds=200)


@pytest.mark.parametrize("bits", [256, 512])
def test_verify_gostcrypto(record, bits: int) -> None:
    gs = pytest.importorskip("gostcrypto.gostsignature")
    name = {256: "id-tc26-gost-3410-2012-256-paramSetB", 512: "id-tc26-gost-3410-12-512-paramSetA"}[bits]
    mode = gs.MODE_256 if bits == 256 else gs.MODE_512
    signer = gs.new(mode, gs.CURVES_R_1323565_1_024_2019[name])
    size = bits // 8
    private = bytearray(random.Random(bits).randbytes(size))
    private[0] &= 0x3F  # below q for both curves
    public = signer.public_key_generate(private)
    digest = bytearray(hashing.digest("streebog256" if bits == 256 else "streebog512", b"benchmark document"))
    sig = signer.sign(private, digest)
    assert record(f"verify{bits}_gostcrypto", lambda: signer.verify(public, digest, sig), rounds=3)
