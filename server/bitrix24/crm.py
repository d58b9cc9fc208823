"""CRM reads the workflow needs: the deal or company a document belongs to, its contacts' e-mails, and the
counterparty's requisites (ИНН/КПП/ОГРН) that a counterparty signature certificate must match."""

from __future__ import annotations

from typing import Any

import msgspec

from .client import Bitrix24Client
from .convert import emails, int_list, to_bool, to_int, to_str
from .entities import COMPANY, DEAL, CrmKind
from .errors import NotFound

ENTITY_TYPE_CONTACT = 3
ENTITY_TYPE_COMPANY = COMPANY.type_id

REQUISITE_FIELDS = [
    "ID",
    "ENTITY_TYPE_ID",
    "ENTITY_ID",
    "PRESET_ID",
    "NAME",
    "ACTIVE",
    "RQ_INN",
    "RQ_KPP",
    "RQ_OGRN",
    "RQ_OGRNIP",
    "RQ_COMPANY_NAME",
    "RQ_COMPANY_FULL_NAME",
    "RQ_DIRECTOR",
    "RQ_EMAIL",
]


class Deal(msgspec.Struct, frozen=True):
    id: int
    title: str
    company_id: int | None
    contact_ids: list[int]
    assigned_by_id: int | None
    stage_id: str
    opportunity: str
    currency_id: str
    fields: dict[str, Any]  # everything the portal sent, for templates and UF_* fields


class Company(msgspec.Struct, frozen=True):
    id: int
    title: str
    emails: list[str]
    is_my_company: bool
    assigned_by_id: int | None
    fields: dict[str, Any]


class CrmRecord(msgspec.Struct, frozen=True):
    """Any kind's record as the pages and the workflow need it: what to call it and whose company it names."""

    kind: str
    id: int
    title: str
    company_id: int | None  # the counterparty company: the linked one, or the record itself for a company
    fields: dict[str, Any]


class Contact(msgspec.Struct, frozen=True):
    id: int
    name: str
    last_name: str
    second_name: str
    post: str
    company_id: int | None
    emails: list[str]

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.last_name, self.name, self.second_name) if part)


class SmartProcessType(msgspec.Struct, frozen=True):
    """One smart process of ``crm.type.list``: items go by ``entity_type_id``, its user fields by ``id``
    (their ``entityId`` is ``CRM_<id>``)."""

    entity_type_id: int
    id: int
    title: str


class Requisite(msgspec.Struct, frozen=True):
    id: int
    entity_type_id: int
    entity_id: int
    name: str
    active: bool
    inn: str
    kpp: str
    ogrn: str
    ogrnip: str
    company_name: str
    full_name: str
    director: str


def _deal(raw: dict[str, Any]) -> Deal:
    contact_ids = int_list(raw.get("CONTACT_IDS")) or int_list(raw.get("CONTACT_ID"))
    return Deal(
        id=to_int(raw.get("ID"), 0) or 0,
        title=to_str(raw.get("TITLE")),
        company_id=to_int(raw.get("COMPANY_ID")) or None,
        contact_ids=contact_ids,
        assigned_by_id=to_int(raw.get("ASSIGNED_BY_ID")),
        stage_id=to_str(raw.get("STAGE_ID")),
        opportunity=to_str(raw.get("OPPORTUNITY")),
        currency_id=to_str(raw.get("CURRENCY_ID")),
        fields=raw,
    )


def _company(raw: dict[str, Any]) -> Company:
    return Company(
        id=to_int(raw.get("ID"), 0) or 0,
        title=to_str(raw.get("TITLE")),
        emails=emails(raw.get("EMAIL")),
        is_my_company=to_bool(raw.get("IS_MY_COMPANY")),
        assigned_by_id=to_int(raw.get("ASSIGNED_BY_ID")),
        fields=raw,
    )


