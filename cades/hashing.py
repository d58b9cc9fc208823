"""GOST hash functions behind one hashlib-like API, with a self-tested backend.

Backends, tried in this order:

* ``openssl``: Python's own ``hashlib`` once OpenSSL's ``gostprov`` provider is loaded into the libcrypto
  that ``_hashlib`` uses (ctypes ``OSSL_PROVIDER_load``, done lazily on first use, never at import).  This
  is C speed and releases the GIL on large updates.  It also offers GOST R 34.11-94 (CryptoPro set).
* ``python``: ``cades.streebog`` (Streebog only).

A backend is used only after it reproduces known answers (RFC 6986 M1/M2 and the empty message for both
Streebog sizes; GOST R 34.11-94 where offered).  A backend that answers wrong is skipped; if none passes,
every call raises ``HashBackendError`` (fail closed: a wrong digest would silently accept or reject
signatures).

``KLIKDOK_GOST_BACKEND`` selects: ``auto`` (default), ``python`` (force pure Python, e.g. to reproduce a
machine without the provider), ``openssl`` (require OpenSSL; fail closed without it).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

__all__ = [
    "BackendInfo",
    "HashBackend",
    "HashBackendError",
    "GostHash",
    "UnsupportedDigest",
    "backend",
    "canonical_name",
    "digest",
    "hash_file",
    "new",
    "self_test",
    "BACKEND_ENV",
]

BACKEND_ENV: Final = "KLIKDOK_GOST_BACKEND"
_CHUNK: Final = 1 << 20  # hash_file read size: large enough that syscalls and GIL hand-offs vanish


class UnsupportedDigest(ValueError):
    """A digest name or OID this module does not know, or the selected backend does not offer."""


class HashBackendError(RuntimeError):
    """No hash backend gives the right answers; hashing is refused rather than done wrong."""


@dataclass(frozen=True)
class BackendInfo:
    name: str  # "openssl" | "python"
    detail: str  # human-readable origin, e.g. the OpenSSL version
    algorithms: list[str]


# Canonical names and everything accepted for them.
_ALIASES: Final[dict[str, str]] = {}
for _canon, _names in {
    "streebog256": (
        "streebog256",
        "1.2.643.7.1.1.2.2",
        "md_gost12_256",
        "id-tc26-gost3411-12-256",
        "gost12_256",
        "gost3411-2012-256",
    ),
    "streebog512": (
        "streebog512",
        "1.2.643.7.1.1.2.3",
        "md_gost12_512",
        "id-tc26-gost3411-12-512",
        "gost12_512",
        "gost3411-2012-512",
    ),
    "gost94": ("gost94", "1.2.643.2.2.9", "md_gost94", "id-gostr3411-94", "gost3411-94"),
}.items():
    for _n in _names:
        _ALIASES[_n.lower()] = _canon

_DIGEST_SIZES: Final = {"streebog256": 32, "streebog512": 64, "gost94": 32}


def canonical_name(name: str) -> str:
    """ "streebog256" | "streebog512" | "gost94" for any accepted spelling; UnsupportedDigest otherwise."""
    try:
        return _ALIASES[name.strip().lower()]
    except (KeyError, AttributeError):
        raise UnsupportedDigest(f"unsupported digest algorithm: {name!r}") from None


class _RawHash(Protocol):
    def update(self, data: Any, /) -> None: ...
    def digest(self) -> bytes: ...
    def copy(self) -> _RawHash: ...


@dataclass(frozen=True)
class HashBackend:
    """A source of hash objects: ``factory(canonical_name)`` returns a fresh raw hash object."""

    name: str
    detail: str
    algorithms: tuple[str, ...]
    factory: Callable[[str], _RawHash]


# --- known answers -------------------------------------------------------------------------------
# RFC 6986 section 10 prints messages and digests as big-endian numbers; these are the natural byte
# orders (what OpenSSL and gost12sum print).  M2 is the RFC's Cyrillic line in Windows-1251.
_M1: Final = b"012345678901234567890123456789012345678901234567890123456789012"
_M2: Final = "Се ветри, Стрибожи внуци, веютъ с моря стрелами на храбрыя плъкы Игоревы".encode("cp1251")
_KNOWN_ANSWERS: Final[dict[str, tuple[tuple[bytes, str], ...]]] = {
    "streebog256": (
        (b"", "3f539a213e97c802cc229d474c6aa32a825a360b2a933a949fd925208d9ce1bb"),
        (_M1, "9d151eefd8590b89daa6ba6cb74af9275dd051026bb149a452fd84e5e57b5500"),
        (_M2, "9dd2fe4e90409e5da87f53976d7405b0c0cac628fc669a741d50063c557e8f50"),
    ),
    "streebog512": (
        (
            b"",
            "8e945da209aa869f0455928529bcae4679e9873ab707b55315f56ceb98bef0a7"
            "362f715528356ee83cda5f2aac4c6ad2ba3a715c1bcd81cb8e9f90bf4c1c1a8a",
        ),
        (
            _M1,
            "1b54d01a4af5b9d5cc3d86d68d285462b19abc2475222f35c085122be4ba1ffa"
            "00ad30f8767b3a82384c6574f024c311e2a481332b08ef7f41797891c1646f48",
        ),
        (
            _M2,
            "1e88e62226bfca6f9994f1f2d51569e0daf8475a3b0fe61a5300eee46d961376"
            "035fe83549ada2b8620fcd7c496ce5b33f0cb9dddc2b6460143b03dabac9fb28",
        ),
    ),
    # GOST R 34.11-94 with the CryptoPro parameter set.  The empty message is left out on purpose: the
    # gost engine/provider 3.0.1 answers 3f25bc1f... where the published value is 981e5f3c...
    "gost94": (
        (b"abc", "b285056dbf18d7392d7677369524dd14747459ed8143997e163b2986f92fd42c"),
        (b"message digest", "bc6041dd2aa401ebfa6e9886734174febdb4729aa972d60f549ac39b29721ba0"),
    ),
}


def check_backend(candidate: HashBackend) -> None:
    """Run the known answers through one backend, whole and in odd-sized pieces; raise on any mismatch."""
    if not {"streebog256", "streebog512"} <= set(candidate.algorithms):
        raise HashBackendError(f"{candidate.name}: Streebog-256/512 missing")
    for algo in candidate.algorithms:
        for message, expected in _KNOWN_ANSWERS.get(algo, ()):
            try:
                whole = candidate.factory(algo)
                whole.update(message)
                pieces = candidate.factory(algo)
                for i in range(0, len(message), 7):
                    pieces.update(message[i : i + 7])
                snapshot = pieces.copy()
                got = (whole.digest().hex(), pieces.digest().hex(), snapshot.digest().hex())
            except Exception as exc:  # any failure of a backend disqualifies it
                raise HashBackendError(f"{candidate.name}/{algo}: self-test crashed: {exc!r}") from exc
            if got != (expected, expected, expected):
                raise HashBackendError(f"{candidate.name}/{algo}: wrong known answer")


# --- the OpenSSL backend -------------------------------------------------------------------------
_OPENSSL_NAMES: Final = {"streebog256": "md_gost12_256", "streebog512": "md_gost12_512", "gost94": "md_gost94"}
_provider_lock = threading.Lock()
_provider_state: dict[str, Any] = {}


def _load_gost_provider() -> str:
    """Load 'default' and 'gostprov' into the libcrypto _hashlib uses; returns that library's version."""
    with _provider_lock:
        if "version" in _provider_state:
            return _provider_state["version"]
        from cades.libcrypto import load_libcrypto

        lib = load_libcrypto()
        # Loading any provider explicitly disables the implicit default one, so load it first.
        if not lib.OSSL_PROVIDER_load(None, b"default"):
            raise OSError("OpenSSL default provider did not load")
        if not lib.OSSL_PROVIDER_load(None, b"gostprov"):
            lib.ERR_clear_error()
            raise OSError("OpenSSL provider 'gostprov' not found (package libengine-gost-openssl)")
        version = lib.OpenSSL_version(0).decode(errors="replace")
        _provider_state["version"] = version
        return version


