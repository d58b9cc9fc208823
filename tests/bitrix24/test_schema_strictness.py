"""The emulator is as strict as Bitrix's published method schemas (demo/bitrix24_spec.json), so a request the
real portal would not accept fails here too; and the server's own requests pass (issue 11)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from demo import php_params
from demo.portal_emulator import PortalEmulator
from server.bitrix24 import (
    AccessDenied,
    Bitrix24Client,
    InvalidArgument,
    MemoryTokenStore,
    Messenger,
    OAuthTokens,
    WrongAuthType,
)

from .conftest import oauth_settings

REPO = Path(__file__).resolve().parents[2]
# The emulator and its helpers live beside the demo; the other stand-ins stay in tests/fakes.
FAKES = (REPO / "demo", REPO / "tests" / "fakes")


async def test_unknown_and_missing_required_parameters_are_refused(client: Bitrix24Client) -> None:
    with pytest.raises(InvalidArgument) as unknown:
        await client.call("crm.deal.get", {"id": 1, "select": ["ID"]})
    assert unknown.value.code == "INVALID_ARG_VALUE" and "select" in unknown.value.description
    with pytest.raises(InvalidArgument) as missing:
        await client.call("disk.folder.getchildren", {"filter": {"NAME": "x"}})
    assert missing.value.code == "ERROR_ARGUMENT" and "'id'" in missing.value.description
    # Top-level names are case-insensitive on the portal: the schema's `id` accepts `ID`.
    assert (await client.call("crm.deal.get", {"ID": 1}))["ID"] == "1"
    # Inside a batch each command is checked the same way.
    outcome = await client.batch([("crm.deal.get", {"id": 1}), ("crm.deal.get", {"id": 1, "bogus": "1"})])
    assert outcome.results["0"]["ID"] == "1" and isinstance(outcome.errors["1"], InvalidArgument)


async def test_a_tagged_notification_through_a_webhook_needs_client_id(
    portal: PortalEmulator, webhook_client: Bitrix24Client
) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await webhook_client.call("im.notify.system.add", {"USER_ID": 2, "MESSAGE": "x", "TAG": "klikdok:1"})
    assert refused.value.code == "CLIENT_ID_EMPTY"
    assert portal.state.notifications == []
    # The server's messenger sends it through the webhook with the tag: it carries CLIENT_ID and arrives.
    assert await Messenger(webhook_client).notify(2, "Документ ждёт подписи", tag="klikdok:7")
    assert [(n["TAG"], n["CLIENT_ID"]) for n in portal.state.notifications] == [("klikdok:7", "klikdok")]


async def test_admin_only_and_application_only_methods(
    portal: PortalEmulator, client: Bitrix24Client, webhook_client: Bitrix24Client
) -> None:
    manager = MemoryTokenStore(OAuthTokens.from_oauth_response(portal.state.issue_tokens(4)))  # not an admin
    async with Bitrix24Client(oauth_settings(portal), token_store=manager) as c:
        for method in ("disk.storage.getforapp", "placement.get"):
            with pytest.raises(AccessDenied):
                await c.call(method)
        assert await c.call("placement.list")  # "пользователь, авторизованный в приложении": any user of the app
    assert (await client.call("disk.storage.getforapp"))["ROOT_OBJECT_ID"]  # the installing admin may
    with pytest.raises(WrongAuthType):
        await webhook_client.call("placement.list")


async def test_timeline_list_filters_only_by_the_card(client: Bitrix24Client) -> None:
    with pytest.raises(InvalidArgument) as refused:
        await client.call(
            "crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": 1, "%COMMENT": "KlikDok"}}
        )
    assert "%COMMENT" in refused.value.description
    assert await client.call("crm.timeline.comment.list", {"filter": {"ENTITY_TYPE": "deal", "ENTITY_ID": 1}}) == []


def test_the_emulator_decodes_php_parameters_with_its_own_code() -> None:
    """PHP's parse_str rules, independent of the server's encoder (which it exists to check)."""
    sources = [source for folder in FAKES for source in folder.glob("*.py")]
    assert any(source.name == "php_params.py" for source in sources)
    for source in sources:
        assert "phpquery" not in source.read_text(encoding="utf-8").replace("server/bitrix24/phpquery.py", ""), source
    assert php_params.parse("filter%5B%3EID%5D=5&select%5B%5D=ID&select%5B%5D=TITLE&a.b=1&c+d=%D0%96&e=1&e=2") == {
        "filter": {">ID": "5"},
        "select": ["ID", "TITLE"],
        "a_b": "1",
        "c_d": "Ж",
        "e": "2",
    }
    assert php_params.parse("x[2]=a&x[]=b&y[k][]=1&y[k][]=2&z=") == {
        "x": {"2": "a", "3": "b"},
        "y": {"k": ["1", "2"]},
        "z": "",
    }


def test_a_raw_batch_command_is_decoded_by_php_rules(portal: PortalEmulator) -> None:
    """A command written out by hand (not by the server's encoder) reaches the method with nested arrays intact."""
    cmd = "crm.requisite.list?filter%5BENTITY_TYPE_ID%5D=4&filter%5BENTITY_ID%5D=3&select%5B%5D=RQ_INN&select%5B%5D=ID"
    answer = httpx.post(portal.state.webhook_url + "batch", data={"cmd[r]": cmd}).json()
    rows = answer["result"]["result"]["r"]
    assert rows and all(set(r) == {"ID", "RQ_INN"} for r in rows)
