"""cades.hashing: names, both backends, streaming, hash_file against openssl/gost12sum, fail-closed selection."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from cades import hashing

M1 = b"012345678901234567890123456789012345678901234567890123456789012"
M1_256 = "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"
M1_512 = (
    "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
    "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48"
)


def test_names_oids_and_openssl_aliases() -> None:
    for alias in ("streebog256", "1.2.643.7.1.1.2.2", "md_gost12_256", "MD_GOST12_256", "id-tc26-gost3411-12-256"):
        assert hashing.canonical_name(alias) == "streebog256"
    for alias in ("streebog512", "1.2.643.7.1.1.2.3", "md_gost12_512"):
        assert hashing.canonical_name(alias) == "streebog512"
    for alias in ("gost94", "1.2.643.2.2.9", "md_gost94"):
        assert hashing.canonical_name(alias) == "gost94"
    for bad in ("sha256", "1.2.643.7.1.1.2.4", "", "streebog"):
        with pytest.raises(hashing.UnsupportedDigest):
            hashing.new(bad)


@pytest.mark.parametrize("mode", ["python", "openssl", "auto"])
def test_known_answers_under_each_backend(mode: str, forced_backend) -> None:
    forced_backend(mode)
    info = hashing.backend()
    assert info.name == ("python" if mode == "python" else "openssl")
    hashing.self_test()
    assert hashing.digest("streebog256", M1).hex() == M1_256
    assert hashing.digest("1.2.643.7.1.1.2.3", M1).hex() == M1_512
    h = hashing.new("md_gost12_256")
    assert (h.name, h.digest_size) == ("streebog256", 32)
    assert hashing.new("streebog512").digest_size == 64
    if info.name == "python":
        with pytest.raises(hashing.UnsupportedDigest):
            hashing.new("gost94")
    else:
        assert "gost94" in info.algorithms
        assert hashing.digest("gost94", b"abc").hex() == (
            "b285056dbf18d7392d7677369524dd14747459ed8143997e163b2986f92fd42c"
        )


def test_python_and_openssl_agree_on_random_data(openssl_hashlib: None) -> None:
    ossl = hashing.openssl_backend()
    py = hashing.python_backend()
    rng = random.Random(99)
    samples = [rng.randbytes(n) for n in range(0, 301)] + [rng.randbytes(2 * 1024 * 1024 + 11)]
    for algo in ("streebog256", "streebog512"):
        for data in samples if algo == "streebog256" else samples[:-1:5]:
            a = ossl.factory(algo)
            a.update(data)
            b = py.factory(algo)
            b.update(data)
            assert a.digest() == b.digest(), (algo, len(data))


@pytest.mark.parametrize("mode", ["python", "openssl"])
def test_streaming_odd_chunks_and_copy(mode: str, forced_backend) -> None:
    forced_backend(mode)
    data = random.Random(4).randbytes(20_000)
    for algo in ("streebog256", "streebog512"):
        expected = hashing.digest(algo, data)
        for chunk in (1, 7, 63, 64, 65, 4093):
            h = hashing.new(algo)
            for i in range(0, len(data), chunk):
                h.update(data[i : i + chunk])
            assert h.digest() == expected
        h = hashing.new(algo, data[:5000])
        fork = h.copy()
        h.update(memoryview(data)[5000:])
        assert h.hexdigest() == expected.hex()
        assert fork.digest() == hashing.digest(algo, data[:5000])


SIZES = [0, 1, 64, (1 << 20) - 1, 1 << 20, (1 << 20) + 1, 3 * (1 << 20) + 5]


@pytest.fixture(scope="module")
def sample_files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("hashfiles")
    rng = random.Random(8)
    paths = []
    for size in SIZES:
        path = folder / f"f{size}.bin"
        path.write_bytes(rng.randbytes(size))
        paths.append(path)
    return paths


def _openssl_dgst(md: str, path: Path) -> str:
    out = subprocess.run(
        ["openssl", "dgst", "-provider", "gostprov", "-provider", "default", f"-{md}", str(path)],
        capture_output=True,
        check=True,
        text=True,
    ).stdout
    return out.rsplit("= ", 1)[1].strip()


@pytest.mark.parametrize("mode", ["python", "openssl"])
def test_hash_file_matches_openssl_dgst_and_gost12sum(mode: str, sample_files: list[Path], forced_backend) -> None:
    forced_backend(mode)
    # pure Python runs ~1 MB/s: keep its run short but still cross one read-buffer boundary
    files = sample_files if mode == "openssl" else [sample_files[i] for i in (0, 1, 2, 5)]
    for path in files:
        ours256 = hashing.hash_file(path).hex()
        assert ours256 == _openssl_dgst("md_gost12_256", path), path.name
        gsum = subprocess.run(["gost12sum", str(path)], capture_output=True, check=True, text=True).stdout
        assert ours256 == gsum.split()[0]
        if mode == "openssl" or path.stat().st_size < 1000:
            assert hashing.hash_file(str(path), "md_gost12_512").hex() == _openssl_dgst("md_gost12_512", path)
        if mode == "openssl":
            assert hashing.hash_file(path, "gost94").hex() == _openssl_dgst("md_gost94", path)


def test_hash_file_missing_file_raises(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        hashing.hash_file(tmp_path / "absent.bin")


# --- selection and fail-closed behaviour ---------------------------------------------------------


class _WrongHash:
    """A Streebog that flips the last digest byte: what a miscompiled or mismatched library looks like."""

    def __init__(self, algo: str) -> None:
        from cades import streebog

        self._h = streebog.new(algo)

    def update(self, data: bytes) -> None:
        self._h.update(data)

    def digest(self) -> bytes:
        d = self._h.digest()
        return d[:-1] + bytes([d[-1] ^ 1])

    def copy(self) -> _WrongHash:
        clone = _WrongHash.__new__(_WrongHash)
        clone._h = self._h.copy()
        return clone


def _wrong_backend() -> hashing.HashBackend:
    return hashing.HashBackend("openssl", "broken on purpose", ("streebog256", "streebog512"), _WrongHash)


def test_select_backend_skips_a_wrong_backend() -> None:
    chosen, rejected = hashing.select_backend([_wrong_backend, hashing.python_backend])
    assert chosen.name == "python"
    assert rejected and "wrong known answer" in rejected[0]
    with pytest.raises(hashing.HashBackendError):
        hashing.select_backend([_wrong_backend])


def test_wrong_openssl_falls_back_to_python(monkeypatch: pytest.MonkeyPatch, forced_backend) -> None:
    forced_backend("auto")
    monkeypatch.setattr(hashing, "openssl_backend", _wrong_backend)
    hashing.reset_backend()
    assert hashing.backend().name == "python"
    assert hashing.digest("streebog256", M1).hex() == M1_256


def test_no_trustworthy_backend_refuses(monkeypatch: pytest.MonkeyPatch, forced_backend) -> None:
    forced_backend("auto")
    monkeypatch.setattr(hashing, "openssl_backend", _wrong_backend)
    monkeypatch.setattr(hashing, "python_backend", _wrong_backend)
    hashing.reset_backend()
    for _ in range(2):  # stays refused, no half-selected state
        with pytest.raises(hashing.HashBackendError):
            hashing.digest("streebog256", b"x")
        with pytest.raises(hashing.HashBackendError):
            hashing.backend()


def test_provider_missing_means_python(monkeypatch: pytest.MonkeyPatch, forced_backend) -> None:
    forced_backend("auto")

    def no_provider() -> str:
        raise OSError("OpenSSL provider 'gostprov' not found")

    monkeypatch.setattr(hashing, "_load_gost_provider", no_provider)
    hashing.reset_backend()
    assert hashing.backend().name == "python"
    with pytest.raises(hashing.UnsupportedDigest):
        hashing.new("gost94")
    forced_backend("openssl")  # required but missing: fail closed
    with pytest.raises(hashing.HashBackendError, match="gostprov"):
        hashing.digest("streebog256", b"x")


def test_provider_is_loaded_lazily_not_at_import() -> None:
    code = (
        "import hashlib, cades.hashing\n"
        "try:\n    hashlib.new('md_gost12_256'); print('loaded-at-import')\n"
        "except ValueError:\n    print('not-loaded')\n"
        "print(cades.hashing.digest('streebog256', b'').hex())\n"
        "hashlib.new('md_gost12_256'); print(cades.hashing.backend().name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("OPENSSL_CONF", "KLIKDOK_GOST_BACKEND")}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env=env,
        cwd=Path(__file__).resolve().parents[2],
    ).stdout.split()
    assert out == ["not-loaded", "3f539a213e97c802cc229d474c6aa32a825a360b2a933a949fd925208d9ce1bb", "openssl"]
