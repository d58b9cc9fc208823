"""The stamped copies and the protocol in the CRM tab's document panel, in headless Chromium inside the emulated
deal card (issue 16): no link before the first signature; once the director has signed, each file offers
«Копия с отметками об ЭП» and the panel «Протокол проверки (PDF)», and a click downloads a PDF naming the
signer's certificate serial. The counterparty's page offers the same and a click there downloads them too.
Screenshots: test-artifacts/pages/16-panel-paper-copies.png, 16-counterparty-paper-copies.png."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.browser import open_settled
from tests.counterparty.conftest import Exchange, SmtpServer, link_in
from tests.counterparty.test_paper_copies import FILES, ORIGINAL, serials, text_of
from tests.pages.conftest import open_deal_tab, shot
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People

pytestmark = pytest.mark.browser
PROTOCOL = "Протокол проверки (PDF)"


def open_panel(frame: Any, doc_id: int) -> str:
    frame.click(f"#kd-documents tr[data-document-id='{doc_id}'] .kd-open")
    panel = f"#kd-doc-{doc_id}"
    frame.wait_for_selector(f"{panel} .kd-doc-files")
    return panel


def downloaded(page: Any, frame: Any, selector: str) -> tuple[str, bytes]:
    with page.expect_download() as info:
        frame.click(selector)
    path = info.value.path()
    return str(info.value.suggested_filename), Path(path).read_bytes()


def test_the_panel_offers_the_stamped_copies_and_the_protocol_once_signed(
    kd: Klikdok, people: People, page: Any, smtp: SmtpServer
) -> None:
    ex = Exchange(kd, smtp, people)
    draft = kd.create(
        MANAGER, ("deal", 1), {ORIGINAL: FILES[ORIGINAL]}, signers=[DIRECTOR], title="Черновик", send=False
    )
    doc_id = ex.company_signed(dict(FILES))
    serial = {name: found[0] for name, found in serials(ex, doc_id).items()}

    frame = open_deal_tab(page, kd, MANAGER)
    panel = open_panel(frame, draft)
    assert frame.locator(f"{panel} [data-stamped]").count() == 0
    assert frame.locator(f"{panel} [data-action='{PROTOCOL}']").count() == 0

    panel = open_panel(frame, doc_id)
    buttons = frame.locator(f"{panel} button[data-stamped]")
    assert buttons.count() == 2
    assert {buttons.nth(i).inner_text() for i in range(2)} == {"Копия с отметками об ЭП"}
    assert frame.locator(f"{panel} [data-action='{PROTOCOL}']").is_visible()
    shot(page, "16-panel-paper-copies")

    for name in FILES:
        file_id = kd.query("SELECT id FROM document_files WHERE document_id = ? AND name = ?", doc_id, name)[0][0]
        got_name, data = downloaded(page, frame, f"{panel} button[data-stamped='{file_id}']")
        assert got_name.endswith(".pdf") and got_name != name, got_name
        assert serial[name] in text_of(data), name
    got_name, data = downloaded(page, frame, f"{panel} [data-action='{PROTOCOL}']")
    assert got_name.endswith(".pdf")
    text = text_of(data)
    assert all(s in text for s in serial.values())

    # The counterparty's page, opened from the invitation: the same copies, downloaded by a plain link.
    open_settled(page, link_in(ex.invitation()))
    page.wait_for_selector("[data-protocol]")
    assert page.locator("a[data-stamped]").count() == 2
    shot(page, "16-counterparty-paper-copies")
    original = kd.query("SELECT id FROM document_files WHERE document_id = ? AND name = ?", doc_id, ORIGINAL)[0][0]
    got_name, data = downloaded(page, page, f"a[data-stamped='{original}']")
    assert got_name.endswith(".pdf") and serial[ORIGINAL] in text_of(data)
    got_name, data = downloaded(page, page, "[data-protocol]")
    assert got_name.endswith(".pdf") and all(s in text_of(data) for s in serial.values())
