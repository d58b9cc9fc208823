"""«Аудит» → select found documents → «Протокол проверки (PDF)» in headless Chromium: one PDF with a section per
selected document downloads; the request carries an Idempotency-Key and a double click sends it once."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import AUDITOR, DIRECTOR, MANAGER, Klikdok, People
from tests.workflow.test_protocol_routes import PDF, check_numbered, signed_document

pytestmark = pytest.mark.browser


def test_the_auditor_downloads_the_protocol_of_the_selected_documents(
    kd: Klikdok, people: People, page: Any, tmp_path: Path
) -> None:
    signed = signed_document(kd, people)
    other = kd.create(MANAGER, ("deal", 2), {"Акт.pdf": PDF}, signers=[DIRECTOR], title="Акт сверки")
    third = kd.create(MANAGER, ("deal", 2), {"Счёт.pdf": PDF}, signers=[DIRECTOR], title="Счёт не выбран")
    sent: list[dict[str, str]] = []
    page.on("request", lambda r: sent.append(r.headers) if r.url.endswith("/api/v1/reports/protocol.pdf") else None)
    open_app_page(page, kd, AUDITOR, "#audit")
    page.wait_for_selector(f"#kd-audit tr[data-document-id='{third}']")
    button = "#kd-audit-protocol"
    assert page.inner_text(button) == "Протокол проверки (PDF)" and page.is_disabled(button)
    box = "#kd-audit tr[data-document-id='{}'] .kd-select"
    assert page.get_attribute(box.format(signed), "aria-label") == "Выбрать «Договор поставки»"
    page.check(box.format(signed))
    page.check(box.format(other))
    assert page.is_enabled(button) and page.inner_text("#kd-audit-protocol-status") == "Выбрано документов: 2"
    with page.expect_download() as info:
        page.dblclick(button)  # busy() keeps the second click from sending again
    download = info.value
    assert download.suggested_filename == "Протокол проверки ЭП — выборка из 2 док.pdf"
    target = tmp_path / "protocol.pdf"
    download.save_as(str(target))
    page.wait_for_selector("#kd-audit-protocol-status:has-text('Протокол проверки скачан')")
    shot(page, "40-audit-protocol")
    text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(target.read_bytes())).pages)
    assert "Документ: Договор поставки" in text and "Документ: Акт сверки" in text
    assert "Счёт не выбран" not in text
    check_numbered(text.split("Документ: Договор поставки")[1].split("Документ: Акт сверки")[0])
    assert len(sent) == 1, sent
    assert re.fullmatch(r"[A-Za-z0-9._:-]{8,128}", sent[0].get("idempotency-key", ""))
    assert page.is_enabled(button) and page.get_attribute(button, "aria-busy") is None
    # Another click after the download is a new request with its own key (a big PDF is not kept for replays).
    with page.expect_download():
        page.click(button)
    assert len(sent) == 2 and sent[1]["idempotency-key"] != sent[0]["idempotency-key"]
