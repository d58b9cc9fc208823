"""GOST hashing: hash_file vs `openssl dgst`, and pure-Python Streebog vs gostcrypto."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from cades import hashing, streebog

BIG = 256 * 1024 * 1024


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bench") / "256mib.bin"
    block = os.urandom(16 * 1024 * 1024)
    with open(path, "wb") as f:
        for i in range(BIG // len(block)):
            f.write(bytes([i]) + block[1:])
    return path


def _openssl_dgst(path: Path) -> str:
    out = subprocess.run(
        ["openssl", "dgst", "-provider", "gostprov", "-provider", "default", "-md_gost12_256", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return out.rsplit("= ", 1)[1].strip()


def test_hash_file_vs_openssl_dgst_256mib(record_paired, big_file: Path) -> None:
    assert hashing.backend().name == "openssl"
    hashing.hash_file(big_file)  # page cache warm for both
    got = record_paired(
        {
            "openssl_dgst_256mib": lambda: _openssl_dgst(big_file),
            "hash_file_256mib": lambda: hashing.hash_file(big_file).hex(),
        },
        rounds=3,
    )
    assert got["openssl_dgst_256mib"] == got["hash_file_256mib"]


DATA_64K = os.urandom(64 * 1024)


def test_streebog256_64k_python_vs_gostcrypto(record_paired) -> None:
    gosthash = pytest.importorskip("gostcrypto.gosthash")
    got = record_paired(
        {
            "streebog256_64k_python": lambda: streebog.new("streebog256", DATA_64K).digest(),
            "streebog256_64k_gostcrypto": lambda: bytes(gosthash.new("streebog256", data=DATA_64K).digest()),
        },
        rounds=5,
    )
    assert got["streebog256_64k_python"] == got["streebog256_64k_gostcrypto"] == hashing.digest("streebog256", DATA_64K)
