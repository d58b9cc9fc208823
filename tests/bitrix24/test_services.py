"""Typed services over the client: CRM, users, departments, notifications, timeline, placements, app.info."""

from __future__ import annotations

import pytest

from demo.bitrix24_seed import inn10, inn12, ogrn13
from demo.portal_emulator import PortalEmulator
from server.bitrix24 import (
    COMPANY_TAB,
    DEAL_TAB,
    ApplicationService,
    Bitrix24Client,
    CrmService,
    DepartmentDirectory,
    Messenger,
    NotFound,
    UserDirectory,
    notify_command,
    timeline_comment_command,
)


async def test_deal_with_company_contacts_and_requisites(portal: PortalEmulator, client: Bitrix24Client) -> None:
    crm = CrmService(client)
    deal = await crm.deal(1)
    assert deal.title == "Поставка серверного оборудования"
    assert deal.company_id == 2 and deal.assigned_by_id == 4
    company = await crm.company(deal.company_id)
    assert company.title == "ООО «Альфа-Поставка»" and company.emails == ["info@alfa-postavka.example"]
    assert not company.is_my_company
    contacts = await crm.deal_contacts(deal.id)
    assert [c.full_name for c in contacts] == ["Орлов Дмитрий Сергеевич", "Белова Анна Игоревна"]
    assert contacts[1].emails == ["a.belova@alfa-postavka.example", "anna.belova@mail.example"]  # work first
    [requisite] = await crm.company_requisites(2)
    assert requisite.inn == inn10("500987654") and len(requisite.inn) == 10
    assert requisite.kpp == "500101001"
    assert requisite.ogrn == ogrn13("115500098765") and len(requisite.ogrn) == 13


async def test_sole_proprietor_requisites_and_company_contacts(portal: PortalEmulator, client: Bitrix24Client) -> None:
    crm = CrmService(client)
    [requisite] = await crm.company_requisites(4)
    assert requisite.inn == inn12("7712345678") and requisite.kpp == "" and len(requisite.ogrnip) == 15
    assert [c.id for c in await crm.company_contacts(3)] == [3]
    assert await crm.company_requisites(999) == []


async def test_missing_deal_is_not_found(portal: PortalEmulator, client: Bitrix24Client) -> None:
    with pytest.raises(NotFound) as caught:
        await CrmService(client).deal(424242)
    assert caught.value.method == "crm.deal.get" and caught.value.status == 400


async def test_users_are_cached(portal: PortalEmulator, client: Bitrix24Client) -> None:
    now = [1000.0]
    users = UserDirectory(client, ttl=60, clock=lambda: now[0])
    first = await users.get(5)
    assert first is not None and first.full_name == "Новикова Елена Петровна"
    assert first.email == "e.novikova@vector.example" and first.departments == [3]
    await users.get(5)
    assert portal.state.calls.count("user.get") == 1  # second read from the cache
    many = await users.get_many([5, 6, 7])
    assert sorted(many) == [5, 6, 7]
    assert client.stats["requests"] == 2  # one user.get, then one batch for the two misses
    now[0] += 61
    await users.get(5)
    assert portal.state.calls.count("user.get") == 4  # expired: asked again
    assert await users.get(999) is None
    assert [u.id for u in await users.in_departments([4])] == [3, 4]


async def test_department_heads_and_subtrees(portal: PortalEmulator, client: Bitrix24Client) -> None:
    departments = DepartmentDirectory(client)
    assert [d.id for d in await departments.headed_by(2)] == [2]  # head of sales
    assert await departments.managed_subtree(2) == {2, 4}  # sales and its sub-group
    assert await departments.managed_subtree(1) == {1, 2, 3, 4}  # the director sees everything
    assert await departments.managed_subtree(4) == set()  # a manager heads nothing
    sales = await departments.get(4)
    assert sales is not None and sales.parent == 2 and sales.head == 3


async def test_notifications_and_timeline_are_recorded(portal: PortalEmulator, client: Bitrix24Client) -> None:
    messenger = Messenger(client)
    notification_id = await messenger.notify(
        5,
        "Документ ожидает вашей подписи",
        link_url="https://klikdok.example/b24/app?doc=17",
        link_title="Открыть [документ]",
    )
    assert notification_id is not None
    [sent] = portal.state.notifications
    assert sent["USER_ID"] == 5
    assert sent["MESSAGE"] == (
        "Документ ожидает вашей подписи [URL=https://klikdok.example/b24/app?doc=17]Открыть (документ)[/URL]"
    )
    comment_id = await messenger.timeline_comment("deal", 1, "Документ подписан контрагентом")
    assert portal.state.timeline_comments == [
        {
            "ID": comment_id,
            "ENTITY_TYPE": "deal",
            "ENTITY_ID": 1,
            "COMMENT": "Документ подписан контрагентом",
            "AUTHOR_ID": 1,
        }
    ]


async def test_outbox_style_batch_of_notifications_and_comments(portal: PortalEmulator, client: Bitrix24Client) -> None:
    commands = [
        notify_command(4, "Подписано"),
        timeline_comment_command("company", 3, "Подписано"),
        timeline_comment_command("deal", 9999, "Нет такой сделки"),
    ]
    outcome = await client.batch(commands)
    assert set(outcome.results) == {"0", "1"} and set(outcome.errors) == {"2"}
    assert isinstance(outcome.errors["2"], NotFound) and outcome.errors["2"].code == "OWNER_NOT_FOUND"
    assert len(portal.state.notifications) == 1 and len(portal.state.timeline_comments) == 1


async def test_placement_bind_is_idempotent(portal: PortalEmulator, client: Bitrix24Client) -> None:
    app = ApplicationService(client)
    handler = "https://klikdok.example/b24/placement"
    assert await app.bind(DEAL_TAB, handler, "ЭДО") is True
    assert await app.bind(COMPANY_TAB, handler, "ЭДО") is True
    assert await app.bind(DEAL_TAB, handler, "ЭДО") is False  # re-install: nothing to do
    bindings = await app.bindings()
    assert sorted(b.placement for b in bindings) == [COMPANY_TAB, DEAL_TAB]
    assert len(portal.state.placements) == 2
    assert await app.unbind(DEAL_TAB) == 1
    assert [b.placement for b in await app.bindings()] == [COMPANY_TAB]


async def test_app_info_and_current_user(portal: PortalEmulator, client: Bitrix24Client) -> None:
    app = ApplicationService(client)
    info = await app.info()
    assert info.code == portal.state.config.client_id and info.installed and info.status == "L"
    form = portal.state.placement_form(3, DEAL_TAB, {"ID": "2"})
    assert (await app.info(access_token=form["AUTH_ID"])).code == portal.state.config.client_id
    me = await UserDirectory(client).current()
    assert me.id == 1 and me.work_position == "Генеральный директор"
