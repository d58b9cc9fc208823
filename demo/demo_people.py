"""Who is who in the demo: the seed's users by role, and the people who hold a demo key.

The roles name users of :mod:`demo.bitrix24_seed` (the banner shows how to open the portal as each); the key
holders are the seed's signers and the director of the counterparty of the demo deal, their names, e-mails and
companies read from the seed so a certificate matches what the server compares it with.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import bitrix24_seed

# The deal the story starts from: its company is the counterparty, its first contact signs for it.
DEAL_ID = 1

# (role key, Russian label, seed user id). The auditor is made one by the launcher's [policy] in the demo.
ROLES: list[tuple[str, str, int]] = [
    ("manager", "менеджер (автор документа)", 4),
    ("director", "генеральный директор (подписант)", 1),
    ("accountant", "главный бухгалтер (подписант)", 5),
    ("head", "руководитель отдела продаж", 2),
    ("auditor", "аудитор", 6),
]
SIGNERS = ("director", "accountant", "head")
COUNTERPARTY = "counterparty"


def role_user(role: str) -> int:
    for key, _, uid in ROLES:
        if key == role:
            return uid
    raise KeyError(role)


@dataclass(frozen=True)
class Organisation:
    name: str
    inn: str
    ogrn: str


@dataclass(frozen=True)
class KeyHolder:
    key_name: str
    user_id: int | None  # None: the counterparty (no portal account)
    last_name: str
    first_name: str
    middle_name: str
    title: str
    email: str
    organisation: Organisation
    snils: str
    inn: str

    @property
    def full_name(self) -> str:
        return f"{self.last_name} {self.first_name} {self.middle_name}".strip()

    def subject(self) -> str:
        return subject(
            C="RU",
            L="Москва",
            O=self.organisation.name,
            title=self.title,
            SN=self.last_name,
            GN=f"{self.first_name} {self.middle_name}".strip(),
            CN=self.full_name,
            emailAddress=self.email,
            INNLE=self.organisation.inn,
            OGRN=self.organisation.ogrn,
            SNILS=self.snils,
            INN=self.inn,
        )


def subject(**fields: str) -> str:
    """An ``openssl -subj`` string from OpenSSL short names (CN, O, INN, INNLE, OGRN, SNILS...)."""
    return "".join(f"/{k}={v.replace('/', chr(92) + '/')}" for k, v in fields.items() if v)


def snils(first9: str) -> str:
    """A СНИЛС with a valid check number (fictional, like the seed's requisites)."""
    total = sum(int(d) * w for d, w in zip(first9, range(9, 0, -1), strict=True))
    check = total if total < 100 else (0 if total in (100, 101) else total % 101)
    return first9 + f"{0 if check == 100 else check:02d}"


def _requisite(company_id: int) -> dict[str, Any]:
    for row in bitrix24_seed.requisites():
        if row["ENTITY_ID"] == str(company_id):
            return row
    raise KeyError(company_id)


def own_company() -> Organisation:
    """The portal's own company (IS_MY_COMPANY) with the ИНН/ОГРН of its requisites."""
    company = next(c for c in bitrix24_seed.companies() if c["IS_MY_COMPANY"] == "Y")
    rq = _requisite(int(company["ID"]))
    return Organisation(rq["RQ_COMPANY_NAME"], rq["RQ_INN"], rq["RQ_OGRN"])


def counterparty_company() -> Organisation:
    deal = next(d for d in bitrix24_seed.deals() if d["ID"] == str(DEAL_ID))
    rq = _requisite(int(deal["COMPANY_ID"]))
    return Organisation(rq["RQ_COMPANY_NAME"], rq["RQ_INN"], rq["RQ_OGRN"])


def _deal_contact() -> dict[str, Any]:
    deal = next(d for d in bitrix24_seed.deals() if d["ID"] == str(DEAL_ID))
    return next(c for c in bitrix24_seed.contacts() if c["ID"] == str(deal["_CONTACT_IDS"][0]))


def counterparty_email() -> str:
    """Where the server sends the deal's counterparty its link: the company's first e-mail in the CRM, else the
    first contact's (server/workflow/intake.py reads them in that order)."""
    deal = next(d for d in bitrix24_seed.deals() if d["ID"] == str(DEAL_ID))
    company = next(c for c in bitrix24_seed.companies() if c["ID"] == deal["COMPANY_ID"])
    emails = company.get("EMAIL") or _deal_contact()["EMAIL"]
    return str(emails[0]["VALUE"])


def key_holders(company: Organisation | None = None) -> list[KeyHolder]:
    """The demo signers (from the seed's users) and the counterparty's director (the deal's first contact)."""
    company = company or own_company()
    users = {int(u["ID"]): u for u in bitrix24_seed.users()}
    out = []
    for n, role in enumerate(SIGNERS):
        u = users[role_user(role)]
        out.append(
            KeyHolder(
                key_name=role,
                user_id=int(u["ID"]),
                last_name=u["LAST_NAME"],
                first_name=u["NAME"],
                middle_name=u["SECOND_NAME"],
                title=u["WORK_POSITION"],
                email=u["EMAIL"],
                organisation=company,
                snils=snils(f"1234567{n + 1:02d}"),
                inn=bitrix24_seed.inn12(f"77000000{n + 1:02d}"),
            )
        )
    contact = _deal_contact()
    out.append(
        KeyHolder(
            key_name=COUNTERPARTY,
            user_id=None,
            last_name=contact["LAST_NAME"],
            first_name=contact["NAME"],
            middle_name=contact["SECOND_NAME"],
            title=contact["POST"],
            email=str(contact["EMAIL"][0]["VALUE"]),
            organisation=counterparty_company(),
            snils=snils("987654321"),
            inn=bitrix24_seed.inn12("5000000001"),
        )
    )
    return out
