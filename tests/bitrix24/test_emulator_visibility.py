"""The emulator's CRM read rights and smart processes, seen through the real client: what KlikDok's visibility
rests on must be refused and answered as the portal does (demo/emulator_visibility.py says where from)."""

from __future__ import annotations

import pytest

from demo.emulator_visibility import SMART_TYPE_ID
from demo.portal_emulator import PortalEmulator
from server.bitrix24 import Bitrix24Client, CrmService
from server.bitrix24.crm import SmartProcessType
from server.bitrix24.errors import AccessDenied, InvalidArgument, NotFound


def user_token(portal: PortalEmulator, user_id: int) -> str:
    return portal.state.placement_form(user_id, "DEFAULT")["AUTH_ID"]


async def as_user(client: Bitrix24Client, portal: PortalEmulator, user_id: int, method: str, params: dict) -> object:  # type: ignore[type-arg]  # REST parameters of any shape
    return await client.call(method, params, auth=user_token(portal, user_id), endpoint=f"{portal.base_url}/rest/")


async def test_a_user_reads_what_they_are_responsible_for_or_observe(
    portal: PortalEmulator, client: Bitrix24Client
) -> None:
    # Deal 1: responsible 4, observed by 6; user 7 has nothing to do with it; user 1 is an admin.
    for user in (1, 4, 6):
        deal = await as_user(client, portal, user, "crm.deal.get", {"id": 1})
        assert isinstance(deal, dict) and deal["ID"] == "1" and "_OBSERVERS" not in deal
    with pytest.raises(AccessDenied) as refused:
        await as_user(client, portal, 7, "crm.deal.get", {"id": 1})
    assert (refused.value.code, refused.value.description, refused.value.status) == ("", "Access denied.", 400)
    with pytest.raises(AccessDenied):
        await as_user(client, portal, 7, "crm.contact.get", {"id": 1})  # contacts are Морозова's
    portal.state.users[7]["_CRM_READ"] = "all"  # a role that reads everything
    assert isinstance(await as_user(client, portal, 7, "crm.deal.get", {"id": 1}), dict)


async def test_smart_process_items_and_types(portal: PortalEmulator, client: Bitrix24Client) -> None:
    types = await CrmService(client).smart_process_types()
    assert types == [SmartProcessType(entity_type_id=SMART_TYPE_ID, id=7, title="Договоры поставки")]
    answer = await client.call("crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": 1})
    assert answer["item"]["title"] == "Поставка оборудования на 2026 год" and answer["item"]["companyId"] == 2
    listed = await client.call("crm.item.list", {"entityTypeId": SMART_TYPE_ID, "filter": {"companyId": 3}})
    assert [i["id"] for i in listed["items"]] == [2]
    with pytest.raises(AccessDenied) as refused:
        await as_user(client, portal, 7, "crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": 1})
    assert (refused.value.code, refused.value.status) == ("ACCESS_DENIED", 403)
    assert isinstance(await as_user(client, portal, 4, "crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": 1}), dict)
    mine = await as_user(client, portal, 4, "crm.item.list", {"entityTypeId": SMART_TYPE_ID})
    assert isinstance(mine, dict) and [i["id"] for i in mine["items"]] == [1]  # a list leaves out, never refuses
    with pytest.raises(NotFound):
        await client.call("crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": 99})
    with pytest.raises(InvalidArgument):  # the schema's required entityTypeId
        await client.call("crm.item.get", {"id": 1})
    with pytest.raises(InvalidArgument):  # a parameter the schema does not know
        await client.call("crm.item.get", {"entityTypeId": SMART_TYPE_ID, "id": 1, "select": ["id"]})
    with pytest.raises(AccessDenied):  # crm.type.list: «административным доступом к разделу CRM»
        await as_user(client, portal, 4, "crm.type.list", {})
