"""Binding a certificate from the signer's page: the agent lists its certificates and proves it holds a key.

The server relays the page's request over ``/agent/ws`` (``certificates_request``, ``prove_key``; see
:mod:`common.agent_protocol`). Proving means signing a text the server chose, so the agent is strict about
what it signs here: only the server's registration challenge (its fixed form, nothing else: not a document's
bytes), only for the user this agent is paired to (a challenge for someone else would bind this key to them),
and only with the certificate the signer configured (``klikdok-agent setup``), which is the one every backend
signs with. Signing may wait for a PIN, so it runs in a thread, never on the loop that receives jobs.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
import tempfile
from pathlib import Path

from agent.backends import Backend, BackendError
from agent.backends.base import CertificateInfo
from cades.asn1 import MalformedInput
from cades.cms import parse_signed_data
from cades.verify import find_signer_certificate
from common import agent_protocol as protocol

log = logging.getLogger("klikdok.agent")

__all__ = ["answer_certificates", "answer_prove_key"]

USE_CRYPTOARM = (
    "Агент работает через КриптоАРМ ГОСТ и сам сертификаты не показывает: привяжите сертификат способом "
    "«Через КриптоАРМ ГОСТ» на этой же странице."
)
NO_DER = (
    "Программа подписи не отдаёт сертификаты агенту. Привяжите сертификат через КриптоАРМ ГОСТ или "
    "загрузив файл подписи .sig."
)


def _usable(certs: list[CertificateInfo]) -> list[CertificateInfo]:
    """Certificates the server can be shown (their DER is known, not too big), at most as many as it reads."""
    found = [c for c in certs if c.der and len(c.der) <= protocol.MAX_CERTIFICATE_BYTES]
    return found[: protocol.MAX_AGENT_CERTIFICATES]


def _listing(backend: Backend) -> tuple[list[CertificateInfo], str]:
    return backend.certificates(), backend.signing_thumbprint()


async def answer_certificates(backend: Backend, msg: protocol.CertificatesRequest) -> protocol.Certificates:
    """The certificates the backend could sign with, or why there are none (in Russian, for the page)."""
    if backend.delegated:
        return protocol.Certificates(request_id=msg.request_id, error=USE_CRYPTOARM)
    try:
        certs, configured = await asyncio.to_thread(_listing, backend)
    except BackendError as exc:
        return protocol.Certificates(request_id=msg.request_id, error=str(exc)[: protocol.MAX_ERROR_MESSAGE])
    usable = _usable(certs)
    if certs and not usable:
        return protocol.Certificates(request_id=msg.request_id, error=NO_DER)
    return protocol.Certificates(
        request_id=msg.request_id,
        certificates=[base64.b64encode(c.der).decode() for c in usable],
        signing_thumbprint=configured,
    )


def _refusal(msg: protocol.ProveKey, code: str, message: str) -> protocol.KeyProof:
    return protocol.KeyProof(request_id=msg.request_id, code=code, message=message[: protocol.MAX_ERROR_MESSAGE])


def _sign_challenge(backend: Backend, challenge: str) -> tuple[bytes, bytes]:
    """(detached CMS over the challenge's UTF-8 bytes, the signing certificate's DER or b"" if unknown)."""
    with tempfile.TemporaryDirectory(prefix="klikdok-challenge-") as tmp:
        path = Path(tmp) / "challenge.txt"
        path.write_bytes(challenge.encode("utf-8"))
        cms = backend.sign(path)
    configured = backend.signing_thumbprint()
    der = next((c.der for c in backend.certificates() if c.thumbprint.lower() == configured and c.der), b"")
    if not der:  # a backend that cannot export its certificate: the one its signature carries
        try:
            parsed = parse_signed_data(cms, max_size=protocol.MAX_PROOF_BYTES)
            carried = find_signer_certificate(parsed.signers[0], parsed.certificates) if parsed.signers else None
        except MalformedInput:
            carried = None
        if carried is not None and hashlib.sha1(carried.dump()).hexdigest() == configured:  # a name, not security
            der = carried.dump()
    return cms, der


async def answer_prove_key(backend: Backend, msg: protocol.ProveKey, user_id: int | None) -> protocol.KeyProof:
    """Sign the server's challenge with the configured certificate, or say (in Russian) why not."""
    if user_id is None or not protocol.is_registration_challenge(msg.challenge, user_id):
        # Not the server's challenge for this agent's own user: signing it could mean anything (a document's
        # text, another person's registration), so the agent refuses whatever the server says.
        log.warning("refused to sign a text that is not this user's registration challenge")
        return _refusal(
            msg,
            "not_a_challenge",
            "Агент подписывает здесь только код подтверждения, выданный вам сервером KlikDok; этот текст он "
            "не подписал.",
        )
    if backend.delegated:
        return _refusal(msg, "use_cryptoarm", USE_CRYPTOARM)
    try:
        configured = await asyncio.to_thread(backend.signing_thumbprint)
    except BackendError as exc:
        return _refusal(msg, "backend", str(exc))
    if not configured or msg.thumbprint.lower().replace(" ", "") != configured:
        return _refusal(
            msg,
            "not_configured",
            "Агент подписывает только тем сертификатом, который выбран в его настройках. Чтобы привязать этот "
            "сертификат, выберите его командой «klikdok-agent setup», перезапустите агент и повторите.",
        )
    try:
        cms, der = await asyncio.to_thread(_sign_challenge, backend, msg.challenge)
    except BackendError as exc:
        return _refusal(msg, "backend", f"Агент не смог подписать код подтверждения: {exc}")
    if len(cms) > protocol.MAX_PROOF_BYTES or len(der) > protocol.MAX_CERTIFICATE_BYTES:
        return _refusal(msg, "too_large", "Подпись или сертификат слишком велики для передачи серверу.")
    log.info("signed a registration challenge", extra={"thumbprint": configured})
    return protocol.KeyProof(
        request_id=msg.request_id, cms=base64.b64encode(cms).decode(), certificate=base64.b64encode(der).decode()
    )
