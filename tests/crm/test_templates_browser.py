"""«Создать из шаблона» and the bulk send in headless Chromium, on a real server and the portal emulator.

Screenshots: test-artifacts/crm-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator_templates import add_deals_with_contacts, docgen, documents_of
from demo.portal_emulator import PortalEmulator
from server.workflow.files import digests
from tests.browser import screenshot
from tests.pages.conftest import frame_named, open_tab
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    emulator,
    gost_pki,
    installed_klikdok,
    people,
    portal_server,
    server_env,
)

pytestmark = pytest.mark.browser


@pytest.fixture
def kd(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:  # noqa: F811  pytest injects the imported fixture of this name
    with installed_klikdok(tmp_path / "data", emulator, server_env(people.pki)) as k:
        yield k


def test_a_template_picked_in_the_create_dialog_is_sent_as_the_portals_pdf(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    open_tab(page, kd)
    page.click("#kd-new")
    page.wait_for_selector("#kd-template option:has-text('Договор поставки')", state="attached")
    page.select_option("#kd-template", label="Договор поставки")
    page.wait_for_selector("#kd-signer-options option", state="attached")
    page.select_option("#kd-signer-options", str(DIRECTOR))
    page.click("#kd-signer-add")
    screenshot(page, "crm-create-from-template")
    page.click("#kd-create-send")
    page.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
    [made] = documents_of(kd.emu.state)
    assert made["templateId"] == "37" and made["entityId"] == "1"
    [(title, digest)] = kd.query(
        "SELECT d.title, f.streebog256 FROM documents d JOIN document_files f ON f.document_id = d.id"
    )
    assert title == made["title"]
    assert digest == digests(docgen(kd.emu.state).pdfs[made["id"]])[0]
    assert made["title"] in page.inner_text("table.kd-documents")


def test_bulk_send_from_the_deal_list_shows_progress_and_failures_and_survives_a_reload(kd: Klikdok, page) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    deals = add_deals_with_contacts(kd.emu.state, 3, without_email={1})
    docgen(kd.emu.state).pdf_after_gets = 1  # each PDF is not there at the first look: the row is tried again
    list_url = f"{kd.emu.base_url}/crm/deal/list/?user={MANAGER}&open={deals[0]}"
    page.goto(list_url)
    frame = frame_named(page, "app-frame", f"{kd.url}/b24/bulk")
    frame.wait_for_selector("#kd-bulk-template option:has-text('Договор поставки')", state="attached")
    # The row whose menu was opened is picked; the user adds the others.
    assert frame.is_checked(f"input[name=card][value='{deals[0]}']")
    for deal in deals[1:]:
        frame.check(f"input[name=card][value='{deal}']")
    frame.select_option("#kd-bulk-template", label="Договор поставки")
    frame.wait_for_selector("#kd-bulk-signers option", state="attached")
    frame.select_option("#kd-bulk-signers", str(DIRECTOR))
    frame.click("#kd-bulk-start")
    frame.wait_for_selector("#kd-bulk-finished:not([hidden])", timeout=60_000)
    assert frame.inner_text("#kd-bulk-done") == "2"
    assert frame.inner_text("#kd-bulk-total") == "3"
    failure = frame.inner_text(f"#kd-bulk-failures li[data-deal='{deals[1]}']")
    assert "нет адреса электронной почты" in failure
    screenshot(page, "crm-bulk-progress")

    # The portal page opened again (the frame is POSTed anew): the same job's progress, not an empty form.
    page.goto(list_url)
    frame = frame_named(page, "app-frame", f"{kd.url}/b24/bulk")
    frame.wait_for_selector("#kd-bulk-finished:not([hidden])")
    assert frame.inner_text("#kd-bulk-done") == "2"
    assert frame.is_hidden("#kd-bulk-form")
    assert sorted(int(d["entityId"]) for d in documents_of(kd.emu.state)) == [deals[0], deals[2]]