def openssl_backend() -> HashBackend:
    """hashlib + gostprov; raises OSError when the provider or a Streebog digest is missing."""
    version = _load_gost_provider()
    algorithms = []
    for canon, ossl in _OPENSSL_NAMES.items():
        try:
            hashlib.new(ossl)
        except ValueError:
            continue
        algorithms.append(canon)
    if "streebog256" not in algorithms or "streebog512" not in algorithms:
        raise OSError("hashlib does not offer md_gost12_256/512 even with gostprov loaded")

    def factory(algo: str) -> _RawHash:
        return hashlib.new(_OPENSSL_NAMES[algo])

    return HashBackend("openssl", f"{version}, provider gostprov via hashlib", tuple(algorithms), factory)


def python_backend() -> HashBackend:
    from cades import streebog

    return HashBackend("python", "cades.streebog (pure Python)", ("streebog256", "streebog512"), streebog.new)


# --- selection -----------------------------------------------------------------------------------
_selected_lock = threading.Lock()
_selected: HashBackend | None = None
_selection_error: str | None = None


def select_backend(candidates: Sequence[Callable[[], HashBackend]]) -> tuple[HashBackend, list[str]]:
    """The first candidate that builds and passes ``check_backend``; HashBackendError if none does."""
    rejected: list[str] = []
    for make in candidates:
        try:
            candidate = make()
        except (OSError, ImportError, ValueError) as exc:
            rejected.append(f"{getattr(make, '__name__', make)}: {exc}")
            continue
        try:
            check_backend(candidate)
        except HashBackendError as exc:
            rejected.append(str(exc))
            continue
        return candidate, rejected
    raise HashBackendError("no GOST hash backend passed its self-test: " + "; ".join(rejected))