def _contact(raw: dict[str, Any]) -> Contact:
    return Contact(
        id=to_int(raw.get("ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        last_name=to_str(raw.get("LAST_NAME")),
        second_name=to_str(raw.get("SECOND_NAME")),
        post=to_str(raw.get("POST")),
        company_id=to_int(raw.get("COMPANY_ID")) or None,
        emails=emails(raw.get("EMAIL")),
    )


def _requisite(raw: dict[str, Any]) -> Requisite:
    return Requisite(
        id=to_int(raw.get("ID"), 0) or 0,
        entity_type_id=to_int(raw.get("ENTITY_TYPE_ID"), 0) or 0,
        entity_id=to_int(raw.get("ENTITY_ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        active=to_bool(raw.get("ACTIVE", "Y")),
        inn=to_str(raw.get("RQ_INN")).strip(),
        kpp=to_str(raw.get("RQ_KPP")).strip(),
        ogrn=to_str(raw.get("RQ_OGRN")).strip(),
        ogrnip=to_str(raw.get("RQ_OGRNIP")).strip(),
        company_name=to_str(raw.get("RQ_COMPANY_NAME")),
        full_name=to_str(raw.get("RQ_COMPANY_FULL_NAME")),
        director=to_str(raw.get("RQ_DIRECTOR")),
    )


def _object(method: str, result: Any) -> dict[str, Any]:
    if not isinstance(result, dict) or not result:
        raise NotFound(method, "", "Not found")
    return result


def record_params(kind: CrmKind, entity_id: int) -> dict[str, Any]:
    """The parameters of the kind's `*.get`: the universal crm.item.get also names the entity type."""
    if kind.item_api:
        return {"entityTypeId": kind.type_id, "id": entity_id}
    return {"id": entity_id}


class CrmService:
    """Typed CRM reads over a client. Stateless; cheap to create per request."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    async def deal(self, deal_id: int) -> Deal:
        return _deal(_object(DEAL.get_method, await self.client.call(DEAL.get_method, {"id": deal_id})))

    async def company(self, company_id: int) -> Company:
        raw = await self.client.call(COMPANY.get_method, {"id": company_id})
        return _company(_object(COMPANY.get_method, raw))

    async def record(self, kind: CrmKind, entity_id: int) -> CrmRecord:
        """One record of any registered kind, read with the kind's own `*.get` method."""
        raw = _object(kind.get_method, await self.client.call(kind.get_method, record_params(kind, entity_id)))
        if kind.item_api:
            raw = _object(kind.get_method, raw.get("item"))
        company_id = entity_id if kind.company_field is None else to_int(raw.get(kind.company_field)) or None
        title = " ".join(part for part in (to_str(raw.get(f)).strip() for f in kind.title_fields) if part)
        return CrmRecord(
            kind=kind.code,
            id=to_int(raw.get("ID"), entity_id) or entity_id,
            title=title,
            company_id=company_id,
            fields=raw,
        )

    async def company_deals(self, company_id: int) -> list[tuple[int, str]]:
        """(id, title) of the company's newest deals, one page of the list (50): the company card's roll-up. One page
        keeps a card's opening to one call (and its readers' rights checks to one per deal), however old the
        client; older deals' documents stay on their own cards."""
        rows = await self.client.call(
            "crm.deal.list",
            {"filter": {"COMPANY_ID": company_id}, "select": ["ID", "TITLE"], "order": {"ID": "DESC"}, "start": 0},
        )
        return [(to_int(r.get("ID"), 0) or 0, to_str(r.get("TITLE"))) for r in rows or [] if isinstance(r, dict)]

    async def smart_process_types(self) -> list[SmartProcessType]:
        """The portal's smart processes (crm.type.list answers {"types": [...]})."""
        answer = await self.client.call("crm.type.list", {"order": {"entityTypeId": "ASC"}})
        types = answer.get("types") if isinstance(answer, dict) else None
        return [
            SmartProcessType(to_int(t.get("entityTypeId"), 0) or 0, to_int(t.get("id"), 0) or 0, to_str(t.get("title")))
            for t in types or []
            if isinstance(t, dict)
        ]

    async def my_companies(self) -> list[Company]:
        """The portal's own companies (``IS_MY_COMPANY = Y``): whose requisites say which ИНН is "us"."""
        rows = await self.client.list_all(
            "crm.company.list",
            {"filter": {"IS_MY_COMPANY": "Y"}, "select": ["ID", "TITLE", "IS_MY_COMPANY"], "order": {"ID": "ASC"}},
        )
        return [c for c in (_company(r) for r in rows if isinstance(r, dict)) if c.is_my_company and c.id]

    async def counterparty_company_id(self, kind: CrmKind, entity_id: int) -> int | None:
        """The company a record's counterparty is; a company is its own, so that costs no call."""
        if kind.company_field is None:
            return entity_id
        return (await self.record(kind, entity_id)).company_id

    async def record_contacts(self, kind: CrmKind, entity_id: int) -> list[Contact]:
        """The contacts of a record (primary first); a contact record is its own only contact."""
        if kind.item_api:
            fields = (await self.record(kind, entity_id)).fields
            return await self.contacts(int_list(fields.get("contactIds")) or int_list(fields.get("contactId")))
        if kind.contacts_method is None:
            return await self.contacts([entity_id])
        return await self.contacts(await self._linked_contact_ids(kind.contacts_method, entity_id))

    async def contact(self, contact_id: int) -> Contact:
        raw = await self.client.call("crm.contact.get", {"id": contact_id})
        return _contact(_object("crm.contact.get", raw))

    async def contacts(self, contact_ids: list[int]) -> list[Contact]:
        """Several contacts with their e-mails in one `batch`; missing ones are skipped."""
        if not contact_ids:
            return []
        outcome = await self.client.batch([("crm.contact.get", {"id": cid}) for cid in contact_ids])
        found: list[Contact] = []
        for index in range(len(contact_ids)):
            raw = outcome.results.get(str(index))
            if str(index) in outcome.errors and not isinstance(outcome.errors[str(index)], NotFound):
                raise outcome.errors[str(index)]
            if isinstance(raw, dict) and raw:
                found.append(_contact(raw))
        return found

    async def _linked_contact_ids(self, method: str, owner_id: int) -> list[int]:
        rows = await self.client.call(method, {"id": owner_id}) or []
        rows = sorted(
            (r for r in rows if isinstance(r, dict)),
            key=lambda r: (not to_bool(r.get("IS_PRIMARY")), to_int(r.get("SORT"), 0) or 0),
        )
        return [cid for cid in (to_int(r.get("CONTACT_ID")) for r in rows) if cid]

    async def deal_contacts(self, deal_id: int) -> list[Contact]:
        """All contacts of a deal (primary first), with e-mails. `CONTACT_ID` on the deal is deprecated."""
        return await self.record_contacts(DEAL, deal_id)

    async def company_contacts(self, company_id: int) -> list[Contact]:
        return await self.record_contacts(COMPANY, company_id)

    async def requisites(self, entity_type_id: int, entity_id: int) -> list[Requisite]:
        """Requisites of a company (4) or contact (3), active ones first."""
        rows = await self.client.list_all(
            "crm.requisite.list",
            {
                "filter": {"ENTITY_TYPE_ID": entity_type_id, "ENTITY_ID": entity_id},
                "select": REQUISITE_FIELDS,
                "order": {"ID": "ASC"},
            },
        )
        found = [_requisite(row) for row in rows if isinstance(row, dict)]
        found.sort(key=lambda r: not r.active)
        return found

    async def company_requisites(self, company_id: int) -> list[Requisite]:
        return await self.requisites(ENTITY_TYPE_COMPANY, company_id)
