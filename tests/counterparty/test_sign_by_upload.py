"""The main road: the e-mail arrives with a working link, the counterparty uploads an openssl-made signature,
the document completes, the portal hears about it, and the confirmation carries the signed package."""

from __future__ import annotations

import base64
import io
import json
import zipfile

from tests.counterparty.conftest import ALFA_EMAIL, ALFA_INN, ALFA_OGRN, PDF, Counterparty, Exchange, link_in, text_of
from tests.workflow.conftest import MANAGER, wait_for


def test_invitation_link_upload_completes_and_confirms(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    mail = exchange.invitation()
    body = text_of(mail)
    assert "ООО «Вектор» направляет вам на подпись документ «Договор поставки»" in body
    assert "Договор №17.pdf" in body and "до " in body
    link = link_in(mail)
    # The link is nowhere in the database, in the manager's API, or in the portal.
    token = link.rsplit("/", 1)[1]
    dump = "\n".join(str(r) for r in exchange.kd.query("SELECT * FROM counterparty_links"))
    dump += "\n".join(str(r) for r in exchange.kd.query("SELECT payload FROM outbox"))
    assert token not in dump
    status = exchange.kd.api("GET", f"/documents/{doc_id}/counterparty/", MANAGER)
    assert status.status_code == 200, status.text
    assert token not in status.text and status.json()["current"]["recipient_email"] == ALFA_EMAIL
    assert status.json()["current"]["mail_status"] == "sent"
    assert all(token not in n["MESSAGE"] for n in exchange.kd.emu.state.notifications)

    page = exchange.page(link)
    assert page.status_code == 200
    assert "ООО «Вектор»" in page.text and "Договор поставки" in page.text
    assert "Подпись действительна" in page.text and "Соколов Андрей Викторович" in page.text
    assert "Загрузить файл подписи" in page.text and "Отклонить" in page.text
    assert page.headers["referrer-policy"] == "no-referrer" and "no-store" in page.headers["cache-control"]
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert "http://" not in page.text.replace(link, "")  # no external assets (and no other link)
    fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
    got = exchange.http.get(f"{link}/files/{fid}")
    assert got.status_code == 200 and got.content == PDF
    preview = exchange.http.get(f"{link}/files/{fid}?inline=1")
    assert preview.headers["content-disposition"].startswith("inline") and preview.content == PDF

    # The counterparty signs what they downloaded, as PEM this time (DER and base64 are tried elsewhere).
    sig = counterparty.sign(counterparty.director, got.content, outform="PEM")
    answer = exchange.upload(link, {fid: sig})
    assert answer.status_code == 303, answer.text
    assert answer.headers["location"].endswith("?done=signed")
    assert exchange.state(doc_id) == "completed"
    done = exchange.page(link + "?done=signed")
    assert "Ваша подпись принята" in done.text and "Скачать подписанный комплект" in done.text
    stored = exchange.kd.query(
        "SELECT signer_kind, source, status, signer FROM signatures WHERE document_id = ? ORDER BY id", doc_id
    )
    assert [(k, s, st) for k, s, st, _ in stored] == [
        ("internal", "upload", "valid"),
        ("counterparty", "counterparty", "valid"),
    ]
    signer = json.loads(stored[1][3])
    assert (signer["innle"], signer["ogrn"]) == (ALFA_INN, ALFA_OGRN)
    # Bitrix24: the author's notification, the deal's timeline comment, the .sig on Disk.
    emu = exchange.kd.emu.state
    wait_for(
        lambda: [n for n in emu.notifications if n["USER_ID"] == MANAGER and "Контрагент подписал" in n["MESSAGE"]],
        what="the author's notification",
    )
    wait_for(
        lambda: [c for c in emu.timeline_comments if "контрагент подписал" in c["COMMENT"] and c["ENTITY_ID"] == 1],
        what="the timeline comment",
    )
    wait_for(lambda: [f for f in emu.files.values() if f["NAME"] == "Договор №17.pdf.2.sig"], what="the .sig on Disk")
    # The confirmation e-mail carries the package: the file, both signatures, the report.
    confirmation = wait_for(
        lambda: exchange.smtp.mailbox.to(ALFA_EMAIL, "подписан обеими сторонами"), what="the confirmation e-mail"
    )[0]
    attachments = list(confirmation.iter_attachments())
    assert len(attachments) == 1 and attachments[0].get_filename() == "Договор поставки.zip"
    with zipfile.ZipFile(io.BytesIO(attachments[0].get_content())) as z:
        names = set(z.namelist())
        assert {
            "Договор №17.pdf",
            "Договор №17.pdf.Соколов.sig",  # the company's director
            "Договор №17.pdf.Орлов.sig",  # the counterparty's director
            "отчёт-о-проверке.html",
            "отчёт-о-проверке.json",
        } <= names
        assert z.read("Договор №17.pdf") == PDF
        report = json.loads(z.read("отчёт-о-проверке.json"))
        assert [s["verification"]["status"] for s in report["signatures"]] == ["valid", "valid"]
    # The same package from the page.
    package = exchange.http.get(f"{link}/package")
    assert package.status_code == 200 and package.content[:2] == b"PK"
    # Nothing is sent twice.
    assert len(exchange.smtp.mailbox.to(ALFA_EMAIL, "Документ на подпись")) == 1
    assert len(exchange.smtp.mailbox.to(ALFA_EMAIL, "подписан обеими сторонами")) == 1


def test_two_files_signed_one_by_one_in_der_and_base64(exchange: Exchange, counterparty: Counterparty) -> None:
    files = {"Договор.pdf": PDF, "Спецификация.xml": "<spec>Сервер ×2</spec>".encode()}
    doc_id = exchange.company_signed(files)
    link = link_in(exchange.invitation())
    ids = exchange.file_ids(doc_id)
    first = exchange.upload(link, {ids["Договор.pdf"]: counterparty.sign(counterparty.director, files["Договор.pdf"])})
    assert first.status_code == 303 and first.headers["location"].endswith("?done=partly")
    assert exchange.state(doc_id) == "awaiting_counterparty"
    page = exchange.page(link)
    assert "подписан вами" in page.text and f'name="sig_{ids["Договор.pdf"]}"' not in page.text
    b64 = base64.encodebytes(counterparty.sign(counterparty.director, files["Спецификация.xml"]))
    second = exchange.upload(link, {ids["Спецификация.xml"]: b64})
    assert second.status_code == 303 and second.headers["location"].endswith("?done=signed"), second.text
    assert exchange.state(doc_id) == "completed"
