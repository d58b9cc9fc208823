"""The counterparty's employee signs by an МЧД on the public page; the head signs without one (issue 18).

A real server on the portal emulator: the document's counterparty is deal 1's ООО «Альфа-Поставка» (its ИНН from
the CRM requisites). Its head and its employee get certificates from the МЧД test PKI; the МЧД (ФНС schema's
structure, tests/support/mchd.py) names the company as principal, the head as its signer and the employee as
representative, and is signed by the head with ``openssl cms``. The ФНС registry is a loopback fake. The page is
used as a person uses it: plain form posts over HTTP, and in headless Chromium (screenshots:
test-artifacts/poa-counterparty-*.png).
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from demo.portal_emulator import PortalEmulator
from tests.a11y import axe_violations, blocking, describe
from tests.browser import PageLog, chromium, open_settled, screenshot, wait_or_explain
from tests.counterparty.conftest import (
    ALFA_INN,
    ALFA_OGRN,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    link_in,
)
from tests.support.http_files import FileServer
from tests.support.mchd import (
    OTHER_COMPANY,
    Company,
    MchdPki,
    MchdSpec,
    Person,
    build_mchd,
    registry_says,
    sign_mchd,
)
from tests.support.openssl_pki import Issued, OpenSSLPki
from tests.workflow.conftest import People, installed_klikdok

ALFA = Company(name="ООО «Альфа-Поставка»", inn=ALFA_INN, kpp="500901001", ogrn=ALFA_OGRN)
ALFA_HEAD = Person("Орлов", "Дмитрий", "Сергеевич", "56789012345", "500912345678", "Генеральный директор")
ALFA_CLERK = Person("Лебедева", "Анна", "Игоревна", "66677788899", "500923456789", "Менеджер по продажам")
LIVE = 60_000
# Starts the suite's server with ``[policy] counterparty_poa`` and the registry check on or off.
OpenExchange = Callable[..., Exchange]


@dataclass(frozen=True)
class Alfa:
    """ООО «Альфа-Поставка»'s people in the МЧД PKI, and МЧД for its clerk."""

    mchd: MchdPki
    head: Issued
    clerk: Issued

    def poa(self, spec: MchdSpec | None = None) -> tuple[MchdSpec, bytes, bytes]:
        spec = spec or MchdSpec(principal=ALFA, heads=(ALFA_HEAD,), representatives=(ALFA_CLERK,))
        xml = build_mchd(spec)
        return spec, xml, sign_mchd(self.mchd.pki, self.head, xml)

    def sign(self, who: Issued, data: bytes) -> bytes:
        return self.mchd.pki.sign(who, data)


def _subject(person: Person, company: Company | None) -> str:
    fields = {"C": "RU", "CN": person.full_name, "SN": person.last, "GN": f"{person.first} {person.middle}"}
    if company is not None:
        fields |= {"O": company.name, "title": person.position, "INNLE": company.inn, "OGRN": company.ogrn}
    return OpenSSLPki.subject(**fields, INN=person.inn, SNILS=person.snils)


@pytest.fixture(scope="module")
def alfa(mchd_pki: MchdPki) -> Alfa:
    pki = mchd_pki.pki
    return Alfa(
        mchd=mchd_pki,
        head=pki.issue(mchd_pki.inter, "alfa-head", subject=_subject(ALFA_HEAD, ALFA)),
        clerk=pki.issue(mchd_pki.inter, "alfa-clerk", subject=_subject(ALFA_CLERK, None)),
    )


@pytest.fixture
def open_exchange(
    tmp_path: Path, emulator: PortalEmulator, people: People, smtp: SmtpServer, alfa: Alfa, fns: FileServer
) -> Iterator[OpenExchange]:
    """``open_exchange(policy, registry)``: a server with ``[policy] counterparty_poa = policy``."""
    stack = contextlib.ExitStack()

    def start(policy: str, registry: bool = True) -> Exchange:
        gost, mchd_pki = people.pki, alfa.mchd
        env = counterparty_env(
            gost,
            smtp,
            KLIKDOK_TRUST_ROOTS=json.dumps([str(gost.root.cert), str(mchd_pki.root.cert)]),
            KLIKDOK_TRUST_INTERMEDIATES=json.dumps([str(gost.inter.cert), str(mchd_pki.inter.cert)]),
            KLIKDOK_TRUST_CRLS=json.dumps([str(gost.crl), str(gost.root_crl), *(str(c) for c in mchd_pki.crls)]),
            KLIKDOK_POLICY_COUNTERPARTY_POA=policy,
            KLIKDOK_MCHD_REGISTRY_CHECK="true" if registry else "false",
            KLIKDOK_MCHD_REGISTRY_URL=fns.base_url,
            KLIKDOK_MCHD_REGISTRY_TIMEOUT_SECONDS="3",
        )
        kd = stack.enter_context(installed_klikdok(tmp_path / "data", emulator, env))
        ex = Exchange(kd, smtp, people)
        stack.callback(ex.http.close)
        return ex

    with stack:
        yield start


