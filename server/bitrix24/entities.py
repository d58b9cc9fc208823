"""The CRM entity kinds a document can belong to: one entry per kind, and nothing else in the server knows them.

Why one registry: a document is opened from the "ЭДО" tab of a CRM card, and the kind of that card decides the
placement to bind, the words on the pages, the REST method that reads the record, the Disk folder its files go
to and where the counterparty (the company, its requisites, its contacts) is found.

How to add a kind: a fixed kind (deal, company, contact) is one more `CrmKind` in `KINDS` plus its case in
tests/bitrix24/test_entities.py. Smart-process items are not listed: there is one kind per smart process
(`entityTypeId` 128 and up), made by :func:`smart_process` on demand, with the code ``dynamic_<entityTypeId>``
and the placement ``CRM_DYNAMIC_<entityTypeId>_DETAIL_TAB``; the admin says which ones get the tab
(``[crm] smart_processes``), and the tab is bound for those at install. Their records are read with the universal
`crm.item.get` (``item_api``: it takes the entityTypeId and answers {"item": …} in camelCase).
`code` is what the database and the API store, so an existing entry's code never changes; `kind_of` is the check
on it (a CHECK in the schema would make every new kind a table rebuild).

This module lives in `server.bitrix24` and imports nothing, so the portal, the workflow and the pages may all
import it without a cycle.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CrmKind:
    code: str
    """Stored in `documents.entity_type` and accepted by the API."""
    type_id: int
    """Bitrix's CRM entityTypeId (deal 2, contact 3, company 4; smart processes 128 and up)."""
    placement: str
    """The detail-card tab placement the app binds to."""
    label: str
    """Nominative, capitalised: «Сделка №5», «Сделка «Поставка»»."""
    genitive: str
    """«карточка сделки»."""
    this_dative: str
    """«Документов по этой сделке пока нет» (the demonstrative agrees in gender: «этому контакту»)."""
    genitive_plural: str
    """«в карточках сделок и компаний»."""
    get_method: str
    """The REST method that reads one record by {"id": …}."""
    title_fields: tuple[str, ...]
    """Fields that, joined by spaces, name the record («Поставка»; a contact's LAST_NAME, NAME, SECOND_NAME)."""
    company_field: str | None
    """The record's field holding the counterparty company's id; None when the record is the company itself."""
    contacts_method: str | None
    """The `*.contact.items.get` method listing the record's contacts; None when the record is the contact."""
    timeline_type: str
    """ENTITY_TYPE of `crm.timeline.comment.*` for this kind (a smart process would say "dynamic_<type_id>")."""
    card_path: str
    """The card's address on the portal, relative to its origin and formatted with `id` (notification links)."""
    disk_group: str
    """Folder under KlikDok/ that holds one folder per record of this kind."""
    disk_folder: str
    """One record's Disk folder name, formatted with `id`."""
    item_api: bool = False
    """Read with `crm.item.get` (entityTypeId = `type_id`, camelCase fields, contacts in `contactIds`)."""

    @property
    def card_name(self) -> str:
        return f"карточка {self.genitive}"


DEAL = CrmKind(
    code="deal",
    type_id=2,
    placement="CRM_DEAL_DETAIL_TAB",
    timeline_type="deal",
    card_path="/crm/deal/details/{id}/",
    label="Сделка",
    genitive="сделки",
    this_dative="этой сделке",
    genitive_plural="сделок",
    get_method="crm.deal.get",
    title_fields=("TITLE",),
    company_field="COMPANY_ID",
    contacts_method="crm.deal.contact.items.get",
    disk_group="Сделки",
    disk_folder="Сделка №{id}",
)
COMPANY = CrmKind(
    code="company",
    type_id=4,
    placement="CRM_COMPANY_DETAIL_TAB",
    timeline_type="company",
    card_path="/crm/company/details/{id}/",
    label="Компания",
    genitive="компании",
    this_dative="этой компании",
    genitive_plural="компаний",
    get_method="crm.company.get",
    title_fields=("TITLE",),
    company_field=None,
    contacts_method="crm.company.contact.items.get",
    disk_group="Компании",
    disk_folder="Компания №{id}",
)

