"""The app as a person sees it, in headless Chromium: installed from the portal, then the tab in a CRM card."""

from __future__ import annotations

from demo.portal_emulator import PortalEmulator
from tests.browser import browser_page, screenshot
from tests.support.server import ServerProcess


def test_install_from_the_portal_then_open_the_tab_in_a_deal_card(kd: ServerProcess, emulator: PortalEmulator) -> None:
    deal_id = sorted(emulator.state.deals)[0]
    title = emulator.state.deals[deal_id]["TITLE"]
    emulator.state.installed = False
    with browser_page() as page:
        page.goto(f"{emulator.base_url}/marketplace/local/install?handler={kd.url}/b24/install&user=1")
        frame = page.frame_locator("#app-frame")
        frame.get_by_text("Вкладка «ЭДО» добавлена: карточка сделки").wait_for(timeout=20000)
        page.locator('#frame-status[data-installed="yes"]').wait_for(state="attached", timeout=20000)
        assert emulator.state.installed is True  # BX24 installFinish reached the portal
        screenshot(page, "portal-install")

        page.goto(f"{emulator.base_url}/crm/deal/details/{deal_id}/?user=2")
        frame = page.frame_locator("#app-frame")
        frame.get_by_text(f"Сделка «{title}»").wait_for(timeout=20000)
        # The page asked the portal to fit the frame to its content (resizeWindow over postMessage).
        page.wait_for_function("document.getElementById('frame-status').dataset.resized !== ''", timeout=20000)
        height = int(page.locator("#frame-status").get_attribute("data-resized") or 0)
        assert height > 50
        screenshot(page, "crm-deal-card-with-tab")
