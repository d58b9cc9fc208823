"""The one small interface every signing backend implements, and what they share.

A backend turns a local file into a detached CMS (DER) with the signer's key, or, when ``delegated`` is
true (CryptoARM GOST), does not sign locally at all: it opens a link and the app talks to the server.
Backends are synchronous (they drive subprocesses or a C extension); the client runs them in a thread.
"""

from __future__ import annotations

import base64
import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

_PEM = re.compile(rb"-----BEGIN [A-Z0-9 ]+-----(.*?)-----END [A-Z0-9 ]+-----", re.S)


class BackendError(Exception):
    """Signing did not happen; the message is for the person at the machine (Russian)."""


@dataclass(frozen=True)
class Availability:
    ok: bool
    detail: str


@dataclass(frozen=True)
class CertificateInfo:
    subject: str
    issuer: str
    serial: str
    not_after: str
    thumbprint: str  # SHA-1 of the DER, hex (how CryptoPro names certificates)
    has_private_key: bool = True
    not_before: str = ""
    # Identity fields (keys of cades.certs.IDENTITY_FIELDS) when the backend has the DER; else read from subject.
    fields: dict[str, str] = field(default_factory=dict)
    der: bytes = b""  # the certificate itself, when the backend can read it (the server is shown this)


class Backend(ABC):
    name: str = ""
    delegated: bool = False

    @abstractmethod
    def availability(self) -> Availability:
        """Can this backend sign on this machine, and if not, what exactly is missing."""

    @abstractmethod
    def certificates(self) -> list[CertificateInfo]:
        """Certificates this backend could sign with."""

    def signing_thumbprint(self) -> str:
        """SHA-1 thumbprint (lowercase hex) of the certificate :meth:`sign` signs with ("" when it signs nowhere):
        a backend signs with its configured certificate only, whatever else it lists."""
        return ""

    def sign(self, path: Path) -> bytes:
        """A detached CMS (DER) over the file's bytes."""
        raise BackendError(f"Способ подписи «{self.name}» не подписывает файлы на этом компьютере.")

    def digest_name(self) -> str | None:
        """The digest (``streebog256``/``streebog512``) :meth:`sign_hashed` can take instead of hashing the file
        itself; None when the backend always hashes the file (its signing program does)."""
        return None

    def sign_hashed(self, path: Path, digests: Mapping[str, bytes]) -> bytes:
        """:meth:`sign`, given the file's digests already computed (the agent hashed it on download to check
        it): a backend that can sign a digest skips hashing the file again. ``digests`` must be the file's."""
        return self.sign(path)

    def open_link(self, url: str) -> None:
        """Hand a server's signing link to the signing program; only ``delegated`` backends are asked to."""
        raise BackendError(f"Способ подписи «{self.name}» не передаёт подписание другой программе.")

    def close(self) -> None:
        """Release what the backend keeps between signatures (a work folder, say); it may be used again after.
        Most backends keep nothing."""
        return

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def to_der(data: bytes) -> bytes:
    """CMS output in whatever text or binary form a tool wrote it, as DER."""
    if data[:1] == b"\x30":  # binary DER/BER: any byte may be whitespace-valued, never strip it
        return data
    data = data.strip()
    match = _PEM.search(data)
    body = match.group(1) if match else data
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except ValueError as exc:
        raise BackendError("Программа подписи вернула не подпись CMS.") from exc


def certificate_info(der: bytes) -> CertificateInfo:
    from asn1crypto import x509

    from cades.certs import identity, name_text

    cert = x509.Certificate.load(der)
    tbs = cert["tbs_certificate"]
    return CertificateInfo(
        subject=name_text(tbs["subject"]),
        issuer=name_text(tbs["issuer"]),
        serial=format(tbs["serial_number"].native, "x"),
        not_after=tbs["validity"]["not_after"].native.isoformat(),
        thumbprint=hashlib.sha1(der).hexdigest(),  # a name, not security
        not_before=tbs["validity"]["not_before"].native.isoformat(),
        fields=identity(tbs["subject"]),
        der=der,
    )


def read_secret(path: str) -> str:
    """A PIN or password from a file that only its owner may read ("" when no file is configured)."""
    if not path:
        return ""
    p = Path(path).expanduser()
    import stat
    import sys

    if sys.platform != "win32" and p.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BackendError(f"Файл {p} с PIN-кодом доступен другим пользователям: выполните chmod 600 {p}.")
    return p.read_text(encoding="utf-8").strip()
