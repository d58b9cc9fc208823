"""The emulator's user field and trigger methods refuse what the portal refuses: a missing required parameter, an
unknown one, a webhook where an application is required, a value that is not one of the list's items."""

from __future__ import annotations

from typing import Any

import httpx

from demo import emulator_crmstatus
from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig


def call(emu: PortalEmulator, method: str, params: dict[str, Any], *, app: bool = True) -> httpx.Response:
    if app:
        token = emu.state.issue_tokens(1)["access_token"]
        return httpx.post(f"{emu.state.rest_url}{method}", json={**params, "auth": token}, timeout=30)
    return httpx.post(emu.state.webhook_url + method, json=params, timeout=30)


def test_refusals_and_answers(portal_server: PortalEmulator) -> None:
    emu = portal_server
    emu.state.reset(EmulatorConfig())
    field = {"USER_TYPE_ID": "enumeration", "FIELD_NAME": "STATUS", "LIST": [{"VALUE": "А"}, {"VALUE": "Б"}]}
    added = call(emu, "crm.deal.userfield.add", {"fields": field})
    assert added.status_code == 200 and isinstance(added.json()["result"], int)
    assert call(emu, "crm.deal.userfield.add", {"fields": field}).status_code == 400  # the code is taken
    assert call(emu, "crm.deal.userfield.add", {}).status_code == 400  # fields is required
    (row,) = call(emu, "crm.deal.userfield.list", {"filter": {"FIELD_NAME": "UF_CRM_STATUS"}}).json()["result"]
    assert [i["VALUE"] for i in row["LIST"]] == ["А", "Б"] and all(isinstance(i["ID"], str) for i in row["LIST"])

    item = row["LIST"][1]["ID"]
    assert call(emu, "crm.deal.update", {"id": 2, "fields": {"UF_CRM_STATUS": "999999"}}).status_code == 400
    assert call(emu, "crm.deal.update", {"id": 2, "fields": {"UF_CRM_STATUS": item}}).json()["result"] is True
    assert call(emu, "crm.deal.get", {"id": 2}).json()["result"]["UF_CRM_STATUS"] == item
    assert "UF_CRM_STATUS" not in call(emu, "crm.deal.list", {"filter": {"ID": 2}}).json()["result"][0]
    assert call(emu, "crm.deal.list", {"filter": {"ID": 2}, "select": ["ID", "UF_*"]}).json()["result"] == [
        {"ID": "2", "UF_CRM_STATUS": item}
    ]

    assert call(emu, "crm.automation.trigger.add", {"CODE": "x_done", "NAME": "Готово"}, app=False).status_code == 403
    assert call(emu, "crm.automation.trigger.add", {"CODE": "x_done"}).status_code == 400  # NAME is required
    assert call(emu, "crm.automation.trigger.add", {"CODE": "x_done", "NAME": "Готово", "X": 1}).status_code == 400
    assert call(emu, "crm.automation.trigger.add", {"CODE": "x_done", "NAME": "Готово"}).json()["result"] is True
    target = {"CODE": "x_done", "OWNER_TYPE_ID": 2, "OWNER_ID": 2}
    assert call(emu, "crm.automation.trigger.execute", {**target, "CODE": "nope"}).status_code == 400
    assert call(emu, "crm.automation.trigger.execute", {**target, "OWNER_TYPE_ID": 4}).status_code == 400
    assert call(emu, "crm.automation.trigger.execute", target).json()["result"] is True
    assert emulator_crmstatus.executions(emu.state) == [target]
    assert call(emu, "crm.automation.trigger.delete", {"CODE": "x_done"}).json()["result"] is True
    assert call(emu, "crm.automation.trigger.execute", target).status_code == 400


def test_smart_process_fields_follow_the_userfieldconfig_pages(portal_server: PortalEmulator) -> None:
    """userfieldconfig.add/list/get and crm.item.update, as their official pages describe them."""
    emu = portal_server
    emu.state.reset(EmulatorConfig())
    (smart,) = emu.state.smart_types
    entity = f"CRM_{smart['id']}"
    name = f"UF_{entity}_STAGE_NOTE"
    field = {
        "entityId": entity,
        "fieldName": name,
        "userTypeId": "enumeration",
        "enum": [{"value": "А", "xmlId": "a"}, {"value": "Б", "xmlId": "b"}],
    }
    assert call(emu, "userfieldconfig.add", {"field": field}).status_code == 400  # moduleId is required
    assert call(emu, "userfieldconfig.add", {"moduleId": "crm", "field": field, "foo": 1}).status_code == 400
    wrong = call(emu, "userfieldconfig.add", {"moduleId": "crm", "field": {**field, "fieldName": "UF_CRM_NOTE"}})
    assert wrong.status_code == 400 and "не можете создавать" in wrong.json()["error_description"]
    nameless = call(emu, "userfieldconfig.add", {"moduleId": "crm", "field": {**field, "fieldName": ""}})
    assert nameless.json()["error_description"] == "The 'FIELD_NAME' field is not found."
    added = call(emu, "userfieldconfig.add", {"moduleId": "crm", "field": field})
    assert added.status_code == 200, added.text
    made = added.json()["result"]["field"]
    assert made["fieldName"] == name and isinstance(made["id"], str)
    assert [(i["value"], i["xmlId"], i["userFieldId"]) for i in made["enum"]] == [
        ("А", "a", made["id"]),
        ("Б", "b", made["id"]),
    ]
    assert call(emu, "userfieldconfig.add", {"moduleId": "crm", "field": field}).status_code == 400  # taken

    listed = call(emu, "userfieldconfig.list", {"moduleId": "crm", "filter": {"fieldName": name}}).json()
    assert [f["id"] for f in listed["result"]["fields"]] == [made["id"]] and listed["total"] == 1
    assert "enum" not in listed["result"]["fields"][0]  # only get gives the items
    got = call(emu, "userfieldconfig.get", {"moduleId": "crm", "id": int(made["id"])}).json()["result"]["field"]
    assert got["enum"] == made["enum"]
    assert call(emu, "userfieldconfig.get", {"moduleId": "crm", "id": 1}).status_code == 400

    key = "ufCrm" + str(smart["id"]) + "StageNote"
    type_id = smart["entityTypeId"]
    bad = call(emu, "crm.item.update", {"entityTypeId": type_id, "id": 1, "fields": {key: "999999"}})
    assert bad.status_code == 400
    assert call(emu, "crm.item.update", {"id": 1, "fields": {key: "1"}}).status_code == 400  # entityTypeId
    item_id = made["enum"][1]["id"]
    done = call(emu, "crm.item.update", {"entityTypeId": type_id, "id": 1, "fields": {key: item_id}})
    assert done.status_code == 200 and done.json()["result"]["item"][key] == int(item_id)
    assert call(emu, "crm.item.get", {"entityTypeId": type_id, "id": 1}).json()["result"]["item"][key] == int(item_id)
