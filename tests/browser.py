"""Headless Chromium for page tests: Debian's chromium driven by Playwright, screenshots kept as artefacts."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.support.server import REPO

if TYPE_CHECKING:
    from playwright.sync_api import Page

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = REPO / "test-artifacts"
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """Debian's Chromium under Playwright; `make test` installs it, so a missing one fails the test."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        try:
            yield browser
        finally:
            browser.close()


@contextmanager
def browser_page(width: int = 1280, height: int = 900) -> Iterator[Any]:
    with chromium() as browser:
        yield browser.new_page(viewport={"width": width, "height": height}, locale="ru-RU")


def open_settled(page: Page, url: str) -> None:
    """``page.goto`` that returns once the page has stopped loading, the PDF preview's viewer included.

    The counterparty's page embeds the document in Chromium's PDF viewer, an out-of-process frame that keeps
    loading its own files after the page's ``load``. A click sent in that window (Playwright sends it at once,
    a person does not) was sometimes lost under load: no submit, no request (2 in 60 runs on a busy box)."""
    page.goto(url, wait_until="networkidle")


def settled(page: Page) -> None:
    """After a navigation the test did not start with ``goto`` (a link, a form): as :func:`open_settled`."""
    page.wait_for_load_state("networkidle")


class PageLog:
    """What a page said and asked while a test ran (console lines, API answers): printed when a wait times out."""

    def __init__(self, page: Page) -> None:
        self.lines: list[str] = []
        page.on("console", lambda m: self.lines.append(f"console.{m.type}: {m.text}"))
        page.on("response", self._response)
        page.on("requestfailed", lambda r: self.lines.append(f"failed {r.method} {r.url}: {r.failure}"))

    def _response(self, response: Any) -> None:
        if response.url.startswith(("chrome:", "chrome-extension:")):
            return  # the built-in PDF viewer's own files: dozens per preview, and they crowd out the page's requests
        self.lines.append(f"{response.status} {response.request.method} {response.url.split('?')[0]}")

    def __str__(self) -> str:
        return "\n".join(self.lines[-40:])


def wait_or_explain(page: Page, selector: str, timeout: float, log: PageLog | None = None) -> None:
    """``page.wait_for_selector``, and on a timeout what the page showed instead (its address, its text and a
    screenshot): a rare timeout on a loaded machine is otherwise a bare «Timeout exceeded»."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout)
    except PlaywrightTimeout:
        shot = screenshot(page, "timeout-" + "".join(c if c.isalnum() else "-" for c in selector)[:40])
        state = page.evaluate("document.readyState")
        text = page.evaluate("document.body ? document.body.innerText : ''")[:1500]
        seconds = timeout / 1000
        raise AssertionError(
            f"{selector} not shown in {seconds:.0f} s at {page.url} ({state})\n{text}\n({shot})\n{log or ''}"
        ) from None


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
