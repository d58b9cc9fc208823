"""Signing backends behind one interface (:class:`.base.Backend`); :func:`make_backend` picks the configured one."""

from __future__ import annotations

from agent.config import AgentSettings

from .base import Availability, Backend, BackendError, CertificateInfo


def make_backend(settings: AgentSettings) -> Backend:
    # Only the configured backend is imported: the others need tools (winreg, CryptoPro) this machine may lack.
    b = settings.backend
    if b.kind == "openssl":
        from .openssl import OpenSSLBackend

        return OpenSSLBackend(b.certificate, b.key_file, b.pin_file)
    if b.kind == "cryptopro":
        from .cryptopro import CryptoProBackend

        return CryptoProBackend(b.certificate, b.pin_file)
    if b.kind == "cryptcp":
        from .cryptcp import CryptcpBackend

        return CryptcpBackend(b.certificate, b.cryptcp_path, b.pin_file)
    from .cryptoarm import CryptoArmBackend

    return CryptoArmBackend(b.link_opener, b.timeout_seconds)


__all__ = ["Availability", "Backend", "BackendError", "CertificateInfo", "make_backend"]
