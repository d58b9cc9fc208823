"""The verification report page comes from a template with autoescaping: a title is text, never markup.

Titles are typed by people and mailed to counterparties; the report is archived and opened in browsers, so a
title like ``<img onerror=...>`` must show as those characters, in the page and in the package's copy of it.
"""

from __future__ import annotations

import io
import json
import re
import zipfile

from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People

PDF = b"%PDF-1.4 report page\n"
TITLE = '<img src=x onerror="alert(1)"> Акт & Ко'


def test_the_report_page_escapes_the_title_and_the_package_carries_the_same_page(kd: Klikdok) -> None:
    doc_id = kd.create(MANAGER, ("deal", 1), {"Акт.pdf": PDF}, signers=[], title=TITLE, send=False)
    page = kd.api("GET", f"/documents/{doc_id}/report", MANAGER, params={"format": "html"})
    assert page.status_code == 200, page.text
    assert page.headers["content-type"].startswith("text/html")
    assert "<img" not in page.text
    assert "Отчёт о проверке подписей: &lt;img src=x onerror=&#34;alert(1)&#34;&gt; Акт &amp; Ко" in page.text
    assert "<p>Подписей пока нет.</p>" in page.text
    pkg = kd.api("GET", f"/documents/{doc_id}/package", MANAGER)
    assert pkg.status_code == 200, pkg.text
    archived = zipfile.ZipFile(io.BytesIO(pkg.content)).read("отчёт-о-проверке.html").decode()
    # The same page but for the moment each was made (to the second: two requests may straddle one).
    made = re.compile(r"Протокол сформирован: [^<]+")
    assert made.search(page.text) and made.sub("", archived) == made.sub("", page.text)


def test_the_package_report_leads_with_each_signatures_headline(kd: Klikdok, people: People) -> None:
    """Issue 13: the ZIP's report (HTML and JSON) names each accepted signature's verdict first; "valid" here is
    earned: the test server has both CAs' CRLs, so the revocation status was checked."""
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc_id = kd.create(MANAGER, ("deal", 1), {"Акт.pdf": PDF}, signers=[DIRECTOR], title="Акт сверки")
    [f] = kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()["files"]
    r = kd.api("POST", f"/documents/{doc_id}/files/{f['id']}/signatures", DIRECTOR, content=people.sign(DIRECTOR, PDF))
    assert r.status_code == 201, r.text
    pkg = kd.api("GET", f"/documents/{doc_id}/package", MANAGER)
    archive = zipfile.ZipFile(io.BytesIO(pkg.content))
    html = archive.read("отчёт-о-проверке.html").decode()
    assert '<li class="tone-valid" data-verdict="valid">1. «Акт.pdf»: ПОДПИСЬ ДЕЙСТВИТЕЛЬНА<p>' in html
    assert "Отзыв сертификата</th><td>не отозван" in html
    report = json.loads(archive.read("отчёт-о-проверке.json"))
    assert report["signatures"][0]["headline"]["title"] == "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"
    assert report["signatures"][0]["headline"]["tone"] == "valid"
