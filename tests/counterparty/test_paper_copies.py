"""The stamped copies and the verification protocol of a document, end to end (issue 16): ``klikdok serve`` on the
portal emulator, the company's director and the counterparty's director signing with openssl-made GOST
signatures, the counterparty through the e-mailed link.

When the document completes, its stamped copy (one per file: the PDF with marks, a signing sheet for anything
else) and its protocol land in the document's folder on the emulator's Disk beside the originals, each once even
when the server is killed between the portal's answer and the record; the ZIP holds them; portal users download
them (403/404 where they may not); the counterparty's page offers them. Every PDF is read back with pypdf: it
names every signer's certificate serial number.
"""

from __future__ import annotations

import io
import re
import signal
import zipfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
from fpdf import FPDF
from pypdf import PdfReader

from tests.counterparty.conftest import Counterparty, Exchange, SmtpServer, counterparty_env, exchange_on, link_in
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, SALES_MANAGER, People, wait_for

ORIGINAL = "Договор №17.pdf"
SHEETED = "Спецификация.xlsx"
XLSX = b"PK\x03\x04" + "Спецификация: сервер ×2".encode() + b"\x00" * 64
CRASH_POINT = "disk.paper.uploaded"


def contract_pdf(pages: int = 2) -> bytes:
    """A real PDF of a few pages of text (fpdf2's core font), as an accounting system would export it."""
    doc = FPDF()
    doc.set_font("helvetica", size=12)
    for n in range(pages):
        doc.add_page()
        doc.multi_cell(0, 8, f"Supply contract No 17, page {n + 1}. " + "Terms and conditions. " * 20)
    return bytes(doc.output())


PDF = contract_pdf()
FILES = {ORIGINAL: PDF, SHEETED: XLSX}


def text_of(pdf: bytes) -> str:
    """Every page's text with whitespace and separators removed, upper-cased: a serial broken over a line or
    printed in groups still reads as one."""
    assert pdf.startswith(b"%PDF-"), pdf[:20]
    reader = PdfReader(io.BytesIO(pdf))
    return re.sub(r"[\s:]", "", "".join(page.extract_text() or "" for page in reader.pages)).upper()


def serials(ex: Exchange, doc_id: int) -> dict[str, list[str]]:
    """Each file's signatures' certificate serial numbers, as the server recorded them."""
    out: dict[str, list[str]] = {}
    for name, serial in ex.kd.query(
        "SELECT f.name, s.certificate_serial FROM signatures s JOIN document_files f ON f.id = s.file_id"
        " WHERE s.document_id = ? ORDER BY s.id",
        doc_id,
    ):
        out.setdefault(name, []).append(re.sub(r"[\s:]", "", str(serial)).upper())
    return out


def complete(ex: Exchange, counterparty: Counterparty) -> int:
    """The company signs both files, then the counterparty's director through the link: completed."""
    doc_id = ex.company_signed(dict(FILES))
    link = link_in(ex.invitation())
    ids = ex.file_ids(doc_id)
    try:
        ex.upload(link, {ids[name]: counterparty.sign(counterparty.director, data) for name, data in FILES.items()})
    except httpx.TransportError:
        pass  # a server armed to die at the Disk copy may go before it answers: the signature had committed
    wait_for(lambda: ex.state(doc_id) == "completed", what="the document completed")
    return doc_id


def paper_delivered(ex: Exchange) -> bool:
    return ex.kd.query("SELECT count(*) FROM outbox WHERE kind = 'disk.paper' AND status = 'delivered'") == [(1,)]


def disk_folder(emu: Any, doc_id: int, ex: Exchange) -> dict[str, bytes]:
    """Name -> bytes of every file in the folder that holds the document's original PDF."""
    original_id = ex.kd.query(
        "SELECT disk_file_id FROM document_files WHERE document_id = ? AND name = ?", doc_id, ORIGINAL
    )[0][0]
    state = emu.state
    with state.lock:
        folder = state.files[int(original_id)]["PARENT_ID"]
        return {f["NAME"]: bytes(state.file_bytes[fid]) for fid, f in state.files.items() if f["PARENT_ID"] == folder}


def filename(resp: httpx.Response) -> str:
    found = re.search(r"filename\*=UTF-8''([^;]+)", resp.headers["content-disposition"])
    assert found, resp.headers["content-disposition"]
    return unquote(found.group(1))


