"""``/verify`` over real HTTP: the verdicts of openssl-made signatures, bad input in words, nothing kept, limits."""

from __future__ import annotations

import html
import io
import os
import re
import secrets
from pathlib import Path

import httpx
import pytest
from pypdf import PdfReader

from tests.support.pki_fixtures import GostPki

from .conftest import PDF, Signers, Verifier, docx_bytes, gost256, running_verifier

HEADLINE = re.compile(r'data-headline="(\w+)"')


def headline(resp: httpx.Response) -> str:
    found = HEADLINE.search(resp.text)
    assert found, resp.text[:2000]
    return found.group(1)


def error_text(resp: httpx.Response) -> str:
    found = re.search(r"data-error>(.*?)</div>", resp.text, re.S)
    assert found, resp.text[:2000]
    return html.unescape(found.group(1))


def test_the_page_is_public_and_says_what_to_choose(verifier: Verifier) -> None:
    page = verifier.http.get(f"{verifier.url}/verify")
    assert page.status_code == 200
    assert '<h1 class="cp-title">Проверка электронной подписи</h1>' in page.text
    assert 'enctype="multipart/form-data"' in page.text and 'name="document"' in page.text
    assert 'name="signature"' in page.text and 'formaction="/verify?format=pdf"' in page.text
    assert "Проверить и скачать протокол (PDF)" in page.text
    assert "оставьте пустым" in page.text  # the attached case is explained
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert "<script>" not in page.text and " on" + "submit=" not in page.text  # no inline scripts


def test_a_valid_detached_signature_is_green_with_the_file_and_its_digest(verifier: Verifier, signers: Signers) -> None:
    resp = verifier.check(signers.sign(signers.trusted, PDF), PDF)
    assert resp.status_code == 200
    assert headline(resp) == "valid"
    assert "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" in resp.text
    # The verdict is said once, above the report (the report's own overall verdict used to repeat it).
    assert "data-verdict=" not in resp.text and resp.text.count("data-headline=") == 1
    assert gost256(PDF) in resp.text
    assert "Акт сверки.pdf" in resp.text and "Акт сверки.pdf.sig" in resp.text
    # klikdok verify's report is inside: its checks, the signer and the revocation source from the CRL.
    assert "Математическая проверка" in resp.text and "Иванов Иван Иванович" in resp.text
    assert "не отозван" in resp.text and "data-mismatch" not in resp.text
    assert "(МСК)" in resp.text  # moments in the portal's zone, not UTC


def test_a_changed_document_is_red_and_said_to_be_the_wrong_pair(verifier: Verifier, signers: Signers) -> None:
    signature = signers.sign(signers.trusted, PDF)
    tampered = PDF.replace("№5".encode(), "№6".encode())
    resp = verifier.check(signature, tampered)
    assert resp.status_code == 200
    assert headline(resp) == "invalid"
    assert "data-mismatch" in resp.text and "Документ не совпадает с подписанным" in resp.text
    assert gost256(tampered) in resp.text  # the digest of what was uploaded, to compare


def test_a_signer_under_an_unknown_root_is_amber(verifier: Verifier, signers: Signers) -> None:
    resp = verifier.check(signers.sign(signers.stranger, PDF), PDF)
    assert resp.status_code == 200
    assert headline(resp) == "indeterminate"
    assert "цепочка не доходит до доверенного корневого сертификата" in resp.text


def test_an_attached_signature_alone(verifier: Verifier, signers: Signers) -> None:
    signature = signers.sign(signers.trusted, PDF, attached=True)
    resp = verifier.check(signature, sig_name="Акт сверки.pdf.p7m")
    assert resp.status_code == 200
    assert headline(resp) == "valid"
    assert "Акт сверки.pdf.p7m (документ внутри подписи)" in resp.text
    assert gost256(PDF) in resp.text  # the digest of the content inside


def test_a_non_pdf_original(verifier: Verifier, signers: Signers) -> None:
    docx = docx_bytes()
    resp = verifier.check(signers.sign(signers.trusted, docx), docx, doc_name="Спецификация.docx",
                          sig_name="Спецификация.docx.sig")  # fmt: skip
    assert headline(resp) == "valid"
    assert "Спецификация.docx" in resp.text and gost256(docx) in resp.text


