"""«Аудит» → «Проверка архива» in headless Chromium: the auditor picks a ZIP, watches it checked, reads a row per
signature with its verdict; a reload shows the same check again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import AUDITOR, DIRECTOR, Klikdok, People
from tests.workflow.test_archive_checks import DOC, _zip

pytestmark = pytest.mark.browser


def test_the_auditor_checks_an_archive_on_the_page(kd: Klikdok, people: People, page: Any, tmp_path: Path) -> None:
    archive = tmp_path / "Архив договоров.zip"
    archive.write_bytes(
        _zip(
            {
                "Договор.pdf": DOC,
                "Договор.pdf.sig": people.sign(DIRECTOR, DOC),
                "Изменённый.pdf": DOC + b"!",
                "Изменённый.pdf.sig": people.sign(DIRECTOR, DOC),
                "заметки.txt": b"note",
            }
        )
    )
    uploads: list[dict[str, str]] = []
    page.on("request", lambda r: uploads.append(r.headers) if r.url.endswith("/api/v1/archive-checks/") and
            r.method == "POST" else None)  # fmt: skip
    open_app_page(page, kd, AUDITOR, "#audit")
    page.wait_for_selector("#kd-archive-form")
    page.set_input_files("#kd-archive-file", str(archive))
    page.click("#kd-archive-start")
    status = "#kd-archive-status"
    page.wait_for_selector(f"{status}:has-text('завершена')", timeout=60_000)
    text = page.inner_text(status)
    assert "Проверка архива «Архив договоров.zip» завершена: подписей 2" in text
    assert "действительна: 1" in text and "недействительна: 1" in text and "Файлов без подписи: 1" in text
    rows = page.locator("#kd-archive-result tbody tr")
    assert rows.count() == 2
    changed = page.locator("#kd-archive-result tr[data-verdict='invalid']")
    assert "Изменённый.pdf.sig" in changed.inner_text() and "ДОКУМЕНТ ИЗМЕНЁН" in changed.inner_text()
    assert len(uploads) == 1 and uploads[0].get("idempotency-key")
    shot(page, "41-audit-archive-check")
    # A reload (or coming back later) shows the latest check where it stands.
    page.reload()
    page.evaluate("location.hash = '#audit'")
    page.wait_for_selector(f"{status}:has-text('завершена')", timeout=30_000)
    assert page.locator("#kd-archive-result tbody tr").count() == 2
