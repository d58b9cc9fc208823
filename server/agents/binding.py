"""Binding a signer's certificate through their online agent: list what it can sign with, prove the key, register.

The agent is only a messenger here. The server issues the challenge, the agent signs it, and the registration
(:class:`server.workflow.registration.CertificateRegistration`) binds the certificate only if that signature
verifies with it over the issued challenge: an agent that names a certificate it holds no key for binds nothing,
and a certificate goes only to the user whose agent proved the key (the hub asks only that user's agents).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
from typing import Any

import msgspec
from asn1crypto import x509

from cades.asn1 import load_certificate
from cades.certs import cert_info, identity
from common import agent_protocol as protocol
from server.workflow.permissions import Viewer
from server.workflow.registration import CertificateRegistration

from .hub import AgentBusy, AgentHub, AgentOffline, AgentSilent

log = logging.getLogger(__name__)

OFFLINE = (
    "Агент подписи не подключён. Запустите агент на своём компьютере (или сопрягите его на вкладке "
    "«На подпись») и повторите."
)
SILENT = "Агент подписи не ответил вовремя. Проверьте, что он запущен и обновлён, и повторите."
BUSY = "Агент подписи занят предыдущими запросами; повторите через минуту."


class BindingRefused(Exception):
    """Binding through the agent did not happen; ``status`` is the HTTP answer, the message is Russian."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


class AgentCertificate(msgspec.Struct, kw_only=True):
    """One certificate as the page shows it (the same facts as «Мои сертификаты»)."""

    thumbprint: str
    owner: str
    title: str = ""
    organization: str = ""
    inn: str = ""  # the person's ИНН
    innle: str = ""  # the organisation's ИНН
    ogrn: str = ""
    snils: str = ""
    not_before: str = ""
    not_after: str = ""
    issuer: str = ""
    serial: str = ""
    signing: bool = False  # the certificate the agent is set up to sign with (only that one can be bound)


def describe(der: bytes, *, signing_thumbprint: str = "") -> AgentCertificate:
    """The page's view of a certificate; ValueError when the bytes are not one."""
    try:
        cert = x509.Certificate.load(der)
        info = cert_info(cert)
        issuer_fields = identity(cert["tbs_certificate"]["issuer"])
    except Exception as exc:
        raise ValueError("not a certificate") from exc
    fields = info.identity
    person = " ".join(v for v in (fields.get("surname"), fields.get("given_name")) if v)
    thumbprint = hashlib.sha1(der).hexdigest()  # a name, as CryptoPro shows it; not security
    return AgentCertificate(
        thumbprint=thumbprint,
        owner=person or fields.get("common_name") or "владелец не указан",
        title=fields.get("title", ""),
        organization=fields.get("organization", ""),
        inn=fields.get("inn", ""),
        innle=fields.get("innle", ""),
        ogrn=fields.get("ogrn", ""),
        snils=fields.get("snils", ""),
        not_before=info.not_before.isoformat() if info.not_before else "",
        not_after=info.not_after.isoformat() if info.not_after else "",
        issuer=issuer_fields.get("common_name") or info.issuer,
        serial=info.serial,
        signing=bool(signing_thumbprint) and thumbprint == signing_thumbprint.lower(),
    )


def _b64(value: str, limit: int) -> bytes:
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not base64") from None
    if not data or len(data) > limit:
        raise ValueError("empty or too large")
    return data


class AgentBinding:
    def __init__(self, hub: AgentHub, registration: CertificateRegistration) -> None:
        self.hub = hub
        self.registration = registration

    async def _ask(self, user_id: int, question: Any, timeout: float) -> protocol.Certificates | protocol.KeyProof:
        try:
            return await self.hub.ask(user_id, question, timeout=timeout)
        except AgentOffline:
            raise BindingRefused(409, "agent_offline", OFFLINE) from None
        except AgentSilent:
            raise BindingRefused(504, "agent_silent", SILENT) from None
        except AgentBusy:
            raise BindingRefused(429, "agent_busy", BUSY) from None

    async def certificates(self, user_id: int) -> list[AgentCertificate]:
        """The certificates the user's online agent can sign with, described for the page."""
        answer = await self._ask(
            user_id, lambda rid: protocol.CertificatesRequest(request_id=rid), self.hub.settings.binding_list_seconds
        )
        if not isinstance(answer, protocol.Certificates):
            raise BindingRefused(502, "agent_confused", SILENT)
        if answer.error:
            raise BindingRefused(422, "agent_refused", answer.error)
        out: list[AgentCertificate] = []
        for item in answer.certificates:
            try:
                out.append(
                    describe(_b64(item, protocol.MAX_CERTIFICATE_BYTES), signing_thumbprint=answer.signing_thumbprint)
                )
            except ValueError:
                log.info("agent listed something that is not a certificate", extra={"user_id": user_id})
        return out

    async def bind(self, viewer: Viewer, thumbprint: str) -> dict[str, Any]:
        """Challenge the user's agent to sign with ``thumbprint`` and register the certificate it proves.

        The answer is :meth:`CertificateRegistration.register`'s (status, message); a refusal of the proof is
        its PermissionDenied, audited like any other registration attempt."""
        wanted = thumbprint.strip().lower().replace(" ", "")
        if not (0 < len(wanted) <= 64) or any(ch not in "0123456789abcdef" for ch in wanted):
            raise BindingRefused(400, "bad_thumbprint", "Выберите сертификат из списка агента.")
        challenge = await self.registration.challenge(viewer)
        answer = await self._ask(
            viewer.user_id,
            lambda rid: protocol.ProveKey(request_id=rid, challenge=challenge.text, thumbprint=wanted),
            self.hub.settings.binding_proof_seconds,  # the signer may be asked for a PIN
        )
        if not isinstance(answer, protocol.KeyProof):
            raise BindingRefused(502, "agent_confused", SILENT)
        if answer.code or answer.message:
            raise BindingRefused(422, answer.code or "agent_refused", answer.message or SILENT)
        try:
            cms = _b64(answer.cms, protocol.MAX_PROOF_BYTES)
            der = _b64(answer.certificate, protocol.MAX_CERTIFICATE_BYTES)
            load_certificate(der)
        except Exception:
            raise BindingRefused(
                502, "agent_bad_proof", "Агент прислал неполный ответ: нет подписи или сертификата."
            ) from None
        if hashlib.sha1(der).hexdigest() != wanted:
            raise BindingRefused(
                422, "wrong_certificate", "Агент подписал код другим сертификатом, не тем, что выбран в списке."
            )
        return await self.registration.register(viewer, der, challenge=challenge.text, signature=cms, proof="agent")
