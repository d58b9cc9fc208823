"""One signing job on the agent: download, check the digest, sign, verify locally, build the answer.

The digest recorded by the server when the document was sent is the only thing trusted: a download whose
Streebog-256 differs (a proxy that rewrote it, a swapped file) is refused, and the backend never sees it.
The signature is verified with ``cades`` before it leaves the machine (math and the document digest: trust in
the CA is the server's business), so a broken backend cannot upload garbage in the signer's name.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import tempfile
import uuid
from pathlib import Path

import httpx

from agent.backends import Backend, BackendError
from cades import hashing
from cades.asn1 import MalformedInput
from cades.verify import verify_cms
from common import agent_protocol as protocol

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The job could not be worked on now (network, server busy): offered again later, nothing recorded."""


class JobGone(Exception):
    """The server says the job is closed or not ours any more: drop it quietly."""


async def download(http: httpx.AsyncClient, key: str, f: protocol.JobFile, target: Path) -> tuple[bytes, bytes]:
    """Stream one file to ``target``; (Streebog-256, Streebog-512) of what arrived."""
    h256, h512 = hashing.new("streebog256"), hashing.new("streebog512")
    size = 0
    try:
        async with http.stream("GET", f.url, headers={"Authorization": f"Bearer {key}"}) as resp:
            if resp.status_code in (404, 410):
                raise JobGone(f"HTTP {resp.status_code}")
            if resp.status_code != 200:
                raise RetryLater(f"HTTP {resp.status_code}")
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as out:
                async for chunk in resp.aiter_bytes(1 << 20):
                    size += len(chunk)
                    if size > f.size:
                        break  # longer than announced: the digest will not match; stop reading
                    out.write(chunk)
                    h256.update(chunk)
                    h512.update(chunk)
    except httpx.HTTPError as exc:
        raise RetryLater(f"{type(exc).__name__}") from exc
    if size != f.size:
        return b"", b""
    return h256.digest(), h512.digest()


def check_locally(cms: bytes, d256: bytes, d512: bytes) -> str | None:
    """None if the CMS is one intact signature over exactly this document, else why not (Russian)."""
    try:
        result = verify_cms(cms, content_digest={"streebog256": d256, "streebog512": d512})
    except MalformedInput as exc:
        return f"программа подписи вернула не CMS: {exc}"
    if len(result.signatures) != 1:
        return f"в подписи {len(result.signatures)} подписантов вместо одного"
    sig = result.signatures[0]
    if not sig.intact:
        return "подпись не сходится с документом: " + ", ".join(sig.reasons)
    return None


async def process(
    http: httpx.AsyncClient,
    key: str,
    backend: Backend,
    offer: protocol.JobOffer,
) -> protocol.Result | protocol.Failure:
    """Do one job with a local backend; the answer to send (its ``result_id`` is fresh)."""
    result_id = uuid.uuid4().hex
    signatures: list[protocol.FileSignature] = []
    with tempfile.TemporaryDirectory(prefix="klikdok-job-") as tmp:
        os.chmod(tmp, 0o700)
        for n, f in enumerate(offer.files):
            path = Path(tmp) / f"{n}-{Path(f.name).name or 'document'}"
            d256, d512 = await download(http, key, f, path)
            if d256.hex() != f.streebog256.lower():
                log.warning(
                    "downloaded file does not match the job's digest; refusing to sign",
                    extra={"job_id": offer.job_id, "file_id": f.id},
                )
                return protocol.Failure(
                    job_id=offer.job_id,
                    result_id=result_id,
                    code="digest_mismatch",
                    message=f"Файл «{f.name}» пришёл изменённым: его хэш ГОСТ Р 34.11-2012 не "
                    "совпадает с зафиксированным при отправке. Подпись не сделана.",
                )
            try:
                cms = await asyncio.to_thread(backend.sign, path)
            except BackendError as exc:
                return protocol.Failure(
                    job_id=offer.job_id, result_id=result_id, code="backend_error", message=str(exc)[:500]
                )
            problem = await asyncio.to_thread(check_locally, cms, d256, d512)
            if problem is not None:
                log.error("local verification failed; not uploading", extra={"job_id": offer.job_id})
                return protocol.Failure(
                    job_id=offer.job_id,
                    result_id=result_id,
                    code="bad_signature",
                    message=f"Подпись файла «{f.name}» не прошла проверку на компьютере подписанта: {problem}",
                )
            signatures.append(protocol.FileSignature(file_id=f.id, cms=base64.b64encode(cms).decode()))
    return protocol.Result(job_id=offer.job_id, result_id=result_id, signatures=signatures)
