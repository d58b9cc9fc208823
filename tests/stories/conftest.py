"""One ``klikdok serve`` per module on the portal emulator with an SMTP server on loopback, one Chromium per module
(tests/conftest.py), a fresh browser context per test that records every request and script error.

The stories share the module's server, so each test makes its own documents (with titles of its own) and looks
for them by id or title; what a person does happens on the pages, what only sets the scene (a certificate
bound, a document another person created) goes through the API the way the other suites do it.

Screenshots: test-artifacts/stories/<step>-1280.png and <step>-390.png (gitignored).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.counterparty.conftest import (  # noqa: F401 - fixtures re-exported for this suite
    Counterparty,
    Exchange,
    Mailbox,
    SmtpServer,
    counterparty,
    counterparty_env,
    running_smtp,
)
from tests.pages.conftest import open_app_page, open_create_form, open_deal_tab  # noqa: F401 - helpers the stories share
from tests.support.pki_fixtures import gost_pki  # noqa: F401 - fixture re-export
from tests.support.server import REPO
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    DIRECTOR,
    People,
    SessionPortal,
    emulator_config,
    installed_klikdok,
    people,
    portal_server,
)

ARTIFACTS = REPO / "test-artifacts" / "stories"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}
# The one host a page may load from over the network: the server and the emulated portal are both on loopback.
# Other schemes never leave the browser (blob: a report opened from the page, data:, about:blank, and chrome: /
# chrome-extension: of Chromium's own PDF viewer in the counterparty's preview).
LOCAL_HOSTS = frozenset({"127.0.0.1"})
NETWORK_SCHEMES = frozenset({"http", "https", "ws", "wss", "ftp"})


@pytest.fixture(scope="module")
def story_smtp() -> Iterator[SmtpServer]:
    with running_smtp() as server:
        yield server


@pytest.fixture(scope="module")
def story(
    tmp_path_factory: pytest.TempPathFactory,
    portal_server: Any,  # noqa: F811  pytest injects the imported fixture of this name
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
    story_smtp: SmtpServer,
) -> Iterator[Exchange]:
    """The module's server, installed on a clean emulator; the director's certificate is bound (he signs in
    several stories)."""
    portal_server.state.reset(emulator_config())
    SessionPortal.url = portal_server.base_url
    # The pages of a whole module come from one address; the per-address budget of the public pages is not what
    # these stories are about.
    env = counterparty_env(
        people.pki,
        story_smtp,
        KLIKDOK_LIMITS_PUBLIC_REQUESTS_PER_MINUTE="600",
        KLIKDOK_LIMITS_PUBLIC_REQUESTS_PER_LINK_PER_MINUTE="600",
    )
    with installed_klikdok(tmp_path_factory.mktemp("stories") / "data", portal_server, env) as kd:
        kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
        ex = Exchange(kd, story_smtp, people)
        try:
            yield ex
        finally:
            ex.http.close()


class Outside:
    """Requests a page made to anywhere but the server and the emulated portal (both on 127.0.0.1)."""

    def __init__(self) -> None:
        self.seen: list[str] = []
        self.outside: list[str] = []

    def record(self, url: str) -> None:
        self.seen.append(url)
        parts = urlsplit(url)
        if parts.scheme in NETWORK_SCHEMES and parts.hostname not in LOCAL_HOSTS:
            self.outside.append(url)


@pytest.fixture
def requests_seen() -> Outside:
    return Outside()


@pytest.fixture
def page(browser: Any, requests_seen: Outside) -> Iterator[Any]:
    """A fresh context per test at 1280 px. Fails the test on an uncaught script error or on any request that
    leaves the machine (a CDN font, a script from the Internet): the pages are self-hosted."""
    context = browser.new_context(viewport=DESKTOP, locale="ru-RU", accept_downloads=True)
    context.on("request", lambda request: requests_seen.record(request.url))
    pg = context.new_page()
    errors: list[str] = []
    context.on("weberror", lambda error: errors.append(str(error.error)))
    yield pg
    context.close()
    assert errors == [], errors
    assert requests_seen.outside == [], requests_seen.outside


def shot(pg: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    pg.screenshot(path=str(path), full_page=True)
    return path


def no_horizontal_overflow(doc: Any) -> bool:
    """The page (or frame) is no wider than its window: nothing to scroll sideways."""
    return bool(doc.evaluate("document.documentElement.scrollWidth <= window.innerWidth"))


def overflow_culprits(doc: Any) -> list[str]:
    """What sticks out past the window's right edge, for the failure message."""
    return list(
        doc.evaluate(
            """() => Array.from(document.querySelectorAll('body *'))
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5)
                 .slice(0, 8)
                 .map(e => e.tagName.toLowerCase() + (e.id ? '#' + e.id : '') +
                           (typeof e.className === 'string' && e.className ? '.' + e.className.replace(/ +/g, '.') : '')
                           + ' right=' + Math.round(e.getBoundingClientRect().right))"""
        )
    )


def settle(pg: Any, frame: Any | None) -> None:
    """After a viewport change: the KlikDok frame tells the portal its new height (what b24frame.js does on its own
    through a ResizeObserver), and a frame is painted."""
    if frame is not None:
        frame.evaluate("() => window.KlikDokFrame ? window.KlikDokFrame.fitWindow() : null")
    pg.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(null))))")


def snap(pg: Any, name: str, frame: Any | None = None) -> None:
    """A step's screenshots at 1280 and 390 px; at neither width the KlikDok page (the frame's, inside the portal)
    scrolls sideways. The viewport is back at 1280 afterwards."""
    doc = frame if frame is not None else pg
    assert no_horizontal_overflow(doc), (name, 1280, overflow_culprits(doc))
    shot(pg, f"{name}-1280")
    pg.set_viewport_size(PHONE)
    try:
        settle(pg, frame)
        assert no_horizontal_overflow(doc), (name, 390, overflow_culprits(doc))
        shot(pg, f"{name}-390")
    finally:
        pg.set_viewport_size(DESKTOP)
        settle(pg, frame)
