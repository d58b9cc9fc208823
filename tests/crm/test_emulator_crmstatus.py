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
