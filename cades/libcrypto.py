"""The process's libcrypto through ctypes, for the GOST provider (:mod:`cades.hashing`) and engine
(:mod:`cades.gost.ec_openssl`).

Why a module of its own: ``klikdok hash`` needs the provider and nothing of the GOST arithmetic, and importing
``cades.gost`` brings the curves and the pure-Python fallback (tens of milliseconds of a command that should start
in tens of milliseconds in all).
"""

from __future__ import annotations

import ctypes
from typing import Any

__all__ = ["libcrypto_path", "load_libcrypto"]


def libcrypto_path() -> str:
    """Path of the libcrypto this interpreter's ``_hashlib`` is linked against (else the soname)."""
    try:
        import _hashlib  # noqa: F401 - maps libcrypto into the process

        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            for line in maps:
                path = line.rsplit(" ", 1)[-1].strip()
                if "/libcrypto.so" in path:
                    return path
    except OSError:
        pass
    import ctypes.util  # runs ldconfig through subprocess: only when /proc did not say

    return ctypes.util.find_library("crypto") or "libcrypto.so.3"


def load_libcrypto() -> ctypes.CDLL:
    """The process's libcrypto with the prototypes this package uses (shared with cades.hashing)."""
    lib = ctypes.CDLL(libcrypto_path())
    vp, cp, ci, cl, sz = ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int, ctypes.c_long, ctypes.c_size_t
    protos: dict[str, tuple[Any, list[Any]]] = {
        "OpenSSL_version": (cp, [ci]),
        "OSSL_PROVIDER_load": (vp, [vp, cp]),
        "OSSL_PROVIDER_available": (ci, [vp, cp]),
        "ENGINE_by_id": (vp, [cp]),
        "ENGINE_init": (ci, [vp]),
        "ENGINE_free": (ci, [vp]),
        "ENGINE_ctrl_cmd_string": (ci, [vp, cp, cp, ci]),
        "ENGINE_register_pkey_asn1_meths": (ci, [vp]),
        "ENGINE_register_pkey_meths": (ci, [vp]),
        "d2i_PUBKEY": (vp, [vp, ctypes.POINTER(ctypes.c_char_p), cl]),
        "EVP_PKEY_free": (None, [vp]),
        "EVP_PKEY_CTX_new": (vp, [vp, vp]),
        "EVP_PKEY_CTX_free": (None, [vp]),
        "EVP_PKEY_verify_init": (ci, [vp]),
        "EVP_PKEY_verify": (ci, [vp, cp, sz, cp, sz]),
        "ERR_clear_error": (None, []),
    }
    for name, (restype, argtypes) in protos.items():
        fn = getattr(lib, name)
        fn.restype = restype
        fn.argtypes = argtypes
    return lib
