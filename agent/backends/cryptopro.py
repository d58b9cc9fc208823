"""``cryptopro``: CryptoPro CSP through ``pycades`` (CryptoPro's Python extension): silent batch signing.

The certificate is found by SHA-1 thumbprint in the user's personal store; the container PIN comes from
``backend.pin_file``, so twenty documents are signed with no prompt at all. Each file is signed as
CAdES-BES, detached (``SignCades(signer, CADESCOM_CADES_BES, True)`` over the file's bytes as base64).

pycades cannot be installed on the build machine: the call sequence is tested against a recording stand-in
module (``tests/agent/test_cryptopro_shapes.py``). Constants are taken from the module when it has them,
otherwise the CAdESCOM values are used.
"""

from __future__ import annotations

import base64
import importlib
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import Availability, Backend, BackendError, CertificateInfo, read_secret, to_der

DEFAULTS = {
    "CADESCOM_CONTAINER_STORE": 100,
    "CAPICOM_MY_STORE": "My",
    "CAPICOM_STORE_OPEN_MAXIMUM_ALLOWED": 2,
    "CAPICOM_CERTIFICATE_FIND_SHA1_HASH": 0,
    "CADESCOM_BASE64_TO_BINARY": 1,
    "CADESCOM_CADES_BES": 1,
    "CAPICOM_CERTIFICATE_INCLUDE_WHOLE_CHAIN": 1,
}


def load_pycades() -> ModuleType | None:
    try:
        return importlib.import_module("pycades")
    except ImportError:
        return None


def _exported(cert: Any) -> bytes:
    """The certificate's DER (CAPICOM ``Export`` in base64, encoding 0), or b"" when the module cannot export it."""
    try:
        return base64.b64decode(str(cert.Export(0)), validate=False)
    except Exception:  # an older pycades, or a certificate the store will not export: shown without it
        return b""


class CryptoProBackend(Backend):
    name = "cryptopro"

    def __init__(self, thumbprint: str, pin_file: str = "", module: ModuleType | None = None) -> None:
        self.thumbprint = thumbprint.lower().replace(" ", "")
        self.pin_file = pin_file
        self._module = module
        self._pin: str | None = None

    def _pycades(self) -> ModuleType:
        mod = self._module or load_pycades()
        if mod is None:
            raise BackendError("pycades не установлен: нужен КриптоПро CSP и расширение pycades (см. README).")
        self._module = mod
        return mod

    def _const(self, name: str) -> Any:
        return getattr(self._pycades(), name, DEFAULTS[name])

    def _store(self) -> Any:
        mod = self._pycades()
        store = mod.Store()
        store.Open(
            self._const("CADESCOM_CONTAINER_STORE"),
            self._const("CAPICOM_MY_STORE"),
            self._const("CAPICOM_STORE_OPEN_MAXIMUM_ALLOWED"),
        )
        return store

    def availability(self) -> Availability:
        if (self._module or load_pycades()) is None:
            return Availability(False, "pycades не установлен (нужны КриптоПро CSP 5 и расширение pycades).")
        if not self.thumbprint:
            return Availability(False, "не указан отпечаток сертификата (backend.certificate).")
        return Availability(True, f"КриптоПро CSP (pycades), сертификат {self.thumbprint}")

    def certificates(self) -> list[CertificateInfo]:
        store = self._store()
        try:
            certs = store.Certificates
            out = []
            for i in range(1, certs.Count + 1):
                c = certs.Item(i)
                out.append(
                    CertificateInfo(
                        subject=c.SubjectName,
                        issuer=c.IssuerName,
                        serial=str(c.SerialNumber).lower(),
                        not_after=str(c.ValidToDate),
                        not_before=str(c.ValidFromDate),
                        thumbprint=str(c.Thumbprint).lower(),
                        has_private_key=bool(c.HasPrivateKey()),
                        der=_exported(c),
                    )
                )
            return out
        finally:
            store.Close()

    def signing_thumbprint(self) -> str:
        return self.thumbprint.lower().replace(" ", "")

    def sign(self, path: Path) -> bytes:
        mod = self._pycades()
        if self._pin is None:
            self._pin = read_secret(self.pin_file)
        store = self._store()
        try:
            found = store.Certificates.Find(self._const("CAPICOM_CERTIFICATE_FIND_SHA1_HASH"), self.thumbprint)
            if found.Count == 0:
                raise BackendError(f"Сертификат {self.thumbprint} не найден в личном хранилище.")
            signer = mod.Signer()
            signer.Certificate = found.Item(1)
            signer.CheckCertificate = True
            signer.Options = self._const("CAPICOM_CERTIFICATE_INCLUDE_WHOLE_CHAIN")
            if self._pin:
                signer.KeyPin = self._pin
            signed = mod.SignedData()
            signed.ContentEncoding = self._const("CADESCOM_BASE64_TO_BINARY")
            signed.Content = base64.b64encode(path.read_bytes()).decode()
            try:
                out = signed.SignCades(signer, self._const("CADESCOM_CADES_BES"), True)
            except Exception as exc:  # pycades raises its own error type with the CSP code
                raise BackendError(f"КриптоПро не подписал файл: {exc}") from exc
        finally:
            store.Close()
        return to_der(out.encode() if isinstance(out, str) else bytes(out))
