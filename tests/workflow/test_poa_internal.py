"""Our employee signs with their own certificate and an МЧД bound to it on «Мои сертификаты» (issue 18).

A real ``klikdok serve`` on the portal emulator, the МЧД built from the ФНС schema's structure and signed by the
company head with ``openssl cms`` (tests/support/mchd.py), the ФНС registry a loopback fake. The company is
tests.support.mchd.COMPANY, named ours in ``[policy] company_inn``; its employee's certificate (СНИЛС + ИНН ФЛ, no
organisation) is bound to the chief accountant, approved by the portal admin.
"""

from __future__ import annotations

import io
import json
import zipfile
from pathlib import Path

import httpx

from demo.portal_emulator import PortalEmulator
from tests.support.http_files import FileServer
from tests.support.mchd import COMPANY, OTHER_COMPANY, MchdPki, MchdSpec, registry_path, registry_says
from tests.support.pdf_tools import page_text
from tests.workflow.conftest import (
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    installed_klikdok,
    server_env,
)

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Акт сверки №4 от 01.12.2026".encode() + b"\n%%EOF\n"


def poa_env(people: People, mchd_pki: MchdPki, fns: FileServer, **extra: str) -> dict[str, str]:
    """The suites' server settings, trusting the МЧД PKI beside the people's, with the МЧД company as ours."""
    gost = people.pki
    env = server_env(
        gost,
        KLIKDOK_TRUST_ROOTS=json.dumps([str(gost.root.cert), str(mchd_pki.root.cert)]),
        KLIKDOK_TRUST_INTERMEDIATES=json.dumps([str(gost.inter.cert), str(mchd_pki.inter.cert)]),
        KLIKDOK_TRUST_CRLS=json.dumps([str(gost.crl), str(gost.root_crl), *(str(c) for c in mchd_pki.crls)]),
        KLIKDOK_POLICY_COMPANY_INN=json.dumps([COMPANY.inn]),
        KLIKDOK_MCHD_REGISTRY_URL=fns.base_url,
        KLIKDOK_MCHD_REGISTRY_TIMEOUT_SECONDS="3",
    )
    env.update(extra)
    return env


def bind_employee(kd: Klikdok, mchd_pki: MchdPki) -> int:
    """The employee's certificate bound to the chief accountant: it is not the company's, so the admin approves it."""
    kd.register_cert(CHIEF_ACCOUNTANT, mchd_pki.employee)
    mine = kd.api("GET", "/me/certificates", CHIEF_ACCOUNTANT).json()
    assert [c["status"] for c in mine] == ["pending"], mine
    approved = kd.api("POST", f"/admin/certificates/{mine[0]['id']}/approve", DIRECTOR)
    assert approved.status_code == 200, approved.text
    return int(mine[0]["id"])


def upload_poa(kd: Klikdok, user: int, certificate_id: int, xml: bytes, sig: bytes) -> httpx.Response:
    return kd.api(
        "POST",
        f"/certificates/{certificate_id}/poa",
        user,
        files=[
            ("xml", ("ON_EMCHD_test.xml", xml, "text/xml")),
            ("sig", ("ON_EMCHD_test.sig", sig, "application/pkcs7-signature")),
        ],
    )


