"""Is the certificate behind a signature the one the route expects?

Internal signers: a certificate registered for that Bitrix24 user and active (``signer_certificates``: one
waiting for the admin, refused or revoked binds nobody and is refused with its status said); a user with no
registered certificate may sign with one whose ИНН/ИНН ЮЛ or СНИЛС the admin allowed in ``[policy]``. A
certificate registered to somebody else is never accepted for this user. The counterparty: the ИНН (and the
ОГРН/ОГРНИП where the CRM has one) of the company's requisites, captured when the document was created.
"""

from __future__ import annotations

from sqlite_utils import Database

from cades.result import SignatureResult
from server.config import PolicySettings

from . import certificate_store
from .certificate_status import LABELS, CertStatus
from .model import DocumentRow


def _signer_label(sig: SignatureResult) -> str:
    s = sig.signer
    if s is None:
        return "неизвестный владелец"
    parts = [s.common_name or " ".join(p for p in (s.surname, s.given_name) if p) or "без имени"]
    if s.inn or s.innle:
        parts.append(f"ИНН {s.innle or s.inn}")
    if s.snils:
        parts.append(f"СНИЛС {s.snils}")
    return ", ".join(parts)


def certificate_key(sig: SignatureResult) -> tuple[str, str] | None:
    cert = sig.certificate
    return (cert.issuer, cert.serial.lower()) if cert is not None else None


def check_internal(
    db: Database, policy: PolicySettings, user_id: int, user_name: str, sig: SignatureResult
) -> str | None:
    """None when the certificate belongs to the expected user; otherwise the Russian reason."""
    key = certificate_key(sig)
    held = [] if key is None else certificate_store.holdings(db, issuer=key[0], serial=key[1])
    if any(h.user_id == user_id and h.status == CertStatus.ACTIVE for h in held):
        return None
    label = _signer_label(sig)
    if any(h.status == CertStatus.ACTIVE for h in held):
        return f"Подпись сделана сертификатом другого сотрудника ({label}), а подписать должен(на) {user_name}."
    own = next((h for h in held if h.user_id == user_id), None)
    if own is not None and own.status == CertStatus.PENDING:
        return f"Сертификат ({label}) ещё ждёт одобрения администратора: подписи им принимаются только после одобрения."
    if own is not None:
        why = f" Причина: {own.reason}" if own.reason else ""
        return f"Сертификат ({label}) {LABELS[own.status].lower()}: подписи им не принимаются.{why}"
    registered = certificate_store.registered_count(db, user_id)
    if registered:
        return f"Сертификат ({label}) не зарегистрирован за подписантом {user_name}."
    s = sig.signer
    if s is not None:
        inns = {v for v in (s.inn, s.innle) if v}
        if inns & set(policy.allowed_signer_inns) or (s.snils and s.snils in set(policy.allowed_signer_snils)):
            return None
    return (
        f"За подписантом {user_name} не зарегистрирован сертификат, а ИНН/СНИЛС сертификата ({label}) "
        "не разрешены политикой."
    )


def check_counterparty(doc: DocumentRow, sig: SignatureResult) -> str | None:
    """None when the certificate is the CRM company's (ИНН, and ОГРН/ОГРНИП where known)."""
    expected_inn = doc.counterparty_inn.strip()
    expected_ogrn = doc.counterparty_ogrn.strip()
    s = sig.signer
    label = _signer_label(sig)
    if not expected_inn:
        return "В реквизитах компании в CRM нет ИНН: нельзя проверить, что подписал контрагент."
    if s is None or expected_inn not in {v for v in (s.innle, s.inn) if v}:
        return f"ИНН в сертификате ({label}) не совпадает с ИНН контрагента {expected_inn}."
    if expected_ogrn and (s.ogrn or s.ogrnip) and expected_ogrn not in {s.ogrn, s.ogrnip}:
        return f"ОГРН в сертификате не совпадает с ОГРН контрагента {expected_ogrn}."
    return None