def _candidates() -> list[Callable[[], HashBackend]]:
    choice = os.environ.get(BACKEND_ENV, "auto").strip().lower() or "auto"
    if choice == "python":
        return [python_backend]
    if choice == "openssl":
        return [openssl_backend]
    return [openssl_backend, python_backend]


def _current() -> HashBackend:
    global _selected, _selection_error
    chosen = _selected
    if chosen is not None:
        return chosen
    with _selected_lock:
        if _selected is None:
            if _selection_error is not None:
                raise HashBackendError(_selection_error)
            try:
                _selected, _ = select_backend(_candidates())
            except HashBackendError as exc:
                _selection_error = str(exc)
                raise
        return _selected


def reset_backend() -> None:
    """Forget the selection (tests change KLIKDOK_GOST_BACKEND, then call this)."""
    global _selected, _selection_error
    with _selected_lock:
        _selected = None
        _selection_error = None


def backend() -> BackendInfo:
    """Which backend hashes, for ``klikdok doctor``; raises HashBackendError when none is usable."""
    chosen = _current()
    return BackendInfo(name=chosen.name, detail=chosen.detail, algorithms=list(chosen.algorithms))


def self_test() -> None:
    """Re-run the known answers on the selected backend (raises HashBackendError on any mismatch)."""
    check_backend(_current())


# --- the API -------------------------------------------------------------------------------------
class GostHash:
    """hashlib-style wrapper that carries the canonical name (OpenSSL's objects report 'undefined')."""

    __slots__ = ("_impl", "name", "digest_size")

    def __init__(self, impl: _RawHash, name: str) -> None:
        self._impl = impl
        self.name = name
        self.digest_size = _DIGEST_SIZES[name]

    @property
    def block_size(self) -> int:
        return 64 if self.name != "gost94" else 32

    def update(self, data: bytes | bytearray | memoryview) -> None:
        self._impl.update(data)

    def digest(self) -> bytes:
        return bytes(self._impl.digest())

    def hexdigest(self) -> str:
        return self.digest().hex()

    def copy(self) -> GostHash:
        return GostHash(self._impl.copy(), self.name)

    def __repr__(self) -> str:
        return f"<cades.hashing {self.name} object>"


def new(name: str, data: bytes = b"") -> GostHash:
    """A fresh hash object for ``name`` (canonical name, OID, or OpenSSL name)."""
    canon = canonical_name(name)
    chosen = _current()
    if canon not in chosen.algorithms:
        raise UnsupportedDigest(f"{canon} is not available with the {chosen.name} hash backend")
    obj = GostHash(chosen.factory(canon), canon)
    if data:
        obj.update(data)
    return obj


def digest(name: str, data: bytes) -> bytes:
    """One-shot digest in natural byte order."""
    return new(name, data).digest()


def hash_file(path: str | os.PathLike[str], name: str = "streebog256") -> bytes:
    """Digest of a file in constant memory: 1 MiB reads into one reused buffer, no copies."""
    h = new(name)._impl
    buf = bytearray(_CHUNK)
    view = memoryview(buf)
    update = h.update
    with open(path, "rb", buffering=0) as f:
        readinto = f.readinto
        while True:
            n = readinto(buf)
            if not n:
                break
            update(view[:n] if n < _CHUNK else buf)
    return bytes(h.digest())
