"""Where a Bitrix24 notification takes its reader: a document waiting for a signer opens the signer's queue in the
application («На подпись», ``/marketplace/app/<id>/?view=queue``, which the portal hands the app page as
PLACEMENT_OPTIONS), not the deal card; what the author is told about still opens the card."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from demo.portal_state import APP_ID
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, wait_for

QUEUE_LINK = f"[URL=/marketplace/app/{APP_ID}/?view=queue]На подпись[/URL]"
LINK = re.compile(r"\[URL=([^\]]+)\]")


def messages_to(kd: Klikdok, user_id: int, title: str) -> list[str]:
    return [
        str(n["MESSAGE"]) for n in kd.emu.state.notifications if n["USER_ID"] == user_id and title in str(n["MESSAGE"])
    ]


def test_a_signer_is_sent_to_the_queue_and_the_author_to_the_card(kd: Klikdok) -> None:
    doc = kd.create(MANAGER, ("deal", 1), {"a.pdf": b"%PDF-1.4 a"}, signers=[DIRECTOR], title="Договор аренды")
    wait_for(lambda: messages_to(kd, DIRECTOR, "Договор аренды"), what="the signer's notification")
    [asked] = messages_to(kd, DIRECTOR, "Договор аренды")
    assert asked.endswith(QUEUE_LINK), asked
    assert "/crm/deal/details/" not in asked

    assert kd.api("POST", f"/documents/{doc}/remind", MANAGER).status_code == 200
    wait_for(lambda: len(messages_to(kd, DIRECTOR, "Договор аренды")) == 2, what="the reminder")
    assert messages_to(kd, DIRECTOR, "Договор аренды")[1].endswith(QUEUE_LINK)

    rejected = kd.api("POST", f"/documents/{doc}/reject", DIRECTOR, json={"reason": "Не та редакция"})
    assert rejected.status_code == 200, rejected.text
    wait_for(lambda: messages_to(kd, MANAGER, "Договор аренды"), what="the author's notification")
    [told] = messages_to(kd, MANAGER, "Договор аренды")
    assert told.endswith("[URL=/crm/deal/details/1/]Открыть[/URL]"), told


@pytest.mark.browser
def test_the_link_opens_the_queue_with_the_document(kd: Klikdok, browser: Any) -> None:
    kd.emu.state.app_handler = f"{kd.url}/b24/app"  # the handler the admin registered for the app
    doc = kd.create(MANAGER, ("deal", 1), {"b.pdf": b"%PDF-1.4 b"}, signers=[DIRECTOR], title="Счёт на оплату")
    wait_for(lambda: messages_to(kd, DIRECTOR, "Счёт на оплату"), what="the signer's notification")
    match = LINK.search(messages_to(kd, DIRECTOR, "Счёт на оплату")[0])
    assert match
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        # The reader clicks the link in the portal (the emulator's page stands for the portal's app layout).
        page.goto(f"{kd.emu.base_url}{match.group(1)}&user={DIRECTOR}")
        frame = None
        for _ in range(150):
            frame = page.frame(name="app-frame")
            if frame is not None and frame.url.startswith(kd.url):
                break
            page.wait_for_timeout(100)
        assert frame is not None and frame.url.startswith(kd.url)
        frame.wait_for_selector(f"#kd-queue tr[data-document-id='{doc}']")
        assert frame.is_visible("#view-queue") and not frame.is_visible("#view-department")
    finally:
        context.close()


def test_the_emulated_portal_opens_only_its_own_application(kd: Klikdok) -> None:
    kd.emu.state.app_handler = f"{kd.url}/b24/app"
    other = httpx.get(f"{kd.emu.base_url}/marketplace/app/99/?view=queue&user={DIRECTOR}", timeout=10)
    assert "Приложение не найдено" in other.text and "app-frame" not in other.text
    ours = httpx.get(f"{kd.emu.base_url}/marketplace/app/{APP_ID}/?view=queue&user={DIRECTOR}", timeout=10)
    # The link's query reaches the app page as PLACEMENT_OPTIONS, the emulator's own `user` knob does not.
    assert 'name="PLACEMENT_OPTIONS" value="{&quot;view&quot;: &quot;queue&quot;}"' in ours.text, ours.text