CONTACT = CrmKind(
    code="contact",
    type_id=3,
    placement="CRM_CONTACT_DETAIL_TAB",
    timeline_type="contact",
    card_path="/crm/contact/details/{id}/",
    label="Контакт",
    genitive="контакта",
    this_dative="этому контакту",
    genitive_plural="контактов",
    get_method="crm.contact.get",
    title_fields=("LAST_NAME", "NAME", "SECOND_NAME"),
    company_field="COMPANY_ID",
    contacts_method=None,
    disk_group="Контакты",
    disk_folder="Контакт №{id}",
)

KINDS: tuple[CrmKind, ...] = (DEAL, COMPANY, CONTACT)
BY_CODE: dict[str, CrmKind] = {k.code: k for k in KINDS}
BY_PLACEMENT: dict[str, CrmKind] = {k.placement: k for k in KINDS}
CODES: frozenset[str] = frozenset(BY_CODE)
SMART_PROCESS_MIN_TYPE_ID = 128  # Bitrix numbers user-defined types from 128 (crm.type.list's entityTypeId)
_DYNAMIC_PREFIX = "dynamic_"


def smart_process(type_id: int) -> CrmKind:
    """The kind of one smart process's items; every text is generic («элемент смарт-процесса»), because the
    process's own name lives on the portal (crm.type.list) and may change there."""
    if type_id < SMART_PROCESS_MIN_TYPE_ID:
        raise UnknownKind(f"{_DYNAMIC_PREFIX}{type_id}")
    return CrmKind(
        code=f"{_DYNAMIC_PREFIX}{type_id}",
        type_id=type_id,
        placement=f"CRM_DYNAMIC_{type_id}_DETAIL_TAB",
        timeline_type=f"dynamic_{type_id}",
        card_path=f"/crm/type/{type_id}/details/{{id}}/",
        label="Элемент смарт-процесса",
        genitive="элемента смарт-процесса",
        this_dative="этому элементу",
        genitive_plural="элементов смарт-процессов",
        get_method="crm.item.get",
        title_fields=("title",),
        company_field="companyId",
        contacts_method=None,
        disk_group="Смарт-процессы",
        disk_folder=f"Смарт-процесс {type_id}, элемент №{{id}}",
        item_api=True,
    )


class UnknownKind(ValueError):
    """A code no entry defines (a forged form or a row written by a newer version)."""


def kind_of(code: str) -> CrmKind:
    """The entry for a stored or submitted code; the only check on `documents.entity_type` values."""
    try:
        return BY_CODE[code]
    except KeyError:
        pass
    number = code.removeprefix(_DYNAMIC_PREFIX)
    if code.startswith(_DYNAMIC_PREFIX) and number.isdigit() and number == str(int(number)):
        return smart_process(int(number))
    raise UnknownKind(code)


def kind_for_placement(placement: str) -> CrmKind | None:
    """The kind whose tab a placement is: a fixed kind's, or CRM_DYNAMIC_<entityTypeId>_DETAIL_TAB."""
    if placement in BY_PLACEMENT:
        return BY_PLACEMENT[placement]
    middle = placement.removeprefix("CRM_DYNAMIC_").removesuffix("_DETAIL_TAB")
    if placement.startswith("CRM_DYNAMIC_") and placement.endswith("_DETAIL_TAB") and middle.isdigit():
        try:
            return smart_process(int(middle))
        except UnknownKind:
            return None
    return None


def is_known(code: str) -> bool:
    try:
        kind_of(code)
    except UnknownKind:
        return False
    return True


def cards_phrase(conjunction: str = "и") -> str:
    """«сделки или компании» — the kinds' genitives joined, for texts that speak of every kind at once."""
    return _joined([k.genitive for k in KINDS], conjunction)


def cards_plural_phrase(conjunction: str = "и") -> str:
    """«сделок и компаний»."""
    return _joined([k.genitive_plural for k in KINDS], conjunction)


def _joined(words: list[str], conjunction: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} {conjunction} {words[-1]}"