def assert_copies(copies: dict[str, bytes], expected: dict[str, list[str]]) -> None:
    """One stamped copy per file naming its signatures' serials, and one protocol naming them all."""
    pdfs = {name: text_of(data) for name, data in copies.items()}
    everyone = [s for found in expected.values() for s in found]
    assert len(everyone) == 4
    protocols = [name for name, text in pdfs.items() if all(s in text for s in everyone) and "ПРОТОКОЛ" in text]
    assert len(protocols) == 1, list(pdfs)
    number = 0
    for file_name, found in expected.items():
        stem = file_name.rpartition(".")[0]
        stamped = [n for n in pdfs if n.startswith(stem) and n not in protocols]
        assert len(stamped) == 1, (file_name, list(pdfs))
        text = pdfs[stamped[0]]
        assert all(s in text for s in found), (file_name, stamped[0])
        assert "ДОКУМЕНТПОДПИСАНЭЛЕКТРОННОЙПОДПИСЬЮ" in text
        # Numbered as in the protocol: across the document, the files in order.
        mine = range(number + 1, number + len(found) + 1)
        assert re.findall(r"ПОДПИСЬ№(\d+)", text) == [str(n) for n in mine], (file_name, text[:400])
        number += len(found)


def test_completion_stores_the_copies_beside_the_original_and_everyone_gets_them(
    exchange: Exchange, emulator: Any, counterparty: Counterparty
) -> None:
    ex = exchange
    doc_id = complete(ex, counterparty)
    wait_for(lambda: paper_delivered(ex), 60, what="the stamped copies and the protocol on Disk")
    expected = serials(ex, doc_id)
    assert {n: len(s) for n, s in expected.items()} == {ORIGINAL: 2, SHEETED: 2}

    # On Disk beside the originals and their .sig files: two stamped copies and the protocol, recorded, bytes gone.
    folder = disk_folder(emulator, doc_id, ex)
    originals = {ORIGINAL, SHEETED, *(n for n in folder if n.endswith(".sig"))}
    assert folder[ORIGINAL] == PDF and folder[SHEETED] == XLSX
    copies = {n: d for n, d in folder.items() if n not in originals}
    assert len(copies) == 3, list(folder)
    assert_copies(copies, expected)
    # The stamped PDF is the original with the marks appended: the original's bytes come first, unchanged.
    stamped_pdf = next(d for n, d in copies.items() if n.startswith("Договор №17") and d.startswith(PDF[:200]))
    assert stamped_pdf[: len(PDF)] == PDF
    rows = ex.kd.query("SELECT name, disk_file_id, data IS NULL FROM paper_copies WHERE document_id = ?", doc_id)
    assert sorted(r[0] for r in rows) == sorted(copies) and all(r[1] and r[2] for r in rows)

    # The ZIP: the same three PDFs (made again, so compared by what they say) next to the files and signatures.
    package = ex.kd.api("GET", f"/documents/{doc_id}/package", MANAGER)
    assert package.status_code == 200, package.text
    with zipfile.ZipFile(io.BytesIO(package.content)) as z:
        entries = {name: z.read(name) for name in z.namelist()}
    assert entries[ORIGINAL] == PDF and entries[SHEETED] == XLSX
    zipped = {n: d for n, d in entries.items() if n.endswith(".pdf") and n != ORIGINAL}
    assert len(zipped) == 3 and len(set(zipped)) == 3, list(entries)
    assert_copies(zipped, expected)

    # Portal users: the author downloads each copy and the protocol, audited like an export.
    detail = ex.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    paper = detail["paper"]
    assert [c["file_name"] for c in paper["stamped"]] == [f["name"] for f in detail["files"]]
    downloaded = {}
    for link in [c["url"] for c in paper["stamped"]] + [paper["protocol"]]:
        got = ex.kd.api("GET", link, MANAGER)
        assert got.status_code == 200, (link, got.text)
        assert got.headers["content-type"] == "application/pdf"
        assert got.headers["content-disposition"].startswith("attachment; ")
        downloaded[filename(got)] = got.content
    assert_copies(downloaded, expected)
    audited = ex.kd.query(
        "SELECT action, count(*) FROM audit_log WHERE object_id = ? AND action LIKE 'document.%_exported'"
        " GROUP BY action ORDER BY action",
        str(doc_id),
    )
    assert audited == [("document.copy_exported", 2), ("document.protocol_exported", 1)]

    # Somebody who may not see the document gets 403 (audited as a refusal); a missing one is 404.
    file_id = paper["stamped"][0]["file_id"]
    for path in (f"/documents/{doc_id}/files/{file_id}/stamped.pdf", f"/documents/{doc_id}/protocol.pdf"):
        denied = ex.kd.api("GET", path, SALES_MANAGER)
        assert denied.status_code == 403 and denied.json()["error"] == "not_visible", denied.text
        assert ex.kd.api("GET", path.replace(f"/{doc_id}/", "/9999/"), MANAGER).status_code == 404
    assert ex.kd.api("GET", f"/documents/{doc_id}/files/9999/stamped.pdf", MANAGER).status_code == 404
    assert ex.kd.query(
        "SELECT count(*) FROM audit_log WHERE action = 'access.denied' AND actor = ?", f"user:{SALES_MANAGER}"
    ) == [(2,)]

    # The counterparty's page offers both, and they download from it.
    link = link_in(ex.invitation())
    page = ex.page(link)
    assert page.status_code == 200
    assert "Копия с отметками об ЭП" in page.text and "Протокол проверки (PDF)" in page.text
    offered = re.findall(r'href="(/c/[^"]+/(?:files/\d+/stamped|protocol)\.pdf)"', page.text)
    assert len(offered) == 3, offered
    origin = link.split("/c/")[0]
    from_page = {}
    for href in offered:
        got = ex.http.get(origin + href)
        assert got.status_code == 200 and got.headers["content-type"] == "application/pdf", (href, got.text[:300])
        from_page[filename(got)] = got.content
    assert_copies(from_page, expected)


