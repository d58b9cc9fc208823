"""The verification protocol PDF over real HTTP: per document and for a selection, with the report's visibility;
the HTML and JSON reports and the ZIP's copies of them say the same (numbers across the document, the file each
signature belongs to, the portal's zone)."""

from __future__ import annotations

import io
import json
import re
import uuid
import zipfile
from urllib.parse import unquote

from pypdf import PdfReader

from server.db import Database
from server.workflow import public_verdict_store
from tests.workflow.conftest import (
    AUDITOR,
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    SALES_MANAGER,
    Klikdok,
    People,
)

PDF = b"%PDF-1.4 protocol test\n"
FILES = {"Договор.pdf": PDF, "Спецификация.xml": "<spec>Протокол</spec>".encode()}
# Signed by the chief accountant, then the director, each both files: numbered by file, in the order accepted.
EXPECTED = [
    (1, "Договор.pdf", "Новикова"),
    (2, "Договор.pdf", "Соколов"),
    (3, "Спецификация.xml", "Новикова"),
    (4, "Спецификация.xml", "Соколов"),
]


def pdf_text(data: bytes) -> str:
    assert data.startswith(b"%PDF-")
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(data)).pages)


def signed_document(kd: Klikdok, people: People) -> int:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    doc_id = kd.create(MANAGER, ("deal", 1), FILES, signers=[CHIEF_ACCOUNTANT, DIRECTOR], title="Договор поставки")
    ids = {f["name"]: f["id"] for f in kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["files"]}
    for user in (CHIEF_ACCOUNTANT, DIRECTOR):
        for name, data in FILES.items():
            r = kd.api(
                "POST", f"/documents/{doc_id}/files/{ids[name]}/signatures", user, content=people.sign(user, data)
            )
            assert r.status_code == 201, r.text
    return doc_id


def check_numbered(text: str) -> None:
    """«Подпись № 1..4», each once, in order, each beside its file and its signer."""
    assert re.findall(r"Подпись № (\d+): ", text) == ["1", "2", "3", "4"]
    sections = re.split(r"Подпись № \d+: ", text)[1:]
    for (_, file, signer), section in zip(EXPECTED, sections, strict=True):
        assert file in section and signer in section


def test_the_protocol_pdf_and_the_reports_say_the_same(kd: Klikdok, people: People) -> None:
    doc_id = signed_document(kd, people)
    r = kd.api("GET", f"/documents/{doc_id}/protocol.pdf", MANAGER)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf" and r.headers["cache-control"] == "no-store"
    assert "filename*=UTF-8''" + "Протокол проверки ЭП — Договор поставки.pdf" in unquote(
        r.headers["content-disposition"]
    )
    text = pdf_text(r.content)
    check_numbered(text)
    assert "Протокол сформирован: " in text and "(МСК)" in text
    assert not re.search(r"\d\d:\d\d:\d\d UTC", text)
    assert "/v/" not in text and "Проверка онлайн" not in text  # no public address made yet: none printed
    # The JSON report: the same numbers and files, ISO times with the portal's offset and its zone named.
    report = kd.api("GET", f"/documents/{doc_id}/report", MANAGER).json()
    assert report["timezone"] == "Europe/Moscow" and report["generated"].endswith("+03:00")
    assert [(s["number"], s["file"]) for s in report["signatures"]] == [(n, f) for n, f, _ in EXPECTED]
    for entry, (_, _, signer) in zip(report["signatures"], EXPECTED, strict=True):
        assert entry["verification"]["verified_at"].endswith("+03:00")
        assert entry["result"]["validation_time"].endswith("+03:00")
        assert signer in json.dumps(entry["signer"], ensure_ascii=False)
        assert entry["headline"]["title"] == "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА"
    assert [f["signatures"] for f in report["files"]] == [[1, 2], [3, 4]]
    # The HTML page says it too; the ZIP carries the same page and JSON.
    page = kd.api("GET", f"/documents/{doc_id}/report", MANAGER, params={"format": "html"}).text
    check_numbered(re.sub(r"<[^>]+>", " ", page))
    assert "(МСК)" in page and not re.search(r"\d\d:\d\d:\d\d UTC", page)
    archive = zipfile.ZipFile(io.BytesIO(kd.api("GET", f"/documents/{doc_id}/package", MANAGER).content))
    zipped_page = archive.read("отчёт-о-проверке.html").decode()
    check_numbered(re.sub(r"<[^>]+>", " ", zipped_page))
    zipped = json.loads(archive.read("отчёт-о-проверке.json"))
    assert zipped["timezone"] == "Europe/Moscow"
    assert [(s["number"], s["file"]) for s in zipped["signatures"]] == [(n, f) for n, f, _ in EXPECTED]
    assert [s["rows"] for s in zipped["signatures"]] == [s["rows"] for s in report["signatures"]]
    # Once the document has its public verification address (its stamped copy's QR code), the protocol prints it.
    db = Database(kd.server.data_dir / "klikdok.db")
    db.open()
    try:
        public_id = db.write_sync(lambda d: public_verdict_store.id_for(d, doc_id))
    finally:
        db.close()
    text = pdf_text(kd.api("GET", f"/documents/{doc_id}/protocol.pdf", MANAGER).content)
    assert f"/v/{public_id}" in text and "Проверка онлайн" in text
    assert kd.api("GET", f"/documents/{doc_id}/report", MANAGER).json()["verify_url"].endswith(f"/v/{public_id}")


