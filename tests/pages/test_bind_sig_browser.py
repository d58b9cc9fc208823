"""«Мои сертификаты» → «Файлом .sig» in headless Chromium, and the offer to bind an unbound certificate after a
refused manual signature or a refused CryptoARM GOST run (the signing progress panel shows the same button):
everything through the page, the signature made by openssl (gost engine) at test time as the person would make it
in КриптоПро / КриптоАРМ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.agent.conftest import pdf
from tests.browser import settled
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.pages.conftest import open_app_page, shot
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, signing_pki, wait_for

pytestmark = pytest.mark.browser
DEAL = ("deal", 1)


def get_code(page: Any, tmp_path: Path) -> bytes:
    """Ask for a code, download it as the file the page offers; the file is exactly the code."""
    page.click("#kd-sig-get")
    page.wait_for_selector("#kd-sig-step:not([hidden])")
    code = page.inner_text("#kd-sig-code")
    assert "действует до" in page.inner_text("#kd-sig-expires")
    with page.expect_download() as info:
        page.click("#kd-sig-download")
    download = info.value
    assert download.suggested_filename == "klikdok-kod.txt"
    target = tmp_path / f"code-{code[-6:]}.txt"
    download.save_as(str(target))
    data = target.read_bytes()
    assert data == code.encode()
    return data


def test_bind_a_certificate_with_a_sig_of_the_downloaded_code(
    kd: Klikdok, people: People, page: Any, tmp_path: Path
) -> None:
    director = people.certs[DIRECTOR]
    open_app_page(page, kd, DIRECTOR, "#certificates")
    page.wait_for_selector("#kd-bind #kd-sig-get")
    assert page.is_disabled("#kd-sig-send")

    # A .sig without the certificate inside: the page asks for the .cer, and the same code still works.
    code = get_code(page, tmp_path)
    assert "cryptcp -sign" in page.inner_text("#kd-sig-howto")
    bare = tmp_path / "bare.sig"
    bare.write_bytes(signing_pki().sign(director, code, nocerts=True))
    page.set_input_files("#kd-sig-file", str(bare))
    assert page.is_enabled("#kd-sig-send")
    page.click("#kd-sig-send")
    page.wait_for_selector("#kd-sig-cert-field:not([hidden])")
    assert ".cer" in page.inner_text("#kd-sig-result")
    shot(page, "20-bind-sig-asks-for-cer")
    cer = tmp_path / "director.cer"
    cer.write_bytes(director.cert_der)
    page.set_input_files("#kd-sig-cert", str(cer))
    page.click("#kd-sig-send")
    page.wait_for_selector("#kd-sig-result.kd-ok")
    assert "привязан" in page.inner_text("#kd-sig-result")
    page.wait_for_function("document.getElementById('kd-certificates').textContent.includes('Соколов')")
    assert kd.query("SELECT count(*) FROM signer_certificates WHERE user_id = ?", DIRECTOR) == [(1,)]

    # The usual way: a .sig that carries its certificate, nothing else to attach.
    code = get_code(page, tmp_path)
    assert page.is_hidden("#kd-sig-cert-field")
    full = tmp_path / "klikdok-kod.txt.sig"
    full.write_bytes(signing_pki().sign(director, code))
    page.set_input_files("#kd-sig-file", str(full))
    page.click("#kd-sig-send")
    page.wait_for_selector("#kd-sig-result.kd-ok")
    assert page.is_hidden("#kd-sig-step")
    shot(page, "21-bind-sig-bound")
    proofs = [
        json.loads(d)["proof"]
        for (d,) in kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered' ORDER BY id")
    ]
    assert proofs == ["sig", "sig"]


def test_a_refused_manual_signature_offers_to_bind_its_certificate(
    kd: Klikdok, people: People, page: Any, tmp_path: Path
) -> None:
    data = pdf(7)
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": data}, signers=[DIRECTOR], title="Договор №7")
    sig = tmp_path / "Договор.pdf.sig"
    sig.write_bytes(people.sign(DIRECTOR, data))
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    settled(page)  # the queue's first loads done: a check sent while it still redraws was lost under load (CI)
    page.check("#kd-select-all")
    page.click("#kd-sign-manual")
    page.wait_for_selector("#kd-batch .kd-sig-input")
    page.set_input_files("#kd-batch .kd-sig-input", str(sig))
    page.wait_for_selector("#kd-batch [data-bind-offer]")
    offer = page.inner_text("#kd-batch [data-bind-offer]")
    assert "Соколов Андрей Викторович" in offer and "не привязан" in offer
    assert "не зарегистрирован" in page.inner_text("#kd-batch .kd-field .kd-error")
    shot(page, "22-refused-signature-offers-binding")
    assert kd.query("SELECT count(*) FROM signatures") == [(0,)]

    page.click("#kd-batch [data-action='accept-bind-offer']")
    wait_for(
        lambda: kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_counterparty",)],
        what="the refused signature accepted after binding",
    )
    page.wait_for_selector("#kd-queue-empty")
    assert kd.query("SELECT source, signer_user_id FROM signatures") == [("upload", DIRECTOR)]
    [(details,)] = kd.query("SELECT details FROM audit_log WHERE action = 'certificate.registered'")
    assert json.loads(details)["proof"] == "signature"
    shot(page, "23-offer-accepted")


def test_a_refused_cryptoarm_signature_offers_binding_in_the_progress_panel(
    kd: Klikdok, people: People, page: Any
) -> None:
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(8)}, signers=[DIRECTOR], title="Договор №8")
    open_app_page(page, kd, DIRECTOR)
    page.wait_for_selector("#kd-queue table.kd-documents")
    settled(page)  # the queue's first loads done: a check sent while it still redraws was lost under load (CI)
    page.check("#kd-select-all")
    page.click("#kd-sign-cryptoarm")
    page.wait_for_selector("#kd-cryptoarm-link")
    link = str(page.get_attribute("#kd-cryptoarm-link", "href"))
    cert = people.certs[DIRECTOR]
    assert CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link).outcome == "uploaded"

    # The run is over (the panel stops redrawing), and the refusal offers binding.
    page.wait_for_selector("#kd-progress[data-finished='yes'] [data-bind-offer]", timeout=15000)
    offer = page.inner_text("#kd-progress [data-bind-offer]")
    assert "Соколов Андрей Викторович" in offer and "не привязан" in offer
    assert "подпись не принята" in page.inner_text("#kd-progress .kd-progress-list")
    shot(page, "24-refused-cryptoarm-signature-offers-binding")
    # After a cryptoarm:// link headless Chromium takes no mouse input (the OS handler's prompt): a DOM click, as
    # test_job_handover_browser.py does.
    page.dispatch_event("#kd-progress [data-action='accept-bind-offer']", "click")
    page.wait_for_selector("#kd-progress-done", timeout=15000)
    assert kd.query("SELECT source, signer_user_id FROM signatures WHERE document_id = ?", doc) == [
        ("cryptoarm", DIRECTOR)
    ]
    assert kd.query("SELECT status FROM jobs WHERE document_id = ?", doc) == [("done",)]
