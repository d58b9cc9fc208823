"""Previews of a document's files in the panel, and the names of the signatures in the package.

The preview endpoint shows inline only what the file's own bytes say is a PDF or a picture, with that type: a
"contract.pdf" that is really an HTML page, or an SVG with a script, never reaches the browser as something it
would render or run. The package names each detached signature ``<file>.<signer's surname>.sig``.
"""

from __future__ import annotations

import io
import zipfile

import httpx
import pytest

from server.workflow import previews
from server.workflow.packaging import REPORT_HTML, REPORT_JSON, signature_entry, signer_surname, unique_entry
from tests.workflow.conftest import CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, Klikdok, People

DEAL = ("deal", 1)
PDF = b"%PDF-1.4\n" + "Договор".encode() + b"\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00\x00\x00\rIHDR" + b"\x00" * 17
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00"
GIF = b"GIF89a\x01\x00\x01\x00"
WEBP = b"RIFF\x10\x00\x00\x00WEBPVP8 "
HTML = b"<!doctype html><script>parent.postMessage(document.body.dataset.session, '*')</script>"
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


def create(kd: Klikdok, files: list[tuple[str, bytes, str]], signers: list[int]) -> int:
    resp = kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        data={"title": "Превью", "signers": ",".join(map(str, signers)), "send": "1"},
        files=[("files", f) for f in files],
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_preview_is_decided_by_the_bytes_not_by_the_name_or_the_claim(kd: Klikdok) -> None:
    doc_id = create(
        kd,
        [
            ("Договор.pdf", PDF, "application/octet-stream"),  # a real PDF whose upload claimed nothing useful
            ("Скан.png", PNG, "image/png"),
            ("Фото", JPEG, ""),
            ("Вредный.pdf", HTML, "application/pdf"),  # HTML named and claimed as PDF
            ("Рисунок.svg", SVG, "image/svg+xml"),
            ("Спецификация.xml", b"<spec/>", "text/xml"),
        ],
        [DIRECTOR],
    )
    detail = kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    kinds = {f["name"]: f["preview"] for f in detail["files"]}
    assert kinds == {
        "Договор.pdf": "pdf",
        "Скан.png": "image",
        "Фото": "image",
        "Вредный.pdf": "",
        "Рисунок.svg": "",
        "Спецификация.xml": "",
    }
    ids = {f["name"]: f["id"] for f in detail["files"]}
    stored = dict(kd.query("SELECT name, content_type FROM document_files WHERE document_id = ?", doc_id))
    assert stored["Вредный.pdf"] == "application/octet-stream" and stored["Договор.pdf"] == "application/pdf"

    def preview(name: str) -> httpx.Response:
        r = kd.api("GET", f"/documents/{doc_id}/files/{ids[name]}/preview", MANAGER)
        assert r.status_code == 200, r.text
        assert r.headers["x-content-type-options"] == "nosniff" and r.headers["cache-control"] == "no-store"
        return r

    for name, ctype, data in (
        ("Договор.pdf", "application/pdf", PDF),
        ("Скан.png", "image/png", PNG),
        ("Фото", "image/jpeg", JPEG),
    ):
        r = preview(name)
        assert r.headers["content-type"] == ctype and r.content == data
        assert r.headers["content-disposition"].startswith("inline;")
        csp = r.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "script-src" not in csp and "frame-ancestors 'self'" in csp
    for name in ("Вредный.pdf", "Рисунок.svg", "Спецификация.xml"):
        r = preview(name)
        assert r.headers["content-type"] == "application/octet-stream", (name, r.headers["content-type"])
        assert r.headers["content-disposition"].startswith("attachment;")
    # The plain download never trusts the claim either.
    html = kd.api("GET", f"/documents/{doc_id}/files/{ids['Вредный.pdf']}/content", MANAGER)
    assert html.headers["content-type"] == "application/octet-stream" and html.content == HTML
    # Only those who may read the document get it.
    assert kd.api("GET", f"/documents/{doc_id}/files/{ids['Скан.png']}/preview", CHIEF_ACCOUNTANT).status_code == 403


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (PDF, "application/pdf"),
        (PNG, "image/png"),
        (JPEG, "image/jpeg"),
        (GIF, "image/gif"),
        (WEBP, "image/webp"),
        (HTML, None),
        (SVG, None),
        (b" %PDF-1.4", None),
        (b"RIFF\x10\x00\x00\x00WAVEfmt ", None),
        (b"", None),
    ],
)
def test_sniffing(head: bytes, expected: str | None) -> None:
    assert previews.sniff(head[: previews.HEAD_BYTES]) == expected
    assert previews.served(head) == ((expected, True) if expected else ("application/octet-stream", False))


