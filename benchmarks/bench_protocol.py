"""The verification protocol PDF for 100 signatures (issue 16: under 1 s), and one selection protocol of 20
documents with 5 signatures each.

One signature is made by ``openssl cms`` and verified by cades with the CA's CRL (a real result: chain of two,
revocation source and times); the other three kinds are the built results every report must word
(tests/support/verdict_samples.py: revoked by OCSP, revocation unknown, untrusted root). 100 signatures, one per
file, cycle through the four. What is timed is :func:`server.paper.protocol_pdf.render_protocol_pdf` end to end:
the rows, the layout, the font subset, the PDF bytes.

Run standalone: ``.venv/bin/python benchmarks/bench_protocol.py``; or with the rest of ``benchmarks/``.
Timings never decide a test.
"""

from __future__ import annotations

import datetime as dt
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from cades.asn1 import load_certificate, load_crl  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.result import VerificationResult  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.validation import ValidationContext  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.verdicts import ru_time  # noqa: E402  after the sys.path line that lets the file run standalone
from cades.verify import verify_cms  # noqa: E402  after the sys.path line that lets the file run standalone
from server.paper.protocol import (  # noqa: E402  after the sys.path line that lets the file run standalone
    Protocol,
    ProtocolFile,
)
from server.paper.protocol_pdf import (  # noqa: E402  after the sys.path line that lets the file run standalone
    render_protocol_pdf,
    render_protocols_pdf,
)
from tests.support import verdict_samples  # noqa: E402  after the sys.path line that lets the file run standalone
from tests.support.openssl_pki import OpenSSLPki  # noqa: E402  after the sys.path line that lets the file run standalone

GENERATED = dt.datetime(2026, 12, 7, 11, 5, tzinfo=dt.UTC)


def real_result(root: Path) -> VerificationResult:
    pki = OpenSSLPki(root)
    ca = pki.root_ca("bench-root", algorithm="gost2012_256", paramset="A")
    user = pki.issue(ca, "bench-user", subject=pki.subject(CN="Иванов Иван Иванович", O='ООО "Ромашка"',
                     INN="771234567890", SNILS="12345678901"), algorithm="gost2012_256", paramset="A")  # fmt: skip
    doc = "Договор поставки № 17\n".encode() * 4000
    context = ValidationContext(
        trust_roots=(load_certificate(ca.cert.read_bytes()),), crls=(load_crl(pki.crl(ca).read_bytes()),)
    )
    result = verify_cms(pki.sign(user, doc), doc, context=context)
    assert result.status == "valid", result.signatures[0].reasons
    return result


def protocol(results: list[VerificationResult], count: int, title: str = "Договор поставки") -> Protocol:
    return Protocol(
        title=title,
        files=[
            ProtocolFile(
                name=f"Приложение {i + 1}.pdf", streebog256="ab" * 32, size=100_000, results=[results[i % len(results)]]
            )
            for i in range(count)
        ],  # fmt: skip
        generated=GENERATED,
        accepted=True,
        verify_url="https://klikdok.example.ru/v/Zx9kQ2mP7sLwB4",
    )


def kinds(root: Path) -> list[VerificationResult]:
    return [real_result(root)] + [verdict_samples.result(case) for case in verdict_samples.CASES[1:]]


def test_protocol_pdf_100_signatures(record: Any, tmp_path: Path) -> None:
    one = protocol(kinds(tmp_path), 100)
    data = record("protocol PDF, 100 signatures", lambda: render_protocol_pdf(one, time_text=ru_time), rounds=5,
                  warmup=1)  # fmt: skip
    assert data.startswith(b"%PDF-")


def test_selection_protocol_20_documents_of_5_signatures(record: Any, tmp_path: Path) -> None:
    results = kinds(tmp_path)
    docs = [protocol(results, 5, title=f"Документ {n}") for n in range(20)]

    def run() -> bytes:
        return render_protocols_pdf(docs, title="Выборка", generated=GENERATED, time_text=ru_time)

    assert record("selection protocol PDF, 20 documents x 5 signatures", run, rounds=5, warmup=1).startswith(b"%PDF-")


def _best_of_five(p: Protocol) -> float:
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        render_protocol_pdf(p, time_text=ru_time)
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        material = kinds(Path(tmp))
    for count in (100, 10):
        print(f"protocol PDF, {count} signatures: {_best_of_five(protocol(material, count)) * 1000:.0f} ms")
