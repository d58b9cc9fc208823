"""«Статус ЭДО (KlikDok)» on a smart process's items (issue 17): the field made with ``userfieldconfig.add`` at
install, kept in step through ``crm.item.update`` (camelCase names), and the rejection trigger fired for the
item, since smart processes have automation rules. ``klikdok serve`` on the portal emulator over HTTP; the value
is read back with the portal's own ``crm.item.get`` and filtered with ``crm.item.list``."""

from __future__ import annotations

from typing import Any

from demo import emulator_crmstatus, emulator_userfieldconfig
from demo.emulator_visibility import SMART_TYPE_ID
from tests.crm.test_crm_status import rest
from tests.crm.visibility_fixtures import crm_kd_fixture  # noqa: F401 - the crm_kd fixture, used by name
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, Klikdok, wait_for

PDF = b"%PDF-1.4 smart process status\n"
ITEM = (f"dynamic_{SMART_TYPE_ID}", 1)
KEY = "ufCrm7KlikdokStatus"  # UF_CRM_7_KLIKDOK_STATUS, crm.type id 7 being entityTypeId 1038


def _item(kd: Klikdok, item_id: int) -> dict[str, Any]:
    return dict(rest(kd.emu, "crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": item_id})["item"])


def _label(kd: Klikdok, item_id: int) -> str | None:
    (field,) = emulator_userfieldconfig.fields_of(kd.emu.state, "CRM_7")
    labels = {int(i["id"]): i["value"] for i in field["enum"]}
    value = _item(kd, item_id).get(KEY)
    return labels[int(value)] if value else None


def test_the_items_field_follows_the_document_and_the_trigger_fires(crm_kd: Klikdok) -> None:
    kd = crm_kd
    (field,) = emulator_userfieldconfig.fields_of(kd.emu.state, "CRM_7")
    assert field["fieldName"] == "UF_CRM_7_KLIKDOK_STATUS" and field["showFilter"] == "Y"
    problems = kd.query("SELECT details FROM audit_log WHERE action = 'portal.install_problems'")
    assert not [p for (p,) in problems if "Статус ЭДО" in p], problems

    doc = kd.create(DIRECTOR, ITEM, {"Спецификация.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Спецификация")
    wait_for(lambda: _label(kd, 1) == "На подписи", what="the item showing «На подписи»")
    rejected = kd.api("POST", f"/documents/{doc}/reject", CHIEF_ACCOUNTANT, json={"reason": "Не та спецификация"})
    assert rejected.status_code == 200, rejected.text
    wait_for(lambda: _label(kd, 1) == "Отклонён", what="the item showing «Отклонён»")
    wait_for(
        lambda: (
            [(e["CODE"], e["OWNER_TYPE_ID"], e["OWNER_ID"]) for e in emulator_crmstatus.executions(kd.emu.state)]
            == [("klikdok_rejected", SMART_TYPE_ID, 1)]
        ),
        what="the rejection trigger on the item",
    )
    # The field filters the smart process's list like any other field; the other item has no value.
    item = next(int(i["id"]) for i in field["enum"] if i["value"] == "Отклонён")
    listed = rest(kd.emu, "crm.item.list", {"entityTypeId": SMART_TYPE_ID, "filter": {KEY: item}})
    assert [i["id"] for i in listed["items"]] == [1]
    assert _item(kd, 2).get(KEY) is None
