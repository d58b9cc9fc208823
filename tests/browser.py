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


def wait_or_explain(page: Page, selector: str, timeout: float) -> None:
    """``page.wait_for_selector``, and on a timeout what the page showed instead (its address, its text and a
    screenshot): a rare timeout on a loaded machine is otherwise a bare «Timeout exceeded»."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        page.wait_for_selector(selector, timeout=timeout)
    except PlaywrightTimeout:
        shot = screenshot(page, "timeout-" + "".join(c if c.isalnum() else "-" for c in selector)[:40])
        text = page.evaluate("document.body ? document.body.innerText : ''")[:1500]
        seconds = timeout / 1000
        raise AssertionError(f"{selector} not shown in {seconds:.0f} s at {page.url}\n{text}\n({shot})") from None


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