def new_document(kd: Klikdok) -> tuple[int, str]:
    doc_id = kd.create(MANAGER, DEAL, {"Акт сверки.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Акт сверки")
    file_id = kd.api("GET", f"/documents/{doc_id}", CHIEF_ACCOUNTANT).json()["files"][0]["id"]
    return doc_id, f"/documents/{doc_id}/files/{file_id}/signatures"


def refusals(kd: Klikdok) -> list[dict[str, object]]:
    rows = kd.query("SELECT details FROM audit_log WHERE action = 'signature.refused' ORDER BY id")
    return [json.loads(r[0]) for r in rows]


def test_require_refuses_without_the_mchd_and_accepts_with_it_everywhere_shown(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    env = poa_env(people, mchd_pki, fns, KLIKDOK_POLICY_INTERNAL_POA="require", KLIKDOK_MCHD_REGISTRY_CHECK="true")
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        cert_id = bind_employee(kd, mchd_pki)
        doc_id, path = new_document(kd)
        cms = mchd_pki.pki.sign(mchd_pki.employee, PDF)

        # No МЧД bound: refused, saying what is missing and where to upload it; nothing changes but the audit.
        before = kd.query("SELECT state, warnings FROM documents WHERE id = ?", doc_id)
        refused = kd.api("POST", path, CHIEF_ACCOUNTANT, content=cms)
        assert refused.status_code == 422 and refused.json()["error"] == "poa_missing", refused.text
        assert "не приложена" in refused.json()["message"] and "Мои сертификаты" in refused.json()["message"]
        assert kd.query("SELECT state, warnings FROM documents WHERE id = ?", doc_id) == before
        assert kd.query("SELECT count(*) FROM signatures") == [(0,)]
        assert [r["code"] for r in refusals(kd)] == ["poa_missing"]

        # An МЧД of another company (its principal is not ours): refused at signing, the failed check named.
        foreign_spec = MchdSpec(principal=OTHER_COMPANY)
        xml, sig = mchd_pki.signed(foreign_spec)
        registry_says(fns, foreign_spec.number)
        up = upload_poa(kd, CHIEF_ACCOUNTANT, cert_id, xml, sig)
        assert up.status_code == 201, up.text
        assert up.json()["status"] == "invalid" and OTHER_COMPANY.inn in up.json()["summary"]
        wrong = kd.api("POST", path, CHIEF_ACCOUNTANT, content=cms)
        assert wrong.status_code == 422 and wrong.json()["error"] == "poa_invalid", wrong.text
        message = wrong.json()["message"]
        assert f"доверитель в МЧД — {OTHER_COMPANY.name} (ИНН {OTHER_COMPANY.inn}), а ИНН организации в CRM" in message
        assert "principal" in wrong.json()["details"]["checks"]
        # The employee removes it (it stays for the record, no longer applied).
        removed = kd.api("POST", f"/poa/{up.json()['id']}/remove", CHIEF_ACCOUNTANT)
        assert removed.status_code == 200, removed.text

        # Not a file of the ФНС format: refused at upload with the reader's reason, nothing kept.
        junk = upload_poa(kd, CHIEF_ACCOUNTANT, cert_id, b"<a>not an mchd</a>", sig)
        assert junk.status_code == 400 and junk.json()["error"] == "bad_poa", junk.text
        # Somebody else may not bind an МЧД to this certificate; the admin may.
        spec = MchdSpec()
        xml, sig = mchd_pki.signed(spec)
        other = upload_poa(kd, MANAGER, cert_id, xml, sig)
        assert other.status_code == 403, other.text
        registry_says(fns, spec.number)
        good = upload_poa(kd, DIRECTOR, cert_id, xml, sig)
        assert good.status_code == 201, good.text
        listed = kd.api("GET", "/me/poa", CHIEF_ACCOUNTANT).json()
        assert [(p["number"], p["principal_inn"], p["status"]) for p in listed] == [(spec.number, COMPANY.inn, "valid")]
        assert listed[0]["valid_until"] == spec.valid_until.isoformat()
        assert kd.query("SELECT count(*) FROM poa_files WHERE removed_at IS NULL") == [(1,)]

        # Now the same signature is accepted, and the МЧД's verdict is kept with it.
        ok = kd.api("POST", path, CHIEF_ACCOUNTANT, content=cms)
        assert ok.status_code == 201, ok.text
        detail = kd.api("GET", f"/documents/{doc_id}", CHIEF_ACCOUNTANT).json()
        poa = detail["signatures"][0]["poa"]
        assert poa["status"] == "valid" and poa["number"] == spec.number, poa
        assert poa["principal_inn"] == COMPANY.inn and poa["valid_until"] == spec.valid_until.isoformat()
        assert poa["registry_checked"] is True and poa["required_powers"] == []
        assert f"МЧД № {spec.number}" in poa["summary"] and "действительна" in poa["summary"]
        assert fns.hits(registry_path(spec.number)) >= 1

        # The ZIP carries the МЧД and its signature beside the signed document, byte for byte.
        package = kd.api("GET", f"/documents/{doc_id}/package", CHIEF_ACCOUNTANT)
        assert package.status_code == 200, package.text
        with zipfile.ZipFile(io.BytesIO(package.content)) as z:
            names = set(z.namelist())
            assert {"Акт сверки.pdf", "ON_EMCHD_test.xml", "ON_EMCHD_test.sig"} <= names, names
            assert z.read("ON_EMCHD_test.xml") == xml
            assert z.read("ON_EMCHD_test.sig") == sig
            report = json.loads(z.read("отчёт-о-проверке.json"))
        assert report["signatures"][0]["poa"]["status"] == "valid"

        # The report in all three forms says the number, the principal, the validity and the verdict.
        html = kd.api("GET", f"/documents/{doc_id}/report?format=html", CHIEF_ACCOUNTANT).text
        for text in (spec.number, "Номер МЧД", "Доверитель", f"ИНН {COMPANY.inn}", "любые (политика не требует"):
            assert text in html, text
        pdf = kd.api("GET", f"/documents/{doc_id}/protocol.pdf", CHIEF_ACCOUNTANT)
        assert pdf.status_code == 200, pdf.text
        from pypdf import PdfReader

        pages = len(PdfReader(io.BytesIO(pdf.content)).pages)
        text = " ".join(page_text(pdf.content, n) for n in range(1, pages + 1))
        assert "Номер МЧД" in text and "действительна" in text, text


def test_require_refuses_an_mchd_whose_registry_status_is_not_known(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    """Under require, «статус в реестре ФНС не проверен» is not «действительна» (as an unknown revocation status is
    not under [trust] revocation = "require"); the refusal says so."""
    env = poa_env(people, mchd_pki, fns, KLIKDOK_POLICY_INTERNAL_POA="require")  # registry_check stays false
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        cert_id = bind_employee(kd, mchd_pki)
        assert upload_poa(kd, CHIEF_ACCOUNTANT, cert_id, *mchd_pki.signed()).status_code == 201
        doc_id, path = new_document(kd)
        refused = kd.api("POST", path, CHIEF_ACCOUNTANT, content=mchd_pki.pki.sign(mchd_pki.employee, PDF))
        assert refused.status_code == 422 and refused.json()["error"] == "poa_invalid", refused.text
        assert "реестре ФНС не проверен" in refused.json()["message"]
        assert refused.json()["details"]["checks"] == ["registry"]
        assert fns.requests == []


def test_warn_accepts_without_an_mchd_and_says_so(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    with installed_klikdok(tmp_path / "data", emulator, poa_env(people, mchd_pki, fns)) as kd:  # the default: warn
        bind_employee(kd, mchd_pki)
        doc_id, path = new_document(kd)
        ok = kd.api("POST", path, CHIEF_ACCOUNTANT, content=mchd_pki.pki.sign(mchd_pki.employee, PDF))
        assert ok.status_code == 201, ok.text
        assert "МЧД не приложена" in ok.json()["warning"]
        detail = kd.api("GET", f"/documents/{doc_id}", CHIEF_ACCOUNTANT).json()
        assert detail["signatures"][0]["poa"]["status"] == "missing"
        assert any("МЧД не приложена" in w for w in detail["document"]["warnings"]), detail["document"]
        assert kd.query("SELECT policy, status FROM signature_poa") == [("warn", "missing")]


def test_off_does_not_look_for_an_mchd(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    env = poa_env(people, mchd_pki, fns, KLIKDOK_POLICY_INTERNAL_POA="off")
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        bind_employee(kd, mchd_pki)
        doc_id, path = new_document(kd)
        ok = kd.api("POST", path, CHIEF_ACCOUNTANT, content=mchd_pki.pki.sign(mchd_pki.employee, PDF))
        assert ok.status_code == 201 and ok.json()["warning"] == "", ok.text
        assert kd.api("GET", f"/documents/{doc_id}", CHIEF_ACCOUNTANT).json()["signatures"][0]["poa"] is None
        assert kd.query("SELECT count(*) FROM signature_poa") == [(0,)]


def test_the_head_signs_without_an_mchd_under_require(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    env = poa_env(people, mchd_pki, fns, KLIKDOK_POLICY_INTERNAL_POA="require", KLIKDOK_MCHD_REGISTRY_CHECK="true")
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        kd.register_cert(CHIEF_ACCOUNTANT, mchd_pki.head)  # the company's certificate (ИНН ЮЛ + ОГРН)
        mine = kd.api("GET", "/me/certificates", CHIEF_ACCOUNTANT).json()
        if mine[0]["status"] == "pending":  # another name than the user's: the admin approves
            kd.api("POST", f"/admin/certificates/{mine[0]['id']}/approve", DIRECTOR)
        doc_id, path = new_document(kd)
        ok = kd.api("POST", path, CHIEF_ACCOUNTANT, content=mchd_pki.pki.sign(mchd_pki.head, PDF))
        assert ok.status_code == 201 and ok.json()["warning"] == "", ok.text
        poa = kd.api("GET", f"/documents/{doc_id}", CHIEF_ACCOUNTANT).json()["signatures"][0]["poa"]
        assert poa["status"] == "head" and "МЧД не нужна" in poa["summary"]
        assert fns.requests == []


def test_the_powers_a_card_kind_needs_come_from_the_config_and_show_in_the_report(
    tmp_path: Path, emulator: PortalEmulator, people: People, mchd_pki: MchdPki, fns: FileServer
) -> None:
    """``[mchd] powers``: a deal's documents need KLASS_2.0_APPROVE here, which the first МЧД lacks."""
    env = poa_env(
        people,
        mchd_pki,
        fns,
        KLIKDOK_POLICY_INTERNAL_POA="require",
        KLIKDOK_MCHD_REGISTRY_CHECK="true",
        KLIKDOK_MCHD_POWERS='{ deal = ["KLASS_2.0_APPROVE"] }',
    )
    with installed_klikdok(tmp_path / "data", emulator, env) as kd:
        cert_id = bind_employee(kd, mchd_pki)
        lacking = MchdSpec()  # signs documents, approves nothing
        registry_says(fns, lacking.number)
        assert upload_poa(kd, CHIEF_ACCOUNTANT, cert_id, *mchd_pki.signed(lacking)).status_code == 201
        doc_id, path = new_document(kd)
        cms = mchd_pki.pki.sign(mchd_pki.employee, PDF)
        refused = kd.api("POST", path, CHIEF_ACCOUNTANT, content=cms)
        assert refused.status_code == 422 and refused.json()["error"] == "poa_invalid", refused.text
        assert refused.json()["details"]["checks"] == ["powers"]
        assert "KLASS_2.0_APPROVE" in refused.json()["message"]

        enough = MchdSpec(powers=(("KLASS_2.0_APPROVE", "Утверждать"), ("KLASS_2.0_SIGN", "Подписывать")))
        registry_says(fns, enough.number)
        assert upload_poa(kd, CHIEF_ACCOUNTANT, cert_id, *mchd_pki.signed(enough)).status_code == 201
        ok = kd.api("POST", path, CHIEF_ACCOUNTANT, content=cms)
        assert ok.status_code == 201, ok.text
        report = kd.api("GET", f"/documents/{doc_id}/report", CHIEF_ACCOUNTANT).json()
        poa = report["signatures"][0]["poa"]
        assert poa["number"] == enough.number and poa["required_powers"] == ["KLASS_2.0_APPROVE"]
        rows = {r["label"]: r["value"] for r in report["signatures"][0]["rows"]}
        assert rows["Требуемые полномочия"] == "KLASS_2.0_APPROVE" and rows["Номер МЧД"] == enough.number
        html = kd.api("GET", f"/documents/{doc_id}/report?format=html", CHIEF_ACCOUNTANT).text
        assert "Требуемые полномочия" in html and "KLASS_2.0_APPROVE" in html
