"""Fixtures for the Bitrix24 suite: one portal emulator per session (real HTTP on an ephemeral loopback
port), reset to the seed before every test, and clients wired to it in both auth modes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24 import Bitrix24Client, MemoryTokenStore, OAuthTokens, PortalSettings


@pytest.fixture(scope="session")
def portal_server() -> Iterator[PortalEmulator]:
    emulator = PortalEmulator(EmulatorConfig()).start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture
def portal(portal_server: PortalEmulator) -> PortalEmulator:
    """The emulator with fresh seed data, fresh credentials and an empty rate bucket."""
    portal_server.state.reset(EmulatorConfig())
    return portal_server


def oauth_settings(portal: PortalEmulator, **overrides: object) -> PortalSettings:
    values: dict[str, object] = {
        "mode": "oauth",
        "url": portal.base_url,
        "client_id": portal.state.config.client_id,
        "client_secret": portal.state.config.client_secret,
        "oauth_server": portal.base_url,
    }
    values.update(overrides)
    return PortalSettings(**values)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


def webhook_settings(portal: PortalEmulator, **overrides: object) -> PortalSettings:
    values: dict[str, object] = {"mode": "webhook", "webhook_url": portal.state.webhook_url}
    values.update(overrides)
    return PortalSettings(**values)  # type: ignore[arg-type]  # keyword overrides given as a dict of mixed types


@pytest.fixture
def token_store(portal: PortalEmulator) -> MemoryTokenStore:
    """Tokens of the installing admin (user 1), as the install page would have stored them."""
    return MemoryTokenStore(OAuthTokens.from_oauth_response(portal.state.issue_tokens(1)))


@pytest.fixture
async def client(portal: PortalEmulator, token_store: MemoryTokenStore) -> AsyncIterator[Bitrix24Client]:
    async with Bitrix24Client(oauth_settings(portal), token_store=token_store, backoff_base=0.05) as c:
        yield c


@pytest.fixture
async def webhook_client(portal: PortalEmulator) -> AsyncIterator[Bitrix24Client]:
    async with Bitrix24Client(webhook_settings(portal), backoff_base=0.05) as c:
        yield c