@pytest.mark.parametrize(
    ("case", "status", "words"),
    [
        ("no signature", 400, "Выберите файл подписи"),
        ("empty signature", 400, "пустой"),
        ("garbage", 422, "не является электронной подписью"),
        ("empty document", 400, "Файл документа «Акт сверки.pdf» пустой"),
        ("detached without its document", 400, "Это отсоединённая подпись"),
        ("not a form", 400, "Не удалось прочитать отправленную форму"),
    ],
)
def test_bad_input_is_answered_in_words_with_the_form_again(
    verifier: Verifier, signers: Signers, case: str, status: int, words: str
) -> None:
    signature = signers.sign(signers.trusted, PDF)
    if case == "no signature":
        resp = verifier.http.post(f"{verifier.url}/verify", files={"document": ("Акт сверки.pdf", PDF)})
    elif case == "empty signature":
        resp = verifier.check(b"", PDF)
    elif case == "garbage":
        resp = verifier.check(os.urandom(3000), PDF)
    elif case == "empty document":
        resp = verifier.check(signature, b"")
    elif case == "detached without its document":
        resp = verifier.check(signature)
    else:
        resp = verifier.http.post(f"{verifier.url}/verify", content=b"signature=abc",
                                  headers={"content-type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert resp.status_code == status, resp.text[:1500]
    assert words in error_text(resp)
    assert "data-verify-form" in resp.text  # the form again
    assert "Traceback" not in resp.text and "data-headline" not in resp.text


def test_a_file_over_the_limit_is_refused_before_it_is_read_whole(verifier: Verifier, signers: Signers) -> None:
    big = b"%PDF-1.7\n" + os.urandom(3 * 1024 * 1024)  # the module's server takes 2 MB
    resp = verifier.check(signers.sign(signers.trusted, PDF), big)
    assert resp.status_code == 413
    assert "больше 2 МБ" in error_text(resp)
    assert "data-verify-form" in resp.text


def _tree(root: Path) -> dict[str, int]:
    """Every file under the data directory with its size (the database's own files aside: their sizes move
    with its checkpoints, and nothing of an upload goes there: the test reads it below)."""
    return {
        str(p.relative_to(root)): p.stat().st_size
        for p in root.rglob("*")
        if p.is_file() and not p.name.startswith("klikdok.db")
    }


def test_nothing_uploaded_is_kept(verifier: Verifier, signers: Signers) -> None:
    data_dir = verifier.server.data_dir
    docx = docx_bytes()
    marker = "УникальнаяМеткаПроверки".encode()
    document = docx + marker
    signature = signers.sign(signers.trusted, document)
    verifier.check(signature, document)  # a first check: whatever a first request creates once is there now
    before = _tree(data_dir)
    for doc, sig in [(document, signature), (document + b"x", signature), (None, signature), (document, b"junk")]:
        verifier.check(sig, doc, doc_name="Секретный файл.docx", sig_name="Секретный файл.docx.sig")
    verifier.check(signature, os.urandom(3 * 1024 * 1024))  # refused half-way
    after = _tree(data_dir)
    assert after == before
    spool = data_dir / "uploads"
    assert not spool.exists() or list(spool.iterdir()) == []
    # Not in the database either (nor in its write-ahead log), by content or by name.
    for p in data_dir.rglob("klikdok.db*"):
        blob = p.read_bytes()
        assert marker not in blob and "Секретный файл".encode() not in blob, p.name


def test_the_protocol_pdf_carries_the_verdict(verifier: Verifier, signers: Signers) -> None:
    resp = verifier.check(signers.sign(signers.trusted, PDF), PDF, pdf=True)
    assert resp.status_code == 200, resp.text[:1500]
    assert resp.headers["content-type"] == "application/pdf"
    assert "attachment" in resp.headers["content-disposition"]
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(resp.content)).pages)
    assert "ДЕЙСТВИТЕЛЬНА" in text.upper()
    assert "Акт сверки.pdf" in text
    assert gost256(PDF)[:16] in text.replace("\n", "").replace(" ", "")
    # A changed document's protocol says it is not valid.
    changed = verifier.check(signers.sign(signers.trusted, PDF), PDF + b"\n", pdf=True)
    assert changed.headers["content-type"] == "application/pdf"
    changed_text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(changed.content)).pages)
    assert "НЕДЕЙСТВИТЕЛЬНА" in changed_text.upper()


