"""The application page ("На подпись", "Отдел", "Аудит") opened the way the portal opens a local app: the user
clicks it in the portal's menu, the portal renders a frame and POSTs the user's tokens to the app's registered
handler with PLACEMENT=DEFAULT. Here the portal is the emulator's ``/marketplace/app/`` page.
"""

from __future__ import annotations

import html
import re

import httpx
import pytest

from tests.support.server import REPO
from tests.workflow.conftest import ACCOUNTANT, CHIEF_ACCOUNTANT, MANAGER, Klikdok

ARTIFACTS = REPO / "test-artifacts" / "workflow"
PDF = b"%PDF-1.4 app page\n"


def registered(kd: Klikdok) -> Klikdok:
    """The admin registered the local app with its main page at <klikdok>/b24/app."""
    kd.emu.state.app_handler = f"{kd.url}/b24/app"
    return kd


def test_the_portal_app_page_posts_the_users_tokens_to_the_handler(kd: Klikdok) -> None:
    registered(kd)
    page = httpx.get(f"{kd.emu.base_url}/marketplace/app/?user={CHIEF_ACCOUNTANT}", timeout=30)
    assert page.status_code == 200
    form = re.search(
        r'<form id="placement-form" method="POST" target="app-frame" action="([^"]+)">(.*?)</form>', page.text
    )
    assert form, page.text
    action = html.unescape(form.group(1))
    assert action.startswith(f"{kd.url}/b24/app?") and "APP_SID=" in action and "DOMAIN=" in action
    fields = {
        html.unescape(k): html.unescape(v)
        for k, v in re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)">', form.group(2))
    }
    assert fields["PLACEMENT"] == "DEFAULT" and fields["AUTH_ID"] and fields["member_id"]
    # What the browser does with that form: the app page, signed in as the user who opened it.
    app = httpx.post(action, data=fields, timeout=30)
    assert app.status_code == 200, app.text
    # She heads a department but is no auditor: «Аудит» is not offered to her (issue 15).
    for label in ("На подпись", "Мои документы", "Отдел"):
        assert label in app.text
    assert 'data-view="audit"' not in app.text
    session = re.search(r'data-session="([^"]+)"', app.text)
    assert session
    me = httpx.get(f"{kd.url}/api/v1/me", headers={"X-KlikDok-Session": session.group(1)}, timeout=30)
    assert me.status_code == 200 and me.json()["user_id"] == CHIEF_ACCOUNTANT


def test_without_a_registered_handler_the_portal_says_so(kd: Klikdok) -> None:
    kd.emu.state.app_handler = ""  # the admin has not registered the app's handler (install sets it, as the demo)
    page = httpx.get(f"{kd.emu.base_url}/marketplace/app/?user={MANAGER}", timeout=30)
    assert page.status_code == 200 and "не зарегистрировано" in page.text and "<iframe" not in page.text


@pytest.mark.browser
def test_the_app_opens_inside_the_portal_in_chromium(kd: Klikdok, browser) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    registered(kd)
    doc = kd.create(MANAGER, ("deal", 1), {"Счёт.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Счёт №8")
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        page.goto(f"{kd.emu.base_url}/?user={CHIEF_ACCOUNTANT}")
        page.click("#open-app")  # the portal's menu entry for the local app
        frame = None
        for _ in range(150):  # page.wait_for_timeout lets Playwright process the frame's navigation meanwhile
            frame = page.frame(name="app-frame")
            if frame is not None and frame.url.startswith(f"{kd.url}/b24/app"):
                break
            page.wait_for_timeout(100)
        assert frame is not None and frame.url.startswith(f"{kd.url}/b24/app"), "the app did not load in the portal"
        frame.wait_for_selector("body[data-session]")
        for label in ("На подпись", "Мои документы", "Отдел"):
            assert frame.locator(f"a:has-text('{label}')").count() >= 1, label
        assert frame.locator("a[data-view='audit']").count() == 0  # not an auditor (issue 15)
        # The signer's queue inside the portal frame lists the document waiting for her.
        frame.evaluate("location.hash = '#queue'")
        frame.wait_for_selector(f"[data-document-id='{doc}']", timeout=20000)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "app-page-in-portal.png"), full_page=True)
        # Someone else opening the same menu entry gets their own session, not hers.
        other = context.new_page()
        other.goto(f"{kd.emu.base_url}/marketplace/app/?user={ACCOUNTANT}")
        for _ in range(150):
            frame = other.frame(name="app-frame")
            if frame is not None and frame.url.startswith(f"{kd.url}/b24/app"):
                break
            other.wait_for_timeout(100)
        assert frame is not None
        frame.wait_for_selector("body[data-session]")
        token = frame.get_attribute("body", "data-session")
        me = httpx.get(f"{kd.url}/api/v1/me", headers={"X-KlikDok-Session": str(token)}, timeout=30)
        assert me.json()["user_id"] == ACCOUNTANT
    finally:
        context.close()
