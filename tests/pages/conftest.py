"""Browser tests of the signing and counterparty parts of the pages: a real ``klikdok serve`` on the portal
emulator with a real SMTP server (aiosmtpd) on loopback, headless Chromium (Debian's chromium via Playwright),
real ``klikdok-agent`` processes with the openssl backend and the CryptoARM GOST emulator.

Screenshots go to test-artifacts/pages/ (gitignored); look at them after a change to the pages.
"""

from __future__ import annotations

import html
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from tests.agent.conftest import FAST, agents, make_agent  # noqa: F401 - fixtures re-exported
from tests.browser import settled
from tests.counterparty.conftest import SmtpServer, counterparty, counterparty_env, smtp  # noqa: F401  fixtures re-exported for this suite
from tests.support.mchd import fns, mchd_pki  # noqa: F401 - the МЧД fixtures (tests/support/mchd.py), used by name
from tests.support.server import REPO
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    MANAGER,
    Klikdok,
    People,
    emulator,
    gost_pki,
    installed_klikdok,
    people,
    portal_server,
)

ARTIFACTS = REPO / "test-artifacts" / "pages"


def server_env_for(people: People, smtp: SmtpServer, **extra: str) -> dict[str, str]:  # noqa: F811  pytest injects the imported fixture of this name
    """Fast agent heartbeats/dispatch and the SMTP relay on loopback, on top of the workflow suite's env."""
    return counterparty_env(people.pki, smtp, **FAST, **extra)


@pytest.fixture
def kd(tmp_path: Path, emulator: Any, people: People, smtp: SmtpServer) -> Iterator[Klikdok]:  # noqa: F811  pytest injects the imported fixture of this name
    with installed_klikdok(tmp_path / "data", emulator, server_env_for(people, smtp)) as k:
        yield k


def shot(pg: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def open_app_page(pg: Any, kd: Klikdok, user_id: int, hash_: str = "#queue") -> None:
    """What the portal does for the app page: a hidden form POSTed with the user's tokens."""
    form = kd.emu.state.placement_form(user_id, "DEFAULT")
    pg.goto(f"{kd.emu.base_url}/?user={user_id}")
    pg.set_content(
        hidden_form("f", f"{kd.url}/b24/app?{query(kd)}", "_self", form)
        + '<script>document.getElementById("f").submit();</script>'
    )
    pg.wait_for_url(f"{kd.url}/b24/app*")
    pg.evaluate(f"location.hash = '{hash_}'")
    settled(pg)  # a click sent while the page still loads its lists was lost under load (tests/browser.py)


def frame_named(pg: Any, name: str, url: str) -> Any:
    """The portal page's frame ``name`` once it shows a page of ``url`` (the card's tab, the slider)."""
    for _ in range(150):  # wait_for_timeout lets Playwright process the frame's navigation meanwhile
        frame = pg.frame(name=name)
        if frame is not None and frame.url.startswith(url):
            return frame
        pg.wait_for_timeout(100)
    raise AssertionError(f"the {name} did not load in the portal's page")


def open_deal_tab(pg: Any, kd: Klikdok, user_id: int, deal_id: int = 1) -> Any:
    """The deal card in the emulated portal with the ЭДО tab in its iframe; returns that frame."""
    pg.goto(f"{kd.emu.base_url}/crm/deal/details/{deal_id}/?user={user_id}")
    frame = frame_named(pg, "app-frame", kd.url)
    frame.wait_for_selector("#kd-new")
    settled(pg)
    return frame


def open_create_form(pg: Any, tab: Any, kd: Klikdok) -> Any:
    """«Создать документ» in the tab: inside the portal the form opens in a slider (BX24.openApplication, the app's
    own page with the form alone); returns the slider's frame with the form loaded."""
    tab.click("#kd-new")
    frame = frame_named(pg, "app-slider", kd.url)
    frame.wait_for_selector("#kd-create-form")
    return frame


def hidden_form(form_id: str, action: str, target: str, fields: dict[str, str]) -> str:
    inputs = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">' for k, v in fields.items()
    )
    return f'<form id="{form_id}" method="POST" target="{target}" action="{html.escape(action)}">{inputs}</form>'


def query(kd: Klikdok, sid: str = "sid") -> str:
    return urlencode({"DOMAIN": f"{kd.emu.host}:{kd.emu.port}", "PROTOCOL": "0", "LANG": "ru", "APP_SID": sid})


def open_tab(pg, kd: Klikdok, user_id: int = MANAGER, deal: int = 1) -> None:  # type: ignore[no-untyped-def]  # pg is a Playwright page
    """The tab's page on its own (no parent frame, as a browser opening it outside the portal): the create form is
    the in-page dialog there."""
    form = kd.emu.state.placement_form(user_id, "CRM_DEAL_DETAIL_TAB", {"ID": str(deal)})
    pg.goto(f"{kd.emu.base_url}/?user={user_id}")
    pg.set_content(
        hidden_form("f", f"{kd.url}/b24/tab?{query(kd)}", "_self", form)
        + '<script>document.getElementById("f").submit();</script>'
    )
    pg.wait_for_url(f"{kd.url}/b24/tab*")
    pg.wait_for_selector("#kd-empty")
