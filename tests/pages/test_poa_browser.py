"""«Мои сертификаты» and «Администрирование» in headless Chromium (issue 18): the employee uploads the МЧД (XML +
.sig) for their certificate and sees its number, principal, validity and verdict, and removes it; the portal admin
uploads one for an employee's certificate. Screenshots: test-artifacts/poa-certificates-*.png."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.portal_emulator import PortalEmulator
from tests.a11y import axe_violations, blocking, describe
from tests.pages.conftest import open_app_page, shot
from tests.support.http_files import FileServer
from tests.support.mchd import COMPANY, MchdPki, MchdSpec, registry_says
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, Klikdok, People, installed_klikdok
from tests.workflow.test_document_panel_browser import open_tab
from tests.workflow.test_poa_internal import PDF, bind_employee, new_document, poa_env

pytestmark = pytest.mark.browser
WAIT = 30_000


@pytest.fixture
def kd_poa(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> Iterator[Klikdok]:
    env = poa_env(people, mchd_pki, fns, KLIKDOK_MCHD_REGISTRY_CHECK="true")
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        yield kd


def _file(name: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}


def test_the_employee_uploads_sees_and_removes_the_mchd_and_the_admin_uploads_one(
    kd_poa: Klikdok, page: Any, mchd_pki: MchdPki, fns: FileServer
) -> None:
    kd = kd_poa
    bind_employee(kd, mchd_pki)
    spec = MchdSpec()
    xml, sig = mchd_pki.signed(spec)
    registry_says(fns, spec.number)

    open_app_page(page, kd, CHIEF_ACCOUNTANT, "#certificates")
    section = page.locator("#kd-poa")
    section.locator(".kd-poa-empty").wait_for(timeout=WAIT)
    assert "Руководителю МЧД не нужна" in section.inner_text()
    # Both files are needed: the page says so before sending anything.
    section.locator(".kd-poa-xml").set_input_files(files=[_file("ON_EMCHD_test.xml", xml)])
    section.locator(".kd-poa-upload").click()
    assert "Выберите оба файла" in section.locator(".kd-poa-result").inner_text()
    section.locator(".kd-poa-sig").set_input_files(files=[_file("ON_EMCHD_test.sig", sig)])
    section.locator(".kd-poa-upload").click()
    row = section.locator("tr.kd-poa-row[data-status=valid]")
    row.wait_for(timeout=WAIT)
    text = row.inner_text()
    assert spec.number in text and COMPANY.name in text and f"ИНН {COMPANY.inn}" in text, text
    assert f"{spec.valid_until:%d.%m.%Y}" in text and "действительна" in text, text
    shot(page, "poa-certificates-employee-1280")
    violations = axe_violations(page, "#kd-poa")
    assert blocking(violations) == [], describe(blocking(violations))
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'poa.uploaded'") == [(1,)]

    row.locator(".kd-poa-remove").click()
    section.locator(".kd-poa-empty").wait_for(timeout=WAIT)
    assert kd.query("SELECT count(*) FROM poa_files WHERE removed_at IS NULL") == [(0,)]

    # The admin binds another МЧД to the employee's certificate on «Администрирование».
    other = MchdSpec()
    xml2, sig2 = mchd_pki.signed(other)
    registry_says(fns, other.number)
    admin = page.context.new_page()
    open_app_page(admin, kd, DIRECTOR, "#admin")
    box = admin.locator("#kd-admin-poa")
    box.locator(".kd-poa-form").wait_for(timeout=WAIT)
    assert "Петрова Мария Сергеевна" in box.locator(".kd-poa-cert").inner_text()
    box.locator(".kd-poa-xml").set_input_files(files=[_file("ON_EMCHD_admin.xml", xml2)])
    box.locator(".kd-poa-sig").set_input_files(files=[_file("ON_EMCHD_admin.sig", sig2)])
    box.locator(".kd-poa-upload").click()
    box.locator("tr.kd-poa-row[data-status=valid]").wait_for(timeout=WAIT)
    assert other.number in box.inner_text()
    shot(admin, "poa-certificates-admin-1280")
    owned = kd.api("GET", "/me/poa", CHIEF_ACCOUNTANT).json()
    assert [p["number"] for p in owned] == [other.number]

    # The employee signs with it; the deal's ЭДО tab shows the МЧД beside the signature.
    doc_id, path = new_document(kd)
    signed = kd.api("POST", path, CHIEF_ACCOUNTANT, content=mchd_pki.pki.sign(mchd_pki.employee, PDF))
    assert signed.status_code == 201, signed.text
    tab = page.context.new_page()
    panel = open_tab(tab, kd, CHIEF_ACCOUNTANT, doc_id)
    note = tab.locator(f"{panel} li[data-signature] [data-poa=valid]")
    note.wait_for(timeout=WAIT)
    assert other.number in note.inner_text() and "действительна" in note.inner_text()
    shot(tab, "poa-certificates-panel-1280")
