"""The field is made for every kind of the entity registry, not just deals and companies: a contact kind (as the
visibility part adds it) gets its field through ``crm.contact.userfield.*``, and each enabled smart process
through ``userfieldconfig.*`` (its own field name, ``UF_CRM_<crm.type id>_…``). Against the portal emulator over
HTTP with the installing admin's tokens."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from demo import emulator_crmstatus, emulator_userfieldconfig
from demo.emulator_visibility import SMART_TYPE_ID
from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24 import Bitrix24Client, OAuthTokens, PortalSettings
from server.bitrix24.entities import COMPANY, DEAL
from server.bitrix24.tokens import MemoryTokenStore
from server.db import Database
from server.workflow import crm_status, crm_status_store

CONTACT = replace(
    DEAL,
    code="contact",
    type_id=3,
    placement="CRM_CONTACT_DETAIL_TAB",
    get_method="crm.contact.get",
    label="Контакт",
    genitive="контакта",
    genitive_plural="контактов",
)


@pytest.fixture
async def client(portal_server: PortalEmulator) -> AsyncIterator[Bitrix24Client]:
    portal_server.state.reset(EmulatorConfig())
    settings = PortalSettings(
        mode="oauth",
        url=portal_server.base_url,
        client_id=portal_server.state.config.client_id,
        client_secret=portal_server.state.config.client_secret,
        oauth_server=portal_server.base_url,
    )
    store = MemoryTokenStore(OAuthTokens.from_oauth_response(portal_server.state.issue_tokens(1)))
    async with Bitrix24Client(settings, token_store=store, backoff_base=0.05) as c:
        yield c


async def test_every_registry_kind_gets_the_field(
    db: Database, client: Bitrix24Client, portal_server: PortalEmulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(crm_status, "KINDS", (DEAL, COMPANY, CONTACT))

    async def source() -> Bitrix24Client:
        return client

    # 1032 is configured but not on this portal: the portal's own install step names it (no tab, no field).
    status = crm_status.CrmStatus(db, source, smart_processes=[SMART_TYPE_ID, 1032])
    assert await status.install(client) == []
    for entity in ("deal", "company", "contact"):
        (field,) = emulator_crmstatus.fields_of(portal_server.state, entity)
        assert field["FIELD_NAME"] == crm_status.FIELD_NAME
        assert len(field["LIST"]) == len(crm_status.SHOWN_STATES)
    (smart,) = emulator_userfieldconfig.fields_of(portal_server.state, "CRM_7")  # crm.type id 7 is 1038
    assert smart["fieldName"] == "UF_CRM_7_KLIKDOK_STATUS" and smart["userTypeId"] == "enumeration"
    assert smart["editFormLabel"]["ru"] == "Статус ЭДО (KlikDok)"
    assert [i["value"] for i in smart["enum"]] == [s.label for s in crm_status.SHOWN_STATES]
    stored = await db.read(crm_status_store.fields)
    assert sorted(stored) == ["company", "contact", "deal", f"dynamic_{SMART_TYPE_ID}"]
    assert stored["contact"].items.keys() == {s.value for s in crm_status.SHOWN_STATES}
    assert stored[f"dynamic_{SMART_TYPE_ID}"].field_name == "ufCrm7KlikdokStatus"  # crm.item.update's name
    assert stored[f"dynamic_{SMART_TYPE_ID}"].items == {i["xmlId"]: int(i["id"]) for i in smart["enum"]}

    # Installing again finds every field and adds none.
    assert await status.install(client) == []
    assert [len(emulator_crmstatus.fields_of(portal_server.state, e)) for e in ("deal", "company", "contact")] == [
        1
    ] * 3
    assert len(emulator_userfieldconfig.fields_of(portal_server.state, "CRM_7")) == 1
