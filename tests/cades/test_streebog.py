"""Pure-Python Streebog against RFC 6986, OpenSSL (gostprov through hashlib) and gost12sum."""

from __future__ import annotations

import hashlib
import os
import random
import subprocess

import pytest

from cades import streebog

# RFC 6986 section 10 prints messages and digests as big-endian numbers: reverse both to get the bytes.
RFC_M1 = bytes.fromhex(
    "323130393837363534333231303938373635343332313039383736353433323130393837363534333231303938373635"
    "343332313039383736353433323130"
)[::-1]
RFC_M2 = bytes.fromhex(
    "fbe2e5f0eee3c820fbeafaebef20fffbf0e1e0f0f520e0ed20e8ece0ebe5f0f2f120fff0eeec20f120faf2fee5e2202ce8"
    "f6f3ede220e8e6eee1e8f0f2d1202ce8f0f2e5e220e5d1"
)[::-1]
RFC_VECTORS = [
    (
        "streebog512",
        RFC_M1,
        "486f64c1917879417fef082b3381a4e211c324f074654c38823a7b76f830ad00"
        "fa1fbae42b1285c0352f227524bc9ab16254288dd6863dccd5b9f54a1ad0541b",
    ),
    ("streebog256", RFC_M1, "00557be5e584fd52a449b16b0251d05d27f94ab76cbaa6da890b59d8ef1e159d"),
    (
        "streebog512",
        RFC_M2,
        "28fbc9bada033b1460642bdcddb90c3fb3e56c497ccd0f62b8a2ad4935e85f03"
        "7613966de4ee00531ae60f3b5a47f8dae06915d5f2f194996fcabf2622e6881e",
    ),
    ("streebog256", RFC_M2, "508f7e553c06501d749a66fc28c6cac0b005746d97537fa85d9e40904efed29d"),
]


def test_rfc_messages_decode_as_documented() -> None:
    assert RFC_M1 == b"012345678901234567890123456789012345678901234567890123456789012"
    assert RFC_M2.decode("cp1251").startswith("Се ветри, Стрибожи внуци")


@pytest.mark.parametrize(("name", "message", "rfc_digest"), RFC_VECTORS)
def test_rfc6986_vectors(name: str, message: bytes, rfc_digest: str) -> None:
    assert streebog.new(name, message).digest() == bytes.fromhex(rfc_digest)[::-1]


def test_lps_unrolled_matches_loop_version() -> None:
    rng = random.Random(1)
    for _ in range(50):
        x = rng.getrandbits(512)
        assert streebog._lps(x) == streebog._lps_reference(x)


@pytest.mark.parametrize("name", ["streebog256", "streebog512"])
def test_against_openssl_many_lengths(name: str, openssl_hashlib: None) -> None:
    ossl = {"streebog256": "md_gost12_256", "streebog512": "md_gost12_512"}[name]
    rng = random.Random(name)
    for length in range(0, 301):
        data = rng.randbytes(length)
        assert streebog.new(name, data).digest() == hashlib.new(ossl, data).digest(), length


@pytest.mark.parametrize("name", ["streebog256", "streebog512"])
def test_streaming_odd_chunks_equals_one_shot(name: str) -> None:
    rng = random.Random(7)
    data = rng.randbytes(5000)
    expected = streebog.new(name, data).digest()
    for chunk in (1, 3, 63, 64, 65, 127, 1000):
        h = streebog.new(name)
        for i in range(0, len(data), chunk):
            h.update(data[i : i + chunk])
        assert h.digest() == expected, chunk
    # copy() forks the state; digest() does not finalise the original
    h = streebog.new(name, data[:100])
    fork = h.copy()
    h.update(data[100:])
    assert h.digest() == expected
    assert h.digest() == expected
    assert fork.digest() == streebog.new(name, data[:100]).digest()


def test_accepts_memoryview_and_bytearray() -> None:
    data = bytearray(b"x" * 200)
    assert streebog.new("streebog256", memoryview(data)).digest() == streebog.new("streebog256", bytes(data)).digest()


def test_multi_megabyte_against_openssl(openssl_hashlib: None) -> None:
    data = os.urandom(1024 * 1024 + 17)
    assert streebog.new("streebog256", data).digest() == hashlib.new("md_gost12_256", data).digest()


def test_against_gost12sum_subprocess(tmp_path) -> None:
    path = tmp_path / "m.bin"
    data = random.Random(3).randbytes(10_000)
    path.write_bytes(data)
    out256 = subprocess.run(["gost12sum", str(path)], capture_output=True, check=True, text=True).stdout
    out512 = subprocess.run(["gost12sum", "-l", str(path)], capture_output=True, check=True, text=True).stdout
    assert out256.split()[0] == streebog.new("streebog256", data).hexdigest()
    assert out512.split()[0] == streebog.new("streebog512", data).hexdigest()


def test_unknown_variant_rejected() -> None:
    with pytest.raises(ValueError):
        streebog.new("streebog384")
