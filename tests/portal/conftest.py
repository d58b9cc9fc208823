"""A portal emulator and a real `klikdok serve` pointed at nothing: the portal arrives through install."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from tests.support.server import ServerProcess, start_server


@pytest.fixture
def emulator() -> Iterator[PortalEmulator]:
    emu = PortalEmulator(EmulatorConfig()).start()
    try:
        yield emu
    finally:
        emu.stop()


def portal_env(emu: PortalEmulator, **extra: str) -> dict[str, str]:
    """The admin names the portal: `[portal] url` is the emulator's address."""
    return {"KLIKDOK_PORTAL_URL": emu.base_url, **extra}


def oauth_env(emu: PortalEmulator, **extra: str) -> dict[str, str]:
    """A local application with its credentials, refreshing through the emulator's OAuth endpoint."""
    return portal_env(
        emu,
        KLIKDOK_PORTAL_MODE="oauth",
        KLIKDOK_PORTAL_CLIENT_ID=emu.state.config.client_id,
        KLIKDOK_PORTAL_CLIENT_SECRET=emu.state.config.client_secret,
        KLIKDOK_PORTAL_OAUTH_SERVER=emu.base_url,
        **extra,
    )


@pytest.fixture
def kd(tmp_path: Path, emulator: PortalEmulator) -> Iterator[ServerProcess]:
    srv = start_server(tmp_path / "data", env=portal_env(emulator))
    yield srv
    srv.stop()


def frame_query(emu: PortalEmulator) -> str:
    """The query string the portal's app layout adds to every app/placement URL."""
    return urlencode({"DOMAIN": f"{emu.host}:{emu.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": "sid123"})


def post_as_portal(kd: ServerProcess, emu: PortalEmulator, path: str, form: dict[str, Any]) -> httpx.Response:
    """What the admin's or user's browser sends when the portal opens an app URL in its iframe."""
    return httpx.post(f"{kd.url}{path}?{frame_query(emu)}", data=form, timeout=30)


def install(kd: ServerProcess, emu: PortalEmulator, user_id: int = 1) -> httpx.Response:
    return post_as_portal(kd, emu, "/b24/install", emu.state.placement_form(user_id, "DEFAULT"))


def session_token(page: str) -> str:
    match = re.search(r'data-session="([^"]+)"', page)
    assert match, "the page carries no session token"
    return match.group(1)
