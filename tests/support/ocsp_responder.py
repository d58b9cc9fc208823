"""The real ``openssl ocsp`` as an OCSP responder on loopback, for tests and benchmarks.

It answers from the CA's ``index.txt`` (what ``OpenSSLPki.issue``/``revoke`` maintain), signing with the CA's own
key or a delegated responder certificate (``pki.issue(ca, name, subject=..., profile="v3_ocsp")``), through the
gost engine the PKI's ``OPENSSL_CONF`` loads. The path of the URL is ignored by openssl, so certificates' AIA
``{ocsp_url}/{ca}`` addresses reach it.

Revocations after start: OpenSSL 3's responder re-reads ``index.txt`` when the file changes, but it looks only
between two requests, before waiting for the next one; so the first answer after ``pki.revoke`` is still the old
one. :meth:`OcspResponder.refresh` spends that answer, after which the change is certain to be seen.

The process is killed and reaped when the context exits, also when the test fails.
"""

from __future__ import annotations

import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cades.ocsp import probe_request

from .openssl_pki import Issued, OpenSSLPki

__all__ = ["OcspResponder", "ocsp_responder"]

_READY_LINE = b"waiting for OCSP client connections"

# A well-formed request about no real certificate: openssl's responder exits on a malformed one.
_DUMMY_REQUEST = probe_request()
_START_TIMEOUT = 15.0


@dataclass
class OcspResponder:
    """A running responder: its base URL (any path works), port, process and log file (its stderr)."""

    url: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    def refresh(self) -> None:
        """Make the responder re-read ``index.txt`` before the next real request (see the module docstring)."""
        request = urllib.request.Request(
            self.url + "/refresh", data=_DUMMY_REQUEST, headers={"Content-Type": "application/ocsp-request"}
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            answer.read()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


def _start(pki: OpenSSLPki, args: list[str], log: Path) -> tuple[subprocess.Popen[bytes], int] | None:
    """Start on a free port and wait until it listens; None if the port was taken meanwhile (then retry)."""
    port = _free_port()
    with log.open("wb") as sink:
        process = subprocess.Popen(
            ["openssl", "ocsp", *args, "-port", str(port)],
            env=pki.env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
        )
    deadline = time.monotonic() + _START_TIMEOUT
    try:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                return None
            if _READY_LINE in log.read_bytes():
                return process, port  # printed once the socket listens, just before accept()
            time.sleep(0.01)
    except BaseException:
        _stop(process)
        raise
    _stop(process)
    raise RuntimeError(f"openssl ocsp did not start: {log.read_text(errors='replace')[-2000:]}")


@contextmanager
def ocsp_responder(
    pki: OpenSSLPki,
    ca: Issued,
    *,
    signer: Issued | None = None,
    extra: Sequence[str] = (),
) -> Iterator[OcspResponder]:
    """Run ``openssl ocsp`` answering for ``ca`` on 127.0.0.1, signed by ``signer`` (default: the CA itself).

    ``extra`` passes more responder options: ``-nmin 5`` (nextUpdate), ``-resp_key_id`` (responderID by key),
    ``-resp_no_certs`` (no signer certificate in the answer), ``-rmd md_gost12_512``...
    """
    signer = signer or ca
    ca_dir = pki.root / f"ca-{ca.name}"
    index = ca_dir / "index.txt"
    if not index.exists():
        raise RuntimeError(f"CA {ca.name} has issued nothing with `openssl ca` yet: no index.txt")
    args = ["-index", str(index), "-CA", str(ca.cert), "-rsigner", str(signer.cert), "-rkey", str(signer.key)]
    args += ["-rmd", signer.md, *extra]
    log = pki.root / f"ocsp-{ca.name}-{time.monotonic_ns()}.log"
    for _ in range(5):
        started = _start(pki, args, log)
        if started is not None:
            break
    else:
        raise RuntimeError(f"openssl ocsp exited at start: {log.read_text(errors='replace')[-2000:]}")
    process, port = started
    try:
        yield OcspResponder(url=f"http://127.0.0.1:{port}", port=port, process=process, log=log)
    finally:
        _stop(process)
