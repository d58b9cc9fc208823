"""What the agent does once per batch rather than once per document (issue 19, batch signing at the backend's speed).

- The openssl backend reads its certificate (``openssl x509``) once, not before every signature: that process
  cost as much as the signature itself. A replaced certificate file is read again.
- The local check hashes the document with Streebog-512 only for a signature made with it (a 512-bit key); a
  256-bit signer's document is hashed once. Both keys' signatures are still checked against the document.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from agent.backends.openssl import OpenSSLBackend
from agent.jobs import check_locally
from cades import hashing
from tests.support.pki_fixtures import GostPki

DOC = "Акт сверки №12".encode() * 4000


def counting_openssl(directory: Path) -> tuple[str, Path]:
    """An ``openssl`` that notes each run's subcommand in ``runs.log`` and then runs the real one."""
    real = shutil.which("openssl")
    assert real
    log = directory / "runs.log"
    script = directory / "openssl"
    script.write_text(
        f"#!{sys.executable}\nimport os, sys\nopen({str(log)!r}, 'a').write(sys.argv[1] + '\\n')\n"
        f"os.execv({real!r}, [{real!r}, *sys.argv[1:]])\n"
    )
    script.chmod(0o755)
    return str(script), log


def test_the_openssl_backend_reads_its_certificate_once_per_certificate_file(gost_pki: GostPki, tmp_path: Path) -> None:
    openssl, log = counting_openssl(tmp_path)
    cert = tmp_path / "signer.pem"
    shutil.copyfile(gost_pki.user256.cert, cert)
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(DOC)
    d256, d512 = hashing.digest("streebog256", DOC), hashing.digest("streebog512", DOC)
    with OpenSSLBackend(str(cert), str(gost_pki.user256.key), openssl=openssl) as backend:
        for _ in range(3):
            assert check_locally(backend.sign(doc), d256, d512) is None
        assert log.read_text().split() == ["x509", "cms", "cms", "cms"]
        # The file replaced (a renewed certificate): read again before the next signature.
        shutil.copyfile(gost_pki.user256.cert, cert)
        stat = cert.stat()
        os.utime(cert, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        assert check_locally(backend.sign(doc), d256, d512) is None
        assert log.read_text().split()[4:] == ["x509", "cms"]


def test_the_local_check_computes_streebog512_only_for_a_512_bit_signature(gost_pki: GostPki, tmp_path: Path) -> None:
    doc = tmp_path / "doc.pdf"
    doc.write_bytes(DOC)
    d256, d512 = hashing.digest("streebog256", DOC), hashing.digest("streebog512", DOC)
    calls: list[str] = []

    def lazy(value: bytes) -> bytes:
        calls.append("512")
        return value

    sig256 = gost_pki.pki.sign(gost_pki.user256, DOC)
    assert check_locally(sig256, d256, lambda: lazy(d512)) is None
    assert calls == []
    sig512 = gost_pki.pki.sign(gost_pki.user512, DOC)
    assert check_locally(sig512, d256, lambda: lazy(d512)) is None
    assert calls == ["512"]
    # Another document's Streebog-512: the 512-bit signature does not pass, so the laziness checks as much as before.
    wrong = hashing.digest("streebog512", DOC + b"!")
    problem = check_locally(sig512, d256, lambda: lazy(wrong))
    assert problem is not None and problem.code == "bad_signature"
    # And a 256-bit signature over other bytes fails without ever needing the 512.
    other = gost_pki.pki.sign(gost_pki.user256, DOC + b"!")
    problem = check_locally(other, d256, lambda: lazy(d512))
    assert problem is not None and problem.code == "bad_signature"
    assert calls == ["512", "512"]
