"""The public signature check over real HTTP: ``klikdok serve`` trusting the test GOST PKI (roots, intermediates
and both CRLs in ``[trust]``, as tests/workflow does), signatures made by ``openssl cms`` at test time.

The verdicts the tests need: valid (a signer of the trusted PKI, revocation known from the CRLs), invalid (the
document changed after signing), indeterminate (a signer under a root this server does not trust).
"""

from __future__ import annotations

import contextlib
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from cades import hashing
from tests.counterparty.conftest import Counterparty, Exchange, counterparty, exchange, smtp  # noqa: F401 - fixtures re-exported for this suite
from tests.support.openssl_pki import Issued
from tests.support.pki_fixtures import (
    GostPki,
    gost_pki,  # noqa: F401 - fixtures re-exported for this suite
)
from tests.support.server import ServerProcess, start_server
from tests.workflow.conftest import db, emulator, people, portal_server, server_env  # noqa: F401 - fixtures re-exported for this suite

PDF = b"%PDF-1.7\n" + "Акт сверки №5 от 01.12.2026".encode() + b"\n%%EOF\n"


def docx_bytes() -> bytes:
    """A small real .docx (an OOXML zip): a non-PDF original."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/'
            'document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.'
            'main+xml"/></Types>',
        )
        z.writestr(
            "word/document.xml",
            '<?xml version="1.0" encoding="UTF-8"?><w:document xmlns:w="http://schemas.openxmlformats.org/'
            'wordprocessingml/2006/main"><w:body><w:p><w:r><w:t>Спецификация к договору</w:t></w:r></w:p>'
            "</w:body></w:document>",
        )
    return buf.getvalue()


def gost256(data: bytes) -> str:
    return hashing.new("streebog256", data).hexdigest()


@dataclass(frozen=True)
class Signers:
    """Who signs in these tests: ``trusted`` under the server's PKI, ``stranger`` under a root it does not know."""

    pki: GostPki
    trusted: Issued
    stranger: Issued

    def sign(self, who: Issued, data: bytes, *, attached: bool = False) -> bytes:
        return self.pki.pki.sign(who, data, attached=attached)


@pytest.fixture(scope="session")
def signers(gost_pki: GostPki) -> Signers:  # noqa: F811  pytest injects the imported fixture of this name
    pki = gost_pki.pki
    stranger = pki.issue(
        gost_pki.foreign_root,
        "public-verify-stranger",
        subject=pki.subject(C="RU", O="ООО «Неизвестный УЦ»", CN="Сидоров Семён Семёнович"),
    )
    return Signers(gost_pki, gost_pki.user256, stranger)


@dataclass
class Verifier:
    """A running server and an HTTP client for its public check."""

    server: ServerProcess
    http: httpx.Client

    @property
    def url(self) -> str:
        return self.server.url

    def check(
        self, signature: bytes, document: bytes | None = None, *, doc_name: str = "Акт сверки.pdf",
        sig_name: str = "Акт сверки.pdf.sig", pdf: bool = False,
    ) -> httpx.Response:  # fmt: skip
        files = [("signature", (sig_name, signature, "application/pkcs7-signature"))]
        if document is not None:
            files.insert(0, ("document", (doc_name, document, "application/octet-stream")))
        return self.http.post(f"{self.url}/verify" + ("?format=pdf" if pdf else ""), files=files)


@contextlib.contextmanager
def running_verifier(data_dir: Path, pki: GostPki, **env: str) -> Iterator[Verifier]:
    """A server trusting ``pki``; ``env``: settings of this one server (limits)."""
    server = start_server(data_dir, env=server_env(pki, **env))
    try:
        with httpx.Client(timeout=60, follow_redirects=False) as http:
            yield Verifier(server, http)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory, gost_pki: GostPki) -> Iterator[Verifier]:  # noqa: F811  pytest injects the imported fixture of this name
    """One server for a module's checks, its rate limits out of the way (the limits have their own server)."""
    with running_verifier(
        tmp_path_factory.mktemp("verify") / "data",
        gost_pki,
        KLIKDOK_LIMITS_PUBLIC_REQUESTS_PER_MINUTE="10000",
        KLIKDOK_LIMITS_PUBLIC_READS_PER_MINUTE="10000",
        KLIKDOK_LIMITS_PUBLIC_BAD_LINKS_PER_HOUR="10000",
        KLIKDOK_LIMITS_PUBLIC_VERIFY_MAX_MB="2",
    ) as v:
        yield v