def poa_fields(page: str) -> str:
    """The signing form's МЧД fieldset in the page's HTML."""
    return page.split("data-poa-fields", 1)[1].split("</fieldset>", 1)[0]


def sign_form(
    ex: Exchange, link: str, sigs: dict[int, bytes], poa: tuple[bytes, bytes] | None = None
) -> httpx.Response:
    files = [(f"sig_{fid}", (f"{fid}.sig", data, "application/octet-stream")) for fid, data in sigs.items()]
    if poa is not None:
        files += [
            ("poa_xml", ("ON_EMCHD_alfa.xml", poa[0], "text/xml")),
            ("poa_sig", ("ON_EMCHD_alfa.sig", poa[1], "application/pkcs7-signature")),
        ]
    return ex.http.post(f"{link}/sign", files=files)


def test_require_asks_the_clerk_for_the_mchd_checks_it_against_the_crm_and_keeps_it(
    open_exchange: OpenExchange, alfa: Alfa, fns: FileServer
) -> None:
    ex = open_exchange("require")
    doc_id = ex.company_signed()
    link = link_in(ex.invitation())
    fid = next(iter(ex.file_ids(doc_id).values()))
    cms = alfa.sign(alfa.clerk, PDF)

    # The clerk's own certificate, no МЧД: refused, and the page asks for the МЧД (both fields now required).
    assert poa_fields(ex.page(link).text).count(" required>") == 0
    asked = sign_form(ex, link, {fid: cms})
    assert asked.status_code == 422, asked.text
    assert "data-poa-asked" in asked.text and poa_fields(asked.text).count(" required>") == 2
    assert "требует машиночитаемой доверенности (МЧД), а она не приложена" in asked.text, re.findall(
        r"data-error>([^<]*)", asked.text
    )
    assert ex.state(doc_id) == "awaiting_counterparty"

    # An МЧД from another company (not the CRM's counterparty): refused, the principal check named.
    other_spec, other_xml, _ = alfa.poa(
        MchdSpec(principal=OTHER_COMPANY, heads=(ALFA_HEAD,), representatives=(ALFA_CLERK,))
    )
    registry_says(fns, other_spec.number)
    foreign = sign_form(ex, link, {fid: cms}, (other_xml, sign_mchd(alfa.mchd.pki, alfa.head, other_xml)))
    assert foreign.status_code == 422, foreign.text
    assert ALFA_INN in foreign.text and OTHER_COMPANY.inn in foreign.text
    assert ex.state(doc_id) == "awaiting_counterparty"

    # Not an МЧД at all: refused at once with the reader's reason.
    junk = sign_form(ex, link, {fid: cms}, (b"<?xml version='1.0'?><x/>", b"not a signature"))
    assert junk.status_code == 400 and "не принят как МЧД" in junk.text, junk.text

    # The right МЧД, attached alone first (as for a signature from CryptoARM GOST): kept with the document.
    spec, xml, sig = alfa.poa()
    registry_says(fns, spec.number)
    attached = ex.http.post(
        f"{link}/poa",
        files=[("poa_xml", ("ON_EMCHD_alfa.xml", xml, "text/xml")), ("poa_sig", ("ON_EMCHD_alfa.sig", sig, "x/y"))],
    )
    assert attached.status_code == 303 and attached.headers["location"].endswith("?done=poa"), attached.text
    page = ex.page(f"{link}?done=poa").text
    assert "data-poa-kept" in page and spec.number in page and "МЧД приложена к документу" in page
    # The signature alone now: the kept МЧД is checked with it, the document is signed by both sides.
    done = sign_form(ex, link, {fid: cms})
    assert done.status_code == 303 and done.headers["location"].endswith("?done=signed"), done.text
    assert ex.state(doc_id) == "completed"
    kept = ex.kd.query("SELECT scope, document_id, number FROM poa_files ORDER BY id DESC LIMIT 1")
    assert kept == [("document", doc_id, spec.number)]

    # The page shows the verdict beside the clerk's signature; the company's head needed none.
    page = ex.page(link).text
    assert 'data-poa="valid"' in page and spec.number in page and ALFA.name in page
    assert "МЧД не нужна" in page  # the company's director signed with the organisation's certificate

    # The ZIP has the МЧД and its signature beside the signed document.
    package = ex.http.get(f"{link}/package")
    assert package.status_code == 200
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        assert z.read("ON_EMCHD_alfa.xml") == xml
        assert z.read("ON_EMCHD_alfa.sig") == sig
        report = json.loads(z.read("отчёт-о-проверке.json"))
    theirs = [s["poa"] for s in report["signatures"] if s["poa"] and s["poa"]["number"]]
    assert [(p["status"], p["principal_inn"]) for p in theirs] == [("valid", ALFA_INN)]
    refused = ex.kd.query("SELECT details FROM audit_log WHERE action = 'signature.refused' ORDER BY id")
    assert [json.loads(r[0])["code"] for r in refused] == ["poa_missing", "poa_invalid"]


