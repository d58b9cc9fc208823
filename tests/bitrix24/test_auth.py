"""OAuth refresh and webhook mode against the emulator over real HTTP."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24 import (
    Bitrix24Client,
    InvalidToken,
    MemoryTokenStore,
    OAuthError,
    OAuthTokens,
    PortalSettings,
    UserDirectory,
    WrongAuthType,
)

from .conftest import oauth_settings, webhook_settings


async def test_refresh_after_expiry_saves_the_new_pair(
    portal: PortalEmulator, client: Bitrix24Client, token_store: MemoryTokenStore
) -> None:
    original = await token_store.load()
    assert original is not None
    assert (await client.call("user.current"))["ID"] == "1"

    portal.state.advance(3601)  # an hour later the access token is dead

    assert (await client.call("user.current"))["ID"] == "1"
    assert portal.state.refresh_count == 1
    assert len(token_store.history) == 1
    saved = token_store.history[0]
    assert saved.access_token != original.access_token
    assert saved.refresh_token != original.refresh_token  # rotated, and the rotation was stored
    assert saved.member_id == portal.state.config.member_id
    assert saved.domain == portal.state.config.domain  # not the OAuth server's domain from the answer
    assert saved.client_endpoint == portal.state.rest_url
    # The old refresh token was consumed by the portal: only the stored one is usable now.
    assert original.refresh_token not in portal.state.refresh_tokens
    assert saved.refresh_token in portal.state.refresh_tokens


async def test_concurrent_calls_refresh_once(
    portal: PortalEmulator, client: Bitrix24Client, token_store: MemoryTokenStore
) -> None:
    await client.call("user.current")
    portal.state.expire_access_tokens()
    results = await asyncio.gather(*(client.call("crm.deal.get", {"id": 1}) for _ in range(10)))
    assert all(r["ID"] == "1" for r in results)
    assert portal.state.refresh_count == 1
    assert len(token_store.history) == 1


async def test_refresh_token_revoked_raises_oauth_error(portal: PortalEmulator, client: Bitrix24Client) -> None:
    portal.state.expire_access_tokens()
    portal.state.refresh_tokens.clear()  # e.g. 180 days passed, or the app was reinstalled elsewhere
    with pytest.raises(OAuthError) as caught:
        await client.call("user.current")
    assert caught.value.code == "invalid_grant"


async def test_wrong_client_secret_is_refused(portal: PortalEmulator, token_store: MemoryTokenStore) -> None:
    async with Bitrix24Client(oauth_settings(portal, client_secret="wrong"), token_store=token_store) as bad:
        portal.state.expire_access_tokens()
        with pytest.raises(OAuthError) as caught:
            await bad.call("user.current")
    assert caught.value.code == "invalid_client"
    assert token_store.history == []


async def test_refresh_goes_to_the_configured_oauth_server_never_to_server_endpoint(portal: PortalEmulator) -> None:
    """Issue 11: a server_endpoint that came with the tokens (from a request) is never the OAuth server."""
    other = PortalEmulator(
        EmulatorConfig(
            member_id=portal.state.config.member_id,
            client_id=portal.state.config.client_id,
            client_secret=portal.state.config.client_secret,
        )
    ).start()
    try:
        tokens = OAuthTokens.from_oauth_response(portal.state.issue_tokens(1))
        tokens = msgspec.structs.replace(tokens, server_endpoint=f"{other.base_url}/rest/")
        store = MemoryTokenStore(tokens)
        async with Bitrix24Client(oauth_settings(portal, oauth_server=portal.base_url), token_store=store) as c:
            portal.state.expire_access_tokens()
            assert (await c.call("user.current"))["ID"] == "1"
        assert portal.state.refresh_count == 1
        assert other.state.calls == [] and other.state.refresh_count == 0
        assert store.history[-1].client_endpoint == portal.state.rest_url  # the answer never moves the portal
    finally:
        other.stop()


def test_the_default_oauth_server_is_the_box_default_not_a_request() -> None:
    assert PortalSettings(mode="oauth").oauth_token_url == "https://oauth.bitrix.info/oauth/token/"
    assert (
        PortalSettings(oauth_server="https://oauth.bitrix24.tech/rest/").oauth_token_url
        == "https://oauth.bitrix24.tech/oauth/token/"
    )
    assert PortalSettings(oauth_server="http://127.0.0.1:8090").oauth_token_url == "http://127.0.0.1:8090/oauth/token/"


def test_the_portal_address_is_an_origin() -> None:
    assert PortalSettings(url="HTTPS://Portal.Example.ru:443/").portal_origin == "https://portal.example.ru"
    assert PortalSettings(url="http://127.0.0.1:8090").portal_rest_base == "http://127.0.0.1:8090/rest/"
    assert (
        PortalSettings(mode="webhook", webhook_url="https://box.example/rest/1/abc/").portal_origin
        == "https://box.example"
    )
    assert PortalSettings().portal_origin == ""
    for bad in (
        "portal.example.ru",
        "ftp://portal.example.ru",
        "https://portal.example.ru/rest/",
        "https://user@portal.example.ru",
    ):
        with pytest.raises(ValueError):
            PortalSettings(url=bad)


async def test_no_stored_tokens_is_an_invalid_token_error(portal: PortalEmulator) -> None:
    async with Bitrix24Client(oauth_settings(portal), token_store=MemoryTokenStore()) as c:
        with pytest.raises(InvalidToken):
            await c.call("user.current")


async def test_webhook_mode(portal: PortalEmulator, webhook_client: Bitrix24Client) -> None:
    me = await UserDirectory(webhook_client).current()
    assert me.id == portal.state.config.webhook_user_id
    deal = await webhook_client.call("crm.deal.get", {"id": 2})
    assert deal["TITLE"] == "Договор на техническое обслуживание"
    assert portal.state.refresh_count == 0
    assert portal.state.access_tokens == {}  # no OAuth at all
    # Placements need application context: a webhook is refused, as on a real portal.
    with pytest.raises(WrongAuthType) as caught:
        await webhook_client.call(
            "placement.bind", {"PLACEMENT": "CRM_DEAL_DETAIL_TAB", "HANDLER": "https://klikdok.example/b24/placement"}
        )
    assert caught.value.method == "placement.bind"
    assert caught.value.status == 403


async def test_webhook_with_wrong_code_is_refused(portal: PortalEmulator) -> None:
    url = portal.state.webhook_url.replace(portal.state.config.webhook_code, "not-the-code")
    async with Bitrix24Client(webhook_settings(portal, webhook_url=url)) as c:
        with pytest.raises(InvalidToken) as caught:
            await c.call("user.current")
    assert caught.value.code == "INVALID_CREDENTIALS"


async def test_user_token_check_never_refreshes(portal: PortalEmulator, client: Bitrix24Client) -> None:
    """A placement's AUTH_ID is verified with user.current; an expired one is an answer, not a refresh."""
    form = portal.state.placement_form(4, "CRM_DEAL_DETAIL_TAB", {"ID": "1"})
    users = UserDirectory(client)
    me = await users.current(access_token=form["AUTH_ID"])
    assert me.id == 4 and me.last_name == "Морозова"
    portal.state.expire_access_tokens()
    from server.bitrix24 import ExpiredToken

    with pytest.raises(ExpiredToken):
        await users.current(access_token=form["AUTH_ID"])
    with pytest.raises(InvalidToken):
        await users.current(access_token="forged" + form["AUTH_ID"])
    assert portal.state.refresh_count == 0
