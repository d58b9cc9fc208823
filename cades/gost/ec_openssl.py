"""GOST R 34.10 verification through OpenSSL 3's gost ENGINE, reached with ctypes.

OpenSSL 3.0's ``gostprov`` provider has no signatures (see shared/reference/gost-openssl.md), so the
ENGINE is the only C implementation at hand.  The key goes in as the DER SubjectPublicKeyInfo that
``PublicKey.to_spki`` writes (``d2i_PUBKEY``), and ``EVP_PKEY_verify`` gets the digest bytes exactly as
stored: the engine reads them as a little-endian number itself, and the signature as s || r big-endian,
the same conventions as ``ec_python`` (checked by the self-test below and by the tests).

Loading is lazy and happens once: the libcrypto already mapped into this process (the one ``_hashlib``
uses) is preferred, so providers and engines loaded elsewhere in the process are shared.  Only the
engine's key and signature methods are registered, so nothing else in the process changes behaviour.
"""

from __future__ import annotations

import ctypes
import glob
import os
import threading
from typing import Any

from cades.gost import ec_python
from cades.gost.curves import CURVES_BY_OID
from cades.gost.keys import PublicKey, public_key_from_private
from cades.libcrypto import load_libcrypto

__all__ = ["available", "unavailable_reason", "verify", "version"]

_lock = threading.Lock()
_state: dict[str, Any] = {}


def _engine_paths() -> list[str]:
    env = os.environ.get("OPENSSL_ENGINES")
    found = [os.path.join(env, "gost.so")] if env else []
    found += sorted(glob.glob("/usr/lib/*/engines-3/gost.so")) + sorted(glob.glob("/usr/lib*/engines-3/gost.so"))
    return found


def _load_engine(lib: ctypes.CDLL) -> int:
    """ENGINE_by_id("gost"), else the dynamic engine pointed at gost.so; returns an initialised ENGINE*."""
    engine = lib.ENGINE_by_id(b"gost")
    if not engine:
        lib.ERR_clear_error()
        for path in _engine_paths():
            if not os.path.exists(path):
                continue
            dyn = lib.ENGINE_by_id(b"dynamic")
            if not dyn:
                break
            if (
                lib.ENGINE_ctrl_cmd_string(dyn, b"SO_PATH", path.encode(), 0) == 1
                and lib.ENGINE_ctrl_cmd_string(dyn, b"ID", b"gost", 0) == 1
                and lib.ENGINE_ctrl_cmd_string(dyn, b"LOAD", None, 0) == 1
            ):
                engine = dyn
                break
            lib.ENGINE_free(dyn)
            lib.ERR_clear_error()
    if not engine:
        raise OSError("OpenSSL ENGINE 'gost' not found (package libengine-gost-openssl)")
    if lib.ENGINE_init(engine) != 1:
        lib.ERR_clear_error()
        raise OSError("OpenSSL ENGINE 'gost' failed to initialise")
    if lib.ENGINE_register_pkey_asn1_meths(engine) != 1 or lib.ENGINE_register_pkey_meths(engine) != 1:
        lib.ERR_clear_error()
        raise OSError("OpenSSL ENGINE 'gost' did not register its key methods")
    return engine


def _raw_verify(lib: ctypes.CDLL, spki: bytes, digest: bytes, signature: bytes) -> int:
    """1 valid, 0 invalid, -1 the key could not be loaded (unsupported by the engine)."""
    buf = ctypes.c_char_p(spki)
    pkey = lib.d2i_PUBKEY(None, ctypes.byref(buf), len(spki))
    if not pkey:
        lib.ERR_clear_error()
        return -1
    ctx = lib.EVP_PKEY_CTX_new(pkey, None)
    try:
        if not ctx or lib.EVP_PKEY_verify_init(ctx) != 1:
            lib.ERR_clear_error()
            return -1
        rc = lib.EVP_PKEY_verify(ctx, signature, len(signature), digest, len(digest))
        if rc != 1:
            lib.ERR_clear_error()
        return 1 if rc == 1 else 0
    finally:
        if ctx:
            lib.EVP_PKEY_CTX_free(ctx)
        lib.EVP_PKEY_free(pkey)


def _self_test(lib: ctypes.CDLL) -> None:
    """Known answers both ways on a 256- and a 512-bit curve, signed by the pure-Python code.

    Catches a wrong digest or signature byte order, a broken engine build, or a libcrypto mismatch.
    """
    for oid in ("1.2.643.2.2.35.1", "1.2.643.7.1.2.1.2.1"):
        curve = CURVES_BY_OID[oid]
        d = 0x1D0E5B2A9C64F37 + curve.bits
        key = public_key_from_private(curve, d)
        digest = bytes(range(1, curve.size + 1))
        sig = ec_python.sign(curve, d, digest, k=0x5A17C0FFEE + curve.bits)
        spki = key.to_spki()
        if _raw_verify(lib, spki, digest, sig) != 1:
            raise OSError(f"self-test: engine rejects a valid signature on {curve.name}")
        if _raw_verify(lib, spki, digest[::-1], sig) != 0:
            raise OSError(f"self-test: engine accepts a signature over the wrong digest on {curve.name}")
        bad = sig[:-1] + bytes([sig[-1] ^ 1])
        if _raw_verify(lib, spki, digest, bad) != 0:
            raise OSError(f"self-test: engine accepts a tampered signature on {curve.name}")


def _init() -> None:
    if _state:
        return
    with _lock:
        if _state:
            return
        try:
            lib = load_libcrypto()
            engine = _load_engine(lib)
            _self_test(lib)
            _state.update(lib=lib, engine=engine, error=None, version=lib.OpenSSL_version(0).decode(errors="replace"))
        except (OSError, AttributeError) as exc:
            _state.update(lib=None, engine=None, error=str(exc), version=None)


def available() -> bool:
    """True when the engine loaded and passed its self-test."""
    _init()
    return _state["lib"] is not None


def unavailable_reason() -> str | None:
    _init()
    return _state["error"]


def version() -> str | None:
    _init()
    return _state["version"]


class EngineKeyUnsupported(RuntimeError):
    """The engine could not load a key that the pure-Python code accepts (the caller falls back)."""


def verify(key: PublicKey, digest: bytes, signature: bytes, *, fallback: bool = True) -> bool:
    """EVP_PKEY_verify over the digest.

    A key the engine cannot load (it knows every set in ``curves``, so this means a broken install) is
    checked in pure Python when ``fallback`` is true, else EngineKeyUnsupported is raised (tests use it
    to be sure the engine itself answered).
    """
    _init()
    lib = _state["lib"]
    if lib is None:
        raise EngineKeyUnsupported(_state["error"] or "OpenSSL gost engine unavailable")
    size = key.curve.size
    # Never hand the engine other lengths: gost.so 3.0.1 aborts the whole process (an assert in
    # gost_ec_verify) for a digest that is not 32 or 64 bytes.
    if len(digest) != size or len(signature) != 2 * size:
        return False
    rc = _raw_verify(lib, key.to_spki(), digest, signature)
    if rc < 0:
        if not fallback:
            raise EngineKeyUnsupported(f"the gost engine could not load a key on {key.curve.name}")
        return ec_python.verify(key.curve, key.x, key.y, digest, signature)
    return rc == 1