def test_stored_type_keeps_no_previewable_claim_the_bytes_deny() -> None:
    assert previews.stored_type(PDF[:16], "text/html") == "application/pdf"
    assert previews.stored_type(HTML[:16], "application/pdf") == "application/octet-stream"
    assert previews.stored_type(HTML[:16], "image/png") == "application/octet-stream"
    assert previews.stored_type(b"PK\x03\x04", "application/vnd.ms-excel") == "application/vnd.ms-excel"
    assert previews.kind_of("application/pdf") == "pdf" and previews.kind_of("image/svg+xml") == ""


def test_package_names_each_signature_after_its_file_and_signer(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    files = {"Договор.pdf": PDF, "Акт.png": PNG}
    doc_id = create(kd, [(n, d, "application/octet-stream") for n, d in files.items()], [CHIEF_ACCOUNTANT, DIRECTOR])
    ids = {f["name"]: f["id"] for f in kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["files"]}
    for user in (CHIEF_ACCOUNTANT, DIRECTOR):
        for name, data in files.items():
            r = kd.api(
                "POST", f"/documents/{doc_id}/files/{ids[name]}/signatures", user, content=people.sign(user, data)
            )
            assert r.status_code == 201, r.text
    pkg = kd.api("GET", f"/documents/{doc_id}/package", MANAGER)
    assert pkg.status_code == 200
    z = zipfile.ZipFile(io.BytesIO(pkg.content))
    assert sorted(z.namelist()) == sorted(
        [
            "Договор.pdf",
            "Акт.png",
            "Договор.pdf.Новикова.sig",
            "Договор.pdf.Соколов.sig",
            "Акт.png.Новикова.sig",
            "Акт.png.Соколов.sig",
            REPORT_HTML,
            REPORT_JSON,
            # Issue 16: each signed file's copy with the marks (these short stand-ins get signing sheets) and the
            # protocol.
            "Договор.pdf (лист подписания).pdf",
            "Акт.png (лист подписания).pdf",
            "Протокол проверки ЭП — Превью.pdf",
        ]
    )
    assert (
        z.read("Акт.png.Соколов.sig")
        == kd.query("SELECT cms FROM signatures WHERE file_id = ? AND signer_user_id = ?", ids["Акт.png"], DIRECTOR)[0][
            0
        ]
    )
    # The detail names the file of every signature.
    sigs = kd.api("GET", f"/documents/{doc_id}", MANAGER).json()["signatures"]
    assert sorted(s["file_name"] for s in sigs) == ["Акт.png", "Акт.png", "Договор.pdf", "Договор.pdf"]
    assert all(s["certificate_not_before"] and s["certificate_not_after"] for s in sigs)


def test_signature_entry_names() -> None:
    used = {REPORT_HTML.lower(), REPORT_JSON.lower(), "договор.pdf"}
    assert signer_surname({"surname": "Иванов", "common_name": "Петров Пётр"}) == "Иванов"
    assert signer_surname({"common_name": "Соколов Андрей Викторович"}) == "Соколов"
    assert signer_surname({}) == "подписант"
    assert signer_surname({"surname": "../../etc/passwd"}) == "passwd"
    assert signer_surname({"surname": ".."}) == "подписант"
    assert signer_surname({"surname": "C:\\Windows\\x"}) == "x"
    assert signature_entry("Договор.pdf", {"surname": "Иванов"}, used) == "Договор.pdf.Иванов.sig"
    # Two signatures of the same surname on one file (case-insensitively, as Windows unpacks them).
    assert signature_entry("Договор.pdf", {"surname": "ИВАНОВ"}, used) == "Договор.pdf.ИВАНОВ.2.sig"
    assert signature_entry("Договор.pdf", {"common_name": "Иванов И."}, used) == "Договор.pdf.Иванов.3.sig"
    for name in used:
        assert "/" not in name and "\\" not in name and not name.startswith(".")
    assert unique_entry(REPORT_HTML, {REPORT_HTML.lower()}) == "отчёт-о-проверке.2.html"
