"""batch and list pagination against the emulator."""

from __future__ import annotations

import pytest

from demo.portal_emulator import PortalEmulator
from server.bitrix24 import BatchError, Bitrix24Client, NotFound, WrongAuthType


async def test_batch_with_a_failing_command(portal: PortalEmulator, client: Bitrix24Client) -> None:
    outcome = await client.batch(
        {
            "deal": ("crm.deal.get", {"id": 1}),
            "missing": ("crm.deal.get", {"id": 9999}),
            "company": ("crm.company.get", {"id": "$result[deal][COMPANY_ID]"}),
            "users": ("user.get", {"FILTER": {"UF_DEPARTMENT": 3}}),
        }
    )
    assert outcome.results["deal"]["TITLE"] == "Поставка серверного оборудования"
    assert outcome.results["company"]["TITLE"] == "ООО «Альфа-Поставка»"  # resolved from the deal's COMPANY_ID
    assert sorted(u["ID"] for u in outcome.results["users"]) == ["5", "6"]
    assert outcome.totals["users"] == 2
    assert set(outcome.errors) == {"missing"}
    error = outcome.errors["missing"]
    assert isinstance(error, NotFound)
    assert error.method == "crm.deal.get" and error.description == "Not found"
    with pytest.raises(NotFound):
        outcome.get("missing")
    assert portal.state.calls.count("crm.deal.get") == 2  # one HTTP request, four commands executed inside


async def test_batch_halt_stops_at_the_first_error(portal: PortalEmulator, client: Bitrix24Client) -> None:
    outcome = await client.batch([("crm.deal.get", {"id": 9999}), ("crm.deal.get", {"id": 1})], halt=True)
    assert set(outcome.errors) == {"0"}
    assert "1" not in outcome.results


async def test_batch_splits_into_requests_of_50(portal: PortalEmulator, client: Bitrix24Client) -> None:
    commands = [("im.notify.system.add", {"USER_ID": 1 + i % 7, "MESSAGE": f"Уведомление {i}"}) for i in range(120)]
    outcome = await client.batch(commands)
    assert outcome.ok
    assert len(outcome.results) == 120
    assert client.stats["requests"] == 3
    assert [n["MESSAGE"] for n in portal.state.notifications] == [f"Уведомление {i}" for i in range(120)]


async def test_batch_per_command_auth_errors_are_typed(portal: PortalEmulator, webhook_client: Bitrix24Client) -> None:
    outcome = await webhook_client.batch([("app.info", {}), ("user.current", {})])
    assert isinstance(outcome.errors["0"], WrongAuthType)
    assert outcome.results["1"]["ID"] == "1"


async def test_emulator_refuses_more_than_50_commands(portal: PortalEmulator, client: Bitrix24Client) -> None:
    wire = {f"c{i}": "user.current" for i in range(51)}
    with pytest.raises(BatchError) as caught:
        await client.call("batch", {"cmd": wire})
    assert caught.value.code == "ERROR_BATCH_LENGTH_EXCEEDED"


async def test_pagination_with_start_and_next_over_1000_items(portal: PortalEmulator, client: Bitrix24Client) -> None:
    portal.state.add_deals(1000)
    deals = await client.list_all("crm.deal.list", {"select": ["ID", "TITLE"], "order": {"ID": "ASC"}})
    ids = [int(d["ID"]) for d in deals]
    assert ids == sorted(portal.state.deals)  # every deal once, in order
    assert len(ids) == 1004
    assert set(deals[0]) == {"ID", "TITLE"}
    assert portal.state.calls.count("crm.deal.list") == 21  # ceil(1004 / 50)


async def test_pagination_by_id_window_over_1000_items(portal: PortalEmulator, client: Bitrix24Client) -> None:
    portal.state.add_deals(1000, title="Пакетная {n}")
    ids = [
        int(d["ID"])
        async for d in client.iter_by_id("crm.deal.list", {"filter": {"%TITLE": "Пакетная"}, "select": ["ID"]})
    ]
    assert ids == sorted(i for i, d in portal.state.deals.items() if d["TITLE"].startswith("Пакетная"))
    assert len(ids) == 1000
    # 20 full pages and one empty one that ends the loop.
    assert portal.state.calls.count("crm.deal.list") == 21