def test_warn_accepts_the_clerk_with_an_mchd_whose_registry_status_is_unknown(
    open_exchange: OpenExchange, alfa: Alfa, fns: FileServer
) -> None:
    ex = open_exchange("warn", registry=False)
    doc_id = ex.company_signed()
    link = link_in(ex.invitation())
    fid = next(iter(ex.file_ids(doc_id).values()))
    _, xml, sig = alfa.poa()
    done = sign_form(ex, link, {fid: alfa.sign(alfa.clerk, PDF)}, (xml, sig))
    assert done.status_code == 303, done.text
    assert ex.state(doc_id) == "completed"
    warnings = json.loads(ex.kd.query("SELECT warnings FROM documents WHERE id = ?", doc_id)[0][0])
    assert any("реестре ФНС не проверен" in w for w in warnings), warnings
    assert 'data-poa="indeterminate"' in ex.page(link).text
    assert fns.requests == []


def test_warn_still_refuses_a_stranger_without_an_mchd(open_exchange: OpenExchange, alfa: Alfa) -> None:
    """Nothing ties a person's certificate to the company but an МЧД: under warn too, without one it is refused."""
    ex = open_exchange("warn", registry=False)
    doc_id = ex.company_signed()
    link = link_in(ex.invitation())
    fid = next(iter(ex.file_ids(doc_id).values()))
    refused = sign_form(ex, link, {fid: alfa.sign(alfa.clerk, PDF)})
    assert refused.status_code == 422 and "data-poa-asked" in refused.text, refused.text
    assert ex.state(doc_id) == "awaiting_counterparty"


def test_off_ignores_the_mchd_and_checks_the_certificate_as_before(open_exchange: OpenExchange, alfa: Alfa) -> None:
    ex = open_exchange("off", registry=False)
    doc_id = ex.company_signed()
    link = link_in(ex.invitation())
    fid = next(iter(ex.file_ids(doc_id).values()))
    _, xml, sig = alfa.poa()
    refused = sign_form(ex, link, {fid: alfa.sign(alfa.clerk, PDF)}, (xml, sig))
    assert refused.status_code == 403, refused.text
    assert "не совпадает с ИНН контрагента" in refused.text and "data-poa-asked" not in refused.text
    theirs = "SELECT count(*) FROM signature_poa p JOIN signatures s ON s.id = p.signature_id WHERE s.signer_kind = ?"
    assert ex.kd.query(theirs, "counterparty") == [(0,)]


def test_in_chromium_the_clerk_signs_with_an_mchd_and_the_head_without(
    open_exchange: OpenExchange, alfa: Alfa, fns: FileServer, counterparty: Counterparty
) -> None:
    ex = open_exchange("require")
    first = ex.company_signed(title="Договор поставки")
    second = ex.company_signed(title="Спецификация")
    spec, xml, sig = alfa.poa()
    registry_says(fns, spec.number)
    with chromium() as browser:
        page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="ru-RU")
        log = PageLog(page)
        # The clerk: the page says when an МЧД is needed; the files go with the signature.
        open_settled(page, link_in(ex.invitation(title="Договор поставки")))
        assert "Руководителю МЧД не нужна" in page.locator("[data-poa-fields]").inner_text()
        # axe-core is injected into the page, which the page's CSP (this server's scripts only) would block: a
        # context of its own bypasses it; the flow runs under it.
        checked = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU", bypass_csp=True)
        axe_page = checked.new_page()
        axe_page.goto(page.url)  # the signing form with its МЧД fields
        violations = blocking(axe_violations(axe_page))
        checked.close()
        assert violations == [], describe(violations)
        fid = next(iter(ex.file_ids(first).values()))
        page.set_input_files(f"input[name=sig_{fid}]", files=[_file("dogovor.sig", alfa.sign(alfa.clerk, PDF))])
        page.set_input_files("[data-upload-form] input[name=poa_xml]", files=[_file("ON_EMCHD_alfa.xml", xml)])
        page.set_input_files("[data-upload-form] input[name=poa_sig]", files=[_file("ON_EMCHD_alfa.sig", sig)])
        page.click("[data-upload]")
        wait_or_explain(page, "[data-message]", LIVE, log)
        assert "Ваша подпись принята" in page.locator("[data-message]").inner_text()
        verdict = page.locator('[data-poa="valid"]')
        assert spec.number in verdict.inner_text() and "действительна" in verdict.inner_text()
        screenshot(page, "poa-counterparty-clerk-1280")

        # The head of the company signs the second document with the organisation's certificate: no МЧД asked.
        open_settled(page, link_in(ex.invitation(title="Спецификация")))
        fid = next(iter(ex.file_ids(second).values()))
        page.set_input_files(
            f"input[name=sig_{fid}]", files=[_file("spec.sig", counterparty.sign(counterparty.director, PDF))]
        )
        page.click("[data-upload]")
        wait_or_explain(page, "[data-message]", LIVE, log)
        assert "Ваша подпись принята" in page.locator("[data-message]").inner_text()
        assert page.locator('[data-poa="head"]').count() >= 1
        screenshot(page, "poa-counterparty-head-1280")
    assert ex.state(first) == "completed" and ex.state(second) == "completed"


def _file(name: str, data: bytes) -> dict[str, object]:
    return {"name": name, "mimeType": "application/octet-stream", "buffer": data}
