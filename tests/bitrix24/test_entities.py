"""The registry of CRM entity kinds, checked against the portal emulator kind by kind.

Every entry must work end to end: read its record, find its counterparty company and contacts, bind its tab and
make its Disk folder. `EXPECTED` holds what the emulator's seed says for one record of each kind, so a new kind
cannot be registered without a case here.
"""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import httpx
import pytest

from demo.emulator_visibility import SMART_TYPE_ID
from demo.portal_emulator import PortalEmulator
from demo.portal_state import _TIMELINE_TYPES as EMULATOR_TIMELINE_TABLES
from server.bitrix24 import ApplicationService, Bitrix24Client, CrmService, DiskService, Messenger
from server.bitrix24.entities import CODES, KINDS, CrmKind, UnknownKind, kind_for_placement, kind_of, smart_process

# Every fixed kind and one smart process's kind (the seed's «Договоры поставки»): all go through the same tests.
ALL_KINDS = (*KINDS, smart_process(SMART_TYPE_ID))

ROOT = Path(__file__).resolve().parents[2]

# code -> (record id, title, counterparty company id, its contacts' full names) from demo/bitrix24_seed.py
EXPECTED: dict[str, tuple[int, str, int | None, list[str]]] = {
    "deal": (1, "Поставка серверного оборудования", 2, ["Орлов Дмитрий Сергеевич", "Белова Анна Игоревна"]),
    "company": (3, "АО «Технопарк Восток»", 3, ["Фёдоров Николай Ильич"]),
    "contact": (2, "Белова Анна Игоревна", 2, ["Белова Анна Игоревна"]),
    f"dynamic_{SMART_TYPE_ID}": (1, "Поставка оборудования на 2026 год", 2, ["Орлов Дмитрий Сергеевич"]),
}


def test_every_kind_has_a_case_and_its_own_code_placement_and_folder() -> None:
    assert set(EXPECTED) == CODES | {f"dynamic_{SMART_TYPE_ID}"}
    for attribute in ("code", "type_id", "placement", "get_method", "disk_group"):
        values = [getattr(kind, attribute) for kind in ALL_KINDS]
        assert len(set(values)) == len(values), attribute
    for kind in KINDS:
        assert kind_of(kind.code) is kind
        assert kind_for_placement(kind.placement) is kind
    for kind in ALL_KINDS:
        assert "{id}" in kind.disk_folder
    smart = smart_process(SMART_TYPE_ID)
    assert kind_of(smart.code) == smart and kind_for_placement(f"CRM_DYNAMIC_{SMART_TYPE_ID}_DETAIL_TAB") == smart


def test_unknown_kinds_are_refused() -> None:
    for code in ("", "lead", "Deal", "dynamic_", "dynamic_5", "dynamic_0130", "dynamic_x", "dynamic_-130"):
        with pytest.raises(UnknownKind):
            kind_of(code)
    for placement in ("CRM_LEAD_DETAIL_TAB", "CRM_DYNAMIC_5_DETAIL_TAB", "CRM_DYNAMIC__DETAIL_TAB", "DEFAULT"):
        assert kind_for_placement(placement) is None


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.code)
async def test_each_kind_reads_its_record_company_and_contacts(
    portal: PortalEmulator, client: Bitrix24Client, kind: CrmKind
) -> None:
    entity_id, title, company_id, contact_names = EXPECTED[kind.code]
    crm = CrmService(client)
    record = await crm.record(kind, entity_id)
    assert (record.kind, record.id, record.title, record.company_id) == (kind.code, entity_id, title, company_id)
    assert await crm.counterparty_company_id(kind, entity_id) == company_id
    assert [c.full_name for c in await crm.record_contacts(kind, entity_id)] == contact_names


async def test_a_deal_without_a_company_has_no_counterparty_company(
    portal: PortalEmulator, client: Bitrix24Client
) -> None:
    deal = kind_of("deal")
    assert (await CrmService(client).record(deal, 4)).company_id is None  # the seed's deal 4 has COMPANY_ID "0"


@pytest.mark.parametrize("kind", ALL_KINDS, ids=lambda k: k.code)
async def test_each_kind_binds_its_tab_on_its_card_and_gets_its_disk_folder(
    portal: PortalEmulator, client: Bitrix24Client, kind: CrmKind
) -> None:
    entity_id, title, _, _ = EXPECTED[kind.code]
    app = ApplicationService(client)
    assert await app.bind(kind.placement, "https://klikdok.example/b24/tab", "ЭДО") is True
    assert [b.placement for b in await app.bindings()] == [kind.placement]
    # The card the notifications link to is the one that opens our tab for this record.
    page = httpx.get(f"{portal.base_url}{kind.card_path.format(id=entity_id)}", params={"user": 1})
    assert page.status_code == 200 and html.escape(title, quote=False) in page.text
    fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page.text))
    assert fields["PLACEMENT"] == kind.placement
    assert json.loads(html.unescape(fields["PLACEMENT_OPTIONS"]))["ID"] == str(entity_id)
    # Timeline comments land on the same record.
    await Messenger(client).timeline_comment(kind.timeline_type, entity_id, "KlikDok: проверка")
    [comment] = portal.state.timeline_comments
    assert (comment["ENTITY_ID"], comment["COMMENT"]) == (entity_id, "KlikDok: проверка")
    if kind.item_api:
        assert comment["ENTITY_TYPE"] == f"dynamic_{kind.type_id}"
        assert portal.state.items[(kind.type_id, entity_id)]["title"] == title
    else:
        records = getattr(portal.state, EMULATOR_TIMELINE_TABLES[comment["ENTITY_TYPE"]])
        assert (await CrmService(client).record(kind, entity_id)).fields["ID"] == records[entity_id]["ID"]

    folder_id = await DiskService(client).entity_folder(kind.code, 7)
    folders = portal.state.folders
    names = []
    current: int | None = folder_id
    while current is not None and current in folders:
        names.append(folders[current]["NAME"])
        current = folders[current].get("PARENT_ID") and int(folders[current]["PARENT_ID"])
    assert names[:3] == [kind.disk_folder.format(id=7), kind.disk_group, "KlikDok"]


async def test_an_unknown_kind_gets_no_disk_folder(portal: PortalEmulator, client: Bitrix24Client) -> None:
    before = dict(portal.state.folders)
    with pytest.raises(UnknownKind):
        await DiskService(client).entity_folder("lead", 1)
    assert portal.state.folders == before


def test_kind_codes_are_spelled_only_in_the_registry() -> None:
    """Adding a kind must mean one entry: no other server module, template or script may branch on a code."""
    allowed = {ROOT / "server" / "bitrix24" / "entities.py", ROOT / "server" / "db" / "migrations.py"}
    pattern = re.compile("|".join(rf"""["']{re.escape(code)}["']""" for code in sorted(CODES)))
    found = [
        f"{path.relative_to(ROOT)}:{n}: {line.strip()}"
        for path in sorted((ROOT / "server").rglob("*"))
        if path.suffix in (".py", ".html", ".js") and path not in allowed
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert found == []