def test_checks_and_views_are_rate_limited_in_russian(tmp_path: Path, gost_pki: GostPki, signers: Signers) -> None:
    with running_verifier(
        tmp_path / "data",
        gost_pki,
        KLIKDOK_LIMITS_PUBLIC_REQUESTS_PER_MINUTE="2",
        KLIKDOK_LIMITS_PUBLIC_READS_PER_MINUTE="3",
    ) as v:
        signature = signers.sign(signers.trusted, PDF)
        assert [v.check(signature, PDF).status_code for _ in range(2)] == [200, 200]
        refused = v.check(signature, PDF)
        assert refused.status_code == 429
        assert "Слишком много проверок" in refused.text and int(refused.headers["retry-after"]) >= 1
        assert refused.headers["x-robots-tag"].startswith("noindex")
        # Reads are counted apart: the page still opens, three times, then it too waits.
        assert [v.http.get(f"{v.url}/verify").status_code for _ in range(4)] == [200, 200, 200, 429]
        assert "Слишком много" in v.http.get(f"{v.url}/verify").text


def test_every_post_form_of_the_public_pages_carries_a_key_or_says_why_not() -> None:
    """The counterparty's forms carry their Idempotency-Key in the action (?key=…); the public check's form
    changes nothing and is marked ``data-read-only`` (server.routes.public_verify says why)."""
    templates = Path(__file__).resolve().parents[2] / "server" / "templates" / "public"
    missing = []
    for template in sorted(templates.glob("*.html")):
        for form in re.finditer(r"<form\b[^>]*>", template.read_text(encoding="utf-8")):
            tag = form.group(0)
            if 'method="post"' not in tag.lower():
                continue
            if "?key={{" not in tag and "data-read-only" not in tag:
                missing.append(f"{template.name}: {tag}")
    assert missing == []


def test_an_uploaded_certificate_never_makes_the_server_fetch_its_issuer(verifier: Verifier, tmp_path: Path) -> None:
    """A chain without its intermediate names where to get it (AIA caIssuers): the workflow's verification
    would fetch it, the public check does not (anyone could point the server anywhere). The same signature checked
    with a fetcher directly shows the address is really asked for."""
    from cades.fetch import HttpFetcher
    from cades.validation import ValidationContext
    from cades.verify import verify_cms
    from tests.support.http_files import serve_files
    from tests.support.openssl_pki import OpenSSLPki

    with serve_files() as files:
        pki = OpenSSLPki(tmp_path / "aia-pki", ca_issuers_url=files.base_url)
        root = pki.root_ca("aia-root", algorithm="gost2012_256", subject=pki.subject(CN="Чужой корень"))
        inter = pki.issue(root, "aia-inter", subject=pki.subject(CN="Чужой УЦ"), profile="v3_ca")
        signer = pki.issue(inter, "aia-signer", subject=pki.subject(CN="Кто-то"))
        files.put("aia-inter.cer", pki.run("x509", "-in", inter.cert, "-outform", "DER"))
        signature = pki.sign(signer, PDF)

        resp = verifier.check(signature, PDF)
        assert headline(resp) == "indeterminate"
        assert files.requests == []

        with HttpFetcher() as fetcher:
            verify_cms(signature, PDF, context=ValidationContext(fetcher=fetcher))
        assert files.hits("aia-inter.cer") == 1


def test_unknown_revocation_is_amber(tmp_path: Path, gost_pki: GostPki, signers: Signers) -> None:
    """A server without the CAs' CRLs (and the test certificates name no address to fetch one): the chain is
    trusted, its revocation status unknown."""
    with running_verifier(tmp_path / "data", gost_pki, KLIKDOK_TRUST_CRLS="[]") as v:
        resp = v.check(signers.sign(signers.trusted, PDF), PDF)
        assert headline(resp) == "indeterminate"
        assert "неизвестен: проверить не удалось" in resp.text


def test_guessing_kept_verdict_ids_blocks_the_address(tmp_path: Path, gost_pki: GostPki) -> None:
    """An unknown /v/ id counts hard, as an unknown counterparty link does: at the limit the address waits for
    everything public."""
    with running_verifier(tmp_path / "data", gost_pki, KLIKDOK_LIMITS_PUBLIC_BAD_LINKS_PER_HOUR="2") as v:
        answers = [v.http.get(f"{v.url}/v/{secrets.token_urlsafe(16)}").status_code for _ in range(3)]
        assert answers == [404, 404, 429]
        blocked = v.http.get(f"{v.url}/verify")
        assert blocked.status_code == 429 and "Слишком много" in blocked.text
