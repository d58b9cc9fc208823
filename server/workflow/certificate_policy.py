"""Whether a freshly proven certificate is good for signing at once or waits for an admin (issue 14).

Proof of possession says the registrant holds the key; it does not say the certificate is the company's. A key
bought by an employee for another firm, or a relative's, proves itself just as well. So a certificate is active
at once only when its organisation is the company (ИНН ЮЛ, or the ИНН of an ИП) and its owner is the Bitrix24
user who registers it (surname, given name and, where both sides have one, the patronymic), or when it renews a
certificate this user already had approved (the same СНИЛС). Everything else is pending with the reason, in
Russian, for the admin. Pure rules: the facts (the user's record, the company's ИНН, the renewal) are gathered
by :mod:`.registration`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from server.bitrix24 import User

from .certificate_status import CertStatus


@dataclass(frozen=True, slots=True)
class PersonName:
    last: str
    first: str
    middle: str

    def shown(self) -> str:
        return " ".join(p for p in (self.last, self.first, self.middle) if p)


@dataclass(frozen=True, slots=True)
class Decision:
    status: CertStatus
    why_pending: str = ""


def fold(text: str) -> str:
    """Case, ё/е and spacing do not make two names different."""
    return " ".join(text.casefold().replace("ё", "е").split())


def certificate_name(identity: dict[str, str]) -> PersonName:
    """The owner's name: SN + G ("Имя Отчество") as qualified certificates carry it, else the CN split in three."""
    surname, given = identity.get("surname", "").strip(), identity.get("given_name", "").split()
    if surname and given:
        return PersonName(surname, given[0], " ".join(given[1:]))
    words = identity.get("common_name", "").split()
    return PersonName(words[0] if words else "", words[1] if len(words) > 1 else "", " ".join(words[2:]))


def user_name(user: User) -> PersonName:
    return PersonName(user.last_name.strip(), user.name.strip(), user.second_name.strip())


def names_match(cert: PersonName, user: PersonName) -> bool:
    if not (cert.last and cert.first) or fold(cert.last) != fold(user.last) or fold(cert.first) != fold(user.first):
        return False
    return not (cert.middle and user.middle) or fold(cert.middle) == fold(user.middle)


def organisation_inn(identity: dict[str, str]) -> str:
    """The organisation's ИНН: ИНН ЮЛ of a company's certificate, the ИНН of an ИП's (which has no ИНН ЮЛ)."""
    return (identity.get("innle") or identity.get("inn") or "").strip()


def validity_problem(not_before: datetime | None, not_after: datetime | None, now: datetime) -> str | None:
    """The Russian reason a certificate cannot be registered now, or None while it is within its dates."""
    if not_after is not None and not_after < now:
        return f"Срок действия сертификата истёк {not_after:%d.%m.%Y}: такой сертификат привязать нельзя."
    if not_before is not None and not_before > now:
        return f"Сертификат начнёт действовать только {not_before:%d.%m.%Y}: привяжите его с этого дня."
    return None


def decide(
    identity: dict[str, str],
    *,
    user: User | None,
    company_inns: frozenset[str],
    renewal: bool,
    portal_problem: str = "",
) -> Decision:
    """Active when the organisation and the owner are the company's and this user's, or on a renewal; otherwise
    pending with every mismatch said. ``portal_problem`` (the portal did not answer) leaves only the renewal rule."""
    if renewal:
        return Decision(CertStatus.ACTIVE)
    if portal_problem:
        return Decision(CertStatus.PENDING, portal_problem)
    reasons: list[str] = []
    inn = organisation_inn(identity)
    if not company_inns:
        reasons.append(
            "ИНН компании не известен: он не задан в настройках ([policy] company_inn) и не найден в реквизитах "
            "своей компании на портале."
        )
    elif inn not in company_inns:
        expected = ", ".join(sorted(company_inns))
        reasons.append(
            f"ИНН организации в сертификате ({inn or 'не указан'}) не совпадает с ИНН компании ({expected})."
        )
    cert_name = certificate_name(identity)
    if user is None:
        reasons.append("Пользователь не найден на портале Битрикс24: не с чем сравнить ФИО.")
    elif not names_match(cert_name, user_name(user)):
        reasons.append(
            f"ФИО в сертификате ({cert_name.shown() or 'не указано'}) не совпадает с ФИО сотрудника "
            f"в Битрикс24 ({user_name(user).shown()})."
        )
    if reasons:
        return Decision(CertStatus.PENDING, " ".join(reasons))
    return Decision(CertStatus.ACTIVE)
