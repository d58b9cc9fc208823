"""«Создать из шаблона» over real HTTP: a real ``klikdok serve`` on the portal emulator, whose document generator
makes numbered documents with a real PDF (demo/emulator_templates.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from demo.emulator_templates import docgen, documents_of
from demo.portal_emulator import PortalEmulator
from server.workflow.files import digests
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

DEAL = ("deal", 1)


@pytest.fixture
def kd(tmp_path: Path, emulator: PortalEmulator, people: People) -> Iterator[Klikdok]:  # noqa: F811  pytest injects the imported fixture of this name
    with installed_klikdok(tmp_path / "data", emulator, server_env(people.pki)) as k:
        yield k


def test_templates_are_listed_for_the_cards_entity_type(kd: Klikdok) -> None:
    deal = kd.api("GET", "/templates", MANAGER, DEAL)
    assert deal.status_code == 200, deal.text
    assert sorted(t["name"] for t in deal.json()) == ["Договор поставки", "Счёт на оплату"]
    company = kd.api("GET", "/templates", MANAGER, ("company", 2))
    assert [t["name"] for t in company.json()] == ["Договор с компанией"]


def test_create_from_template_sends_the_generated_pdf(kd: Klikdok) -> None:
    key = {"Idempotency-Key": "tpl-create-0001"}
    body = {"signers": [DIRECTOR]}
    resp = kd.api("POST", "/templates/37/documents", MANAGER, DEAL, json=body, headers=key)
    assert resp.status_code == 201, resp.text
    doc_id = resp.json()["id"]
    # The same click again (same key) is the same answer: no second document in the portal's generator.
    again = kd.api("POST", "/templates/37/documents", MANAGER, DEAL, json=body, headers=key)
    assert again.status_code == 201 and again.json()["id"] == doc_id
    made = documents_of(kd.emu.state)
    assert len(made) == 1 and made[0]["entityId"] == "1" and made[0]["templateId"] == "37"
    pdf = docgen(kd.emu.state).pdfs[made[0]["id"]]
    assert pdf.startswith(b"%PDF-")

    detail = kd.api("GET", f"/documents/{doc_id}", MANAGER, DEAL).json()
    assert detail["document"]["title"] == f"Договор поставки {made[0]['number']}"
    assert detail["document"]["state"] == "awaiting_internal"
    assert detail["counterparty_email"] == "info@alfa-postavka.example"  # the company's, as for an upload
    [stored] = detail["files"]
    assert stored["streebog256"] == digests(pdf)[0]
    assert stored["size"] == len(pdf)
    served = kd.api("GET", f"/documents/{doc_id}/files/{stored['id']}/content", MANAGER, DEAL)
    assert served.status_code == 200 and served.content == pdf


def test_create_from_template_needs_a_key_and_a_template_of_this_card(kd: Klikdok) -> None:
    no_key = kd.api("POST", "/templates/37/documents", MANAGER, DEAL, json={"signers": [DIRECTOR]})
    assert no_key.status_code == 400 and no_key.json()["error"] == "idempotency_key_required"
    company_template = kd.api(
        "POST",
        "/templates/41/documents",
        MANAGER,
        DEAL,
        json={"signers": [DIRECTOR]},
        headers={"Idempotency-Key": "key-tpl-41-x"},
    )
    assert company_template.status_code == 409, company_template.text
    assert "шаблона нет" in company_template.json()["message"]
    no_signer = kd.api(
        "POST", "/templates/37/documents", MANAGER, DEAL, json={}, headers={"Idempotency-Key": "key-tpl-37-y"}
    )
    assert no_signer.status_code == 400 and no_signer.json()["error"] == "no_signers"
    assert documents_of(kd.emu.state) == []  # nothing was made in the portal's generator for a refused request


def test_install_binds_the_deal_list_menu_once(kd: Klikdok) -> None:
    kd.install()  # a reinstall
    menus = [p for p in kd.emu.state.placements if p["placement"] == "CRM_DEAL_LIST_MENU"]
    assert len(menus) == 1 and menus[0]["handler"] == f"{kd.url}/b24/bulk"


def test_the_server_waits_for_the_portal_to_make_the_pdf(kd: Klikdok) -> None:
    docgen(kd.emu.state).pdf_after_gets = 2  # the converter is still working for the first two reads
    resp = kd.api(
        "POST",
        "/templates/39/documents",
        MANAGER,
        DEAL,
        json={"signers": [DIRECTOR]},
        headers={"Idempotency-Key": "key-wait-pdf"},
    )
    assert resp.status_code == 201, resp.text
    [made] = documents_of(kd.emu.state)
    assert made["_gets"] >= 3
    [(digest,)] = kd.query("SELECT streebog256 FROM document_files")
    assert digest == digests(docgen(kd.emu.state).pdfs[made["id"]])[0]