def test_the_counterparty_page_offers_the_copies_once_the_company_signed(
    exchange: Exchange, counterparty: Counterparty
) -> None:
    """Before any signature nothing is offered; once the company has signed, the copies carry its marks."""
    ex = exchange
    draft = ex.kd.create(MANAGER, ("deal", 1), {ORIGINAL: PDF}, signers=[DIRECTOR], title="Черновик", send=False)
    assert ex.kd.api("GET", f"/documents/{draft}", MANAGER).json()["paper"] is None
    draft_file = ex.file_ids(draft)[ORIGINAL]
    refused = ex.kd.api("GET", f"/documents/{draft}/files/{draft_file}/stamped.pdf", MANAGER)
    assert refused.status_code == 409 and "нет подписей" in refused.json()["message"], refused.text

    doc_id = ex.company_signed({ORIGINAL: PDF})
    page = ex.page(link_in(ex.invitation()))
    hrefs = re.findall(r'href="(/c/[^"]+/(?:files/\d+/stamped|protocol)\.pdf)"', page.text)
    assert len(hrefs) == 2, page.text
    origin = ex.kd.url
    stamped = ex.http.get(origin + hrefs[0])
    assert stamped.status_code == 200, stamped.text[:300]
    company = serials(ex, doc_id)[ORIGINAL]
    assert len(company) == 1 and company[0] in text_of(stamped.content)
    assert ex.kd.query("SELECT count(*) FROM paper_copies") == [(0,)]  # Disk gets them on completion only


def test_killed_between_the_upload_and_its_record_leaves_no_second_copy(
    tmp_path: Path, emulator: Any, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    data = tmp_path / "data"
    with exchange_on(data, emulator, people, smtp, KLIKDOK_TEST_CRASH_AT=CRASH_POINT) as ex:
        first = ex.kd.server
        doc_id = complete(ex, counterparty)
        # The portal has the first copy; the server died before recording its id.
        assert first.proc.wait(60) == -signal.SIGKILL
        assert ex.kd.query("SELECT count(*) FROM paper_copies WHERE disk_file_id IS NULL") == [(3,)]
        on_disk = disk_folder(emulator, doc_id, ex)
        early = [n for n in on_disk if n not in {ORIGINAL, SHEETED} and not n.endswith(".sig")]
        assert len(early) == 1, list(on_disk)  # one copy reached the portal

        ex.kd.server = start_server(data, env=counterparty_env(people.pki, smtp))
        wait_for(lambda: paper_delivered(ex), 60, what="the copies after the restart")
        folder = disk_folder(emulator, doc_id, ex)
        copies = {n: d for n, d in folder.items() if n not in {ORIGINAL, SHEETED} and not n.endswith(".sig")}
        assert len(copies) == 3, list(folder)  # no «… (1).pdf»: the first copy was recognised, not uploaded again
        assert not any(re.search(r" \(\d+\)\.pdf$", n) for n in copies), list(copies)
        assert_copies(copies, serials(ex, doc_id))
        recorded = ex.kd.query("SELECT disk_file_id FROM paper_copies WHERE document_id = ?", doc_id)
        assert len({r[0] for r in recorded}) == 3 and all(r[0] for r in recorded)
        # Everything on the emulator's Disk is owned by a row: no orphan.
        owned = {
            int(r[0])
            for r in ex.kd.query(
                "SELECT disk_file_id FROM document_files UNION SELECT disk_file_id FROM signatures"
                " UNION SELECT disk_file_id FROM paper_copies"
            )
            if r[0]
        }
        with emulator.state.lock:
            assert set(emulator.state.files) <= owned