def test_the_protocol_is_refused_where_the_report_is(kd: Klikdok, people: People) -> None:
    doc_id = kd.create(MANAGER, ("deal", 1), {"A.pdf": PDF}, signers=[DIRECTOR], title="Документ A")
    assert kd.api("GET", f"/documents/{doc_id}/report", SALES_MANAGER).status_code == 403
    denied = kd.api("GET", f"/documents/{doc_id}/protocol.pdf", SALES_MANAGER)
    assert denied.status_code == 403 and denied.json()["error"] and not denied.content.startswith(b"%PDF")
    audited = kd.query("SELECT details FROM audit_log WHERE action = 'access.denied' AND actor = ?",
                       f"user:{SALES_MANAGER}")  # fmt: skip
    assert [json.loads(d)["action"] for (d,) in audited] == ["report", "report"]
    assert kd.api("GET", "/documents/999999/protocol.pdf", MANAGER).status_code == 404
    # A document with no signature yet has a protocol that says so.
    text = pdf_text(kd.api("GET", f"/documents/{doc_id}/protocol.pdf", MANAGER).content)
    assert "ПОДПИСЕЙ НЕТ" in text and "Подписей нет." in text and "Файл «A.pdf»" in text


def test_a_selection_protocol_for_the_auditor(kd: Klikdok, people: People) -> None:
    signed = signed_document(kd, people)
    other = kd.create(MANAGER, ("deal", 2), {"Акт.pdf": PDF}, signers=[DIRECTOR], title="Акт сверки")
    key = {"Idempotency-Key": uuid.uuid4().hex}
    r = kd.api("POST", "/reports/protocol.pdf", AUDITOR, json=[signed, other], headers=key)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert "Протокол проверки ЭП — выборка из 2 док.pdf" in unquote(r.headers["content-disposition"])
    text = pdf_text(r.content)
    assert "1. «Договор поставки»: ВСЕ ПОДПИСИ ДЕЙСТВИТЕЛЬНЫ" in text and "2. «Акт сверки»: ПОДПИСЕЙ НЕТ" in text
    first, second = text.split("Документ: Акт сверки")
    check_numbered(first.split("Документ: Договор поставки")[1])
    assert "Файл «Акт.pdf»" in second and "Подписей нет." in second
    # A double click: the same PDF, made once.
    again = kd.api("POST", "/reports/protocol.pdf", AUDITOR, json=[signed, other], headers=key)
    assert again.status_code == 200 and again.headers.get("idempotent-replayed") == "true"
    assert again.content == r.content
    # Only documents the viewer may see; bounded; a list of ids.
    assert kd.api("POST", "/reports/protocol.pdf", SALES_MANAGER, json=[signed]).status_code == 403
    assert kd.api("POST", "/reports/protocol.pdf", AUDITOR, json=[signed, 999999]).status_code == 404
    too_many = kd.api("POST", "/reports/protocol.pdf", AUDITOR, json=list(range(1, 202)))
    assert too_many.status_code == 400 and too_many.json()["error"] == "too_many_documents"
    for bad in ([], ["1"], {"ids": [1]}, [0]):
        assert kd.api("POST", "/reports/protocol.pdf", AUDITOR, json=bad).status_code == 400, bad
