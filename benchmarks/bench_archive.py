"""Verifying a whole archive (issue 19): ``klikdok verify --archive`` on every core against OpenSSL, one run.

The archive: ``KLIKDOK_BENCH_ARCHIVE_DOCS`` (default 1,000) random documents of 100 kB to 5 MB (log-uniform, fixed
seed), each with a detached CAdES-BES made by ``openssl cms -sign`` (GOST R 34.10-2012 256, chain of two, the
CA's CRL at hand). Three ways over the same files:

1. ours: :func:`cades.archive.verify_archive` on ``os.cpu_count()`` processes (revocation from the CRL included);
2. OpenSSL's ``CMS_verify`` in this process through ctypes, one core, the document read into memory: the goal is
   (1)'s throughput ≥ 0.9 × cores × this one's;
3. ``openssl cms -verify`` processes run by ``xargs -P <cores>``: the goal is (1) at least 3x faster.

And the memory: the highest resident size of any process of ``klikdok verify --archive`` over the whole archive
(the CLI as an auditor runs it, measured with ``getrusage(RUSAGE_CHILDREN)`` around it), against the largest
document: one document per worker at most means the figure does not grow with the archive.
The material is made once per run in a temporary folder (about 1.3 GB for 1,000 documents).
"""

from __future__ import annotations

import math
import os
import random
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from benchmarks.bench_verify import InProcessCmsVerify
from cades.archive import Outcome, Reader, pair, verify_archive
from cades.asn1 import load_certificate, load_crl
from cades.validation import ValidationContext
from tests.support.openssl_pki import Issued, OpenSSLPki

REPO = Path(__file__).resolve().parent.parent
DOCS = int(os.environ.get("KLIKDOK_BENCH_ARCHIVE_DOCS", "1000"))
MIN_SIZE, MAX_SIZE = 100 * 1024, 5 * 1024 * 1024


@dataclass
class Archive:
    folder: Path
    root_pem: Path
    crl: Path
    env: dict[str, str]
    total_bytes: int
    largest: int


def _sign(pki: OpenSSLPki, user: Issued, doc: Path) -> None:
    doc.with_name(doc.name + ".sig").write_bytes(pki.sign(user, doc.read_bytes()))


def make_archive(root: Path, count: int = DOCS) -> Archive:
    pki = OpenSSLPki(root / "pki")
    ca = pki.root_ca("archive-root", algorithm="gost2012_256", paramset="A")
    user = pki.issue(ca, "archive-user", subject=pki.subject(CN="Архивный подписант", INN="771234567890"),
                     algorithm="gost2012_256", paramset="A")  # fmt: skip
    folder = root / "archive"
    folder.mkdir()
    rng = random.Random(19)
    sizes = [int(math.exp(rng.uniform(math.log(MIN_SIZE), math.log(MAX_SIZE)))) for _ in range(count)]
    docs = []
    for n, size in enumerate(sizes):
        doc = folder / f"{n:05d}.bin"
        doc.write_bytes(os.urandom(size))
        docs.append(doc)
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(lambda d: _sign(pki, user, d), docs))
    return Archive(folder, ca.cert, pki.crl(ca), pki.env, sum(sizes), max(sizes))


def _context(a: Archive) -> ValidationContext:
    return ValidationContext(
        trust_roots=(load_certificate(a.root_pem.read_bytes()),), crls=(load_crl(a.crl.read_bytes()),)
    )


def ours(a: Archive) -> int:
    items, _ = pair(Reader(a.folder).names())
    verdicts: dict[str, int] = {}

    def seen(outcome: Outcome) -> None:
        verdicts[outcome.verdict] = verdicts.get(outcome.verdict, 0) + 1

    verify_archive(a.folder, _context(a), items=items, on_outcome=seen)
    assert verdicts == {"valid": len(items)}, verdicts
    return len(items)


def openssl_one_core(a: Archive) -> int:
    verifier = InProcessCmsVerify(a.root_pem.read_bytes())
    n = 0
    for sig in sorted(a.folder.glob("*.sig")):
        doc = sig.with_suffix("").read_bytes()
        assert verifier.verify(sig.read_bytes(), doc)
        n += 1
    return n


def openssl_xargs(a: Archive) -> int:
    cores = str(os.cpu_count() or 1)
    # `openssl cms` takes no -CRLfile: the CRL goes into the CA file, and -crl_check checks the signer against it.
    ca_and_crl = a.folder.parent / "ca-and-crl.pem"
    ca_and_crl.write_bytes(a.root_pem.read_bytes() + a.crl.read_bytes())
    script = (
        f'ls *.sig | xargs -P {cores} -I{{}} sh -c \'openssl cms -verify -binary -inform DER -in "$1" '
        f'-content "${{1%.sig}}" -CAfile {ca_and_crl} -crl_check -out /dev/null 2>/dev/null\' _ {{}}'
    )
    subprocess.run(["sh", "-c", script], cwd=a.folder, env=a.env, check=True)
    return len(list(a.folder.glob("*.sig")))


def cli_peak_rss(a: Archive) -> tuple[float, int]:
    """Wall seconds and the peak RSS (bytes) of any process of the CLI run over the archive."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "server.cli", "verify", "--archive", str(a.folder), "--trust", str(a.root_pem),
         "--crl", str(a.crl), "--no-store"],
        cwd=REPO, capture_output=True, text=True, env={**os.environ, "KLIKDOK_DATA_DIR": str(a.folder.parent)},
    )  # fmt: skip
    wall = time.perf_counter() - start
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return wall, max(peak, before) * 1024


# --- pytest-benchmark ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def archive(tmp_path_factory: pytest.TempPathFactory) -> Archive:
    return make_archive(tmp_path_factory.mktemp("bench-archive"))


def test_archive_three_ways(record_paired, archive: Archive) -> None:  # type: ignore[no-untyped-def]  # a fixture
    cores = os.cpu_count() or 1
    record_paired(
        {
            f"archive {DOCS} docs: cades.archive on {cores} cores": lambda: ours(archive),
            f"archive {DOCS} docs: OpenSSL CMS_verify in-process, 1 core": lambda: openssl_one_core(archive),
            f"archive {DOCS} docs: openssl cms -verify, xargs -P {cores}": lambda: openssl_xargs(archive),
        },
        rounds=2,
    )


def test_archive_cli_memory(archive: Archive) -> None:
    wall, peak = cli_peak_rss(archive)
    from benchmarks.conftest import EXTRA_LINES, RESULTS

    RESULTS[f"archive {DOCS} docs: klikdok verify --archive (CLI, whole process)"] = wall
    EXTRA_LINES.append(
        f"    archive CLI peak RSS of any process: {peak / 2**20:.0f} MiB "
        f"(largest document {archive.largest / 2**20:.1f} MiB, archive {archive.total_bytes / 2**30:.2f} GiB)"
    )
