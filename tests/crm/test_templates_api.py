"""«Создать из шаблона» over real HTTP: a real ``klikdok serve`` on the portal emulator, whose document generator
makes numbered documents with a real PDF (demo/emulator_templates.py)."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from demo.emulator_templates import docgen, documents_of
from demo.portal_emulator import PortalEmulator
from server.workflow.files import digests
from tests.support.server import start_server
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
    wait_for,
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


def _create(kd: Klikdok, key: str) -> httpx.Response:
    return kd.api(
        "POST", "/templates/37/documents", MANAGER, DEAL, json={"signers": [DIRECTOR]}, headers={"Idempotency-Key": key}
    )


def test_a_click_after_a_kill_takes_the_generator_document_the_dead_server_asked_for(
    kd: Klikdok,
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
) -> None:
    """The server dies after the portal made the generator document but before its answer arrived: the next click
    (a new key: the page is reloaded) finds that document above the recorded floor instead of making a second."""
    stall = kd.emu.state.stall("crm.documentgenerator.document.add", seconds=60)
    with ThreadPoolExecutor(1) as pool:
        lost = pool.submit(_create, kd, "tpl-kill-0001")
        wait_for(lambda: stall.times == 0, 30, what="a document.add whose answer is held")
        kd.server.stop(signal.SIGKILL)
        stall.release.set()
        with pytest.raises(httpx.TransportError):
            lost.result(timeout=60)
    wait_for(lambda: len(documents_of(kd.emu.state)) == 1, 30, what="the portal finishing the held add")
    kd.server = start_server(kd.server.data_dir, env=server_env(people.pki))

    again = _create(kd, "tpl-kill-0002")
    assert again.status_code == 201, again.text
    [made] = documents_of(kd.emu.state)  # the portal still has one generator document for the deal
    assert kd.emu.state.calls.count("crm.documentgenerator.document.add") == 1
    detail = kd.api("GET", f"/documents/{again.json()['id']}", MANAGER, DEAL).json()
    assert detail["document"]["title"] == f"Договор поставки {made['number']}"
    # The attempt is finished: the next click is a new document, in the portal and here.
    third = _create(kd, "tpl-kill-0003")
    assert third.status_code == 201 and third.json()["id"] != again.json()["id"]
    assert len(documents_of(kd.emu.state)) == 2
    assert kd.query("SELECT count(*) FROM template_attempts WHERE document_id IS NULL") == [(0,)]


def test_a_pdf_that_was_not_ready_is_sent_on_the_next_click_without_a_second_document(kd: Klikdok) -> None:
    docgen(kd.emu.state).pdf_after_gets = 1000  # the portal's converter is stuck
    refused = _create(kd, "tpl-slow-0001")
    assert refused.status_code == 409 and refused.json()["error"] == "pdf_not_ready", refused.text
    assert "второй не появится" in refused.json()["message"]
    docgen(kd.emu.state).pdf_after_gets = 0  # converted meanwhile
    sent = _create(kd, "tpl-slow-0002")
    assert sent.status_code == 201, sent.text
    assert len(documents_of(kd.emu.state)) == 1
