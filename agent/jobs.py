"""One signing job on the agent: download, check the digest, sign, verify locally, build the answer.

The digest recorded by the server when the document was sent is the only thing trusted: a download whose
Streebog-256 differs (a proxy that rewrote it, a swapped file) is refused, and the backend never sees it.
The signature is verified with ``cades`` before it leaves the machine, so a broken backend cannot upload garbage
in the signer's name: the math and the document digest always, and, with the trust anchors the server sent
(:class:`LocalTrust`), the certificate's chain and validity too, so a signer with an expired certificate or one
from a CA the server does not trust learns it on their own screen instead of from a refusal later. Revocation
is not judged here (the agent has no CRLs or OCSP at hand): the server decides it under its own policy.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Final, Literal

import httpx
from asn1crypto import x509

from agent.backends import Backend, BackendError
from cades import hashing
from cades.asn1 import MalformedInput
from cades.result import REASONS
from cades.validation import ValidationContext
from cades.verify import verify_cms
from common import agent_protocol as protocol

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The job could not be worked on now (network, server busy): offered again later, nothing recorded."""


class JobGone(Exception):
    """The server says the job is closed or not ours any more: drop it quietly."""


async def download(
    http: httpx.AsyncClient, key: str, f: protocol.JobFile, target: Path, also: str | None = None
) -> dict[str, bytes]:
    """Stream one file to ``target``; the Streebog-256 of what arrived, and the ``also`` digest if asked (the
    one the backend signs with), computed in the same pass; {} when its size is not the announced one.

    The hashing runs in a thread, chunk by chunk, so the websocket keeps being served. A digest the backend can
    sign (:meth:`Backend.sign_hashed`) saves it hashing the file again: Streebog is most of a signature's cost."""
    names = ["streebog256"] + ([also] if also and also != "streebog256" else [])
    hashers = [hashing.new(name) for name in names]

    def update(chunk: bytes) -> None:
        for h in hashers:
            h.update(chunk)

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
                    await asyncio.to_thread(update, chunk)
    except httpx.HTTPError as exc:
        raise RetryLater(f"{type(exc).__name__}") from exc
    if size != f.size:
        return {}
    return {name: h.digest() for name, h in zip(names, hashers, strict=True)}


def file_digest(path: Path, name: str) -> bytes:
    """The ``name`` digest of a downloaded file, read back in 1 MiB chunks."""
    h = hashing.new(name)
    with path.open("rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.digest()


# Reasons the agent leaves to the server: without CRLs or OCSP at hand the agent cannot know them.
SERVER_DECIDES: Final = frozenset({"revocation_unknown"})
# What the signer reads for the usual certificate problems; other codes use cades' own explanation.
CERTIFICATE_TEXT: Final = {
    "expired": "срок действия сертификата подписи истёк",
    "not_yet_valid": "сертификат подписи ещё не начал действовать",
    "untrusted_root": "сертификат выдан удостоверяющим центром, которому сервер не доверяет",
    "chain_incomplete": "сертификат выдан удостоверяющим центром, которому сервер не доверяет "
    "(не найден сертификат издателя)",
    "revoked": "сертификат подписи отозван",
    "revoked_no_poe": "сертификат подписи отозван",
    "bad_certificate_signature": "цепочка сертификатов неверна: подпись издателя на сертификате не сходится",
    "not_a_ca": "цепочка сертификатов неверна: издатель не является удостоверяющим центром",
    "key_usage": "сертификат не предназначен для электронной подписи",
}


@dataclass(frozen=True)
class LocalTrust:
    """The server's trust anchors and intermediates (``trust_anchors`` on /agent/ws), ready for validation."""

    context: ValidationContext

    @classmethod
    def from_message(cls, msg: protocol.TrustAnchors) -> LocalTrust | None:
        """Parsed defensively (the server is trusted, the bytes on the way are not): malformed entries are
        skipped, at most ``MAX_TRUST_ANCHORS`` read; None when no anchor is usable (nothing to check against)."""
        anchors = _certificates(msg.anchors[: protocol.MAX_TRUST_ANCHORS])
        if not anchors:
            return None
        intermediates = _certificates(msg.intermediates[: protocol.MAX_TRUST_ANCHORS])
        return cls(ValidationContext(trust_roots=anchors, intermediates=intermediates))


def _certificates(items: list[str]) -> tuple[x509.Certificate, ...]:
    out = []
    for item in items:
        try:
            cert = x509.Certificate.load(base64.b64decode(item, validate=True))
            cert["tbs_certificate"]["subject"].native  # noqa: B018  parse now, so a broken one is skipped here
        except (ValueError, TypeError, binascii.Error):
            continue
        out.append(cert)
    return tuple(out)


@dataclass(frozen=True)
class LocalProblem:
    """Why a signature is not uploaded: ``bad_signature`` (the backend made something wrong) or
    ``certificate_rejected`` (the signer's certificate is one the server would not trust)."""

    code: Literal["bad_signature", "certificate_rejected"]
    message: str

    def __str__(self) -> str:
        return self.message


def check_locally(
    cms: bytes, d256: bytes, d512: bytes | Callable[[], bytes], trust: LocalTrust | None = None
) -> LocalProblem | None:
    """None if the CMS is one intact signature over exactly this document (and, given ``trust``, made with a
    certificate the server would trust: valid now, chained to its anchors), else why not (Russian).

    ``d512`` may be a function that computes the Streebog-512: it is called only for a signature made with that
    digest (a 512-bit key), so a 256-bit signer's document is hashed once, not twice."""
    problem = _check(cms, d256, d512, trust)
    if problem is None:
        return None
    if problem[0] == "certificate_rejected":
        return LocalProblem("certificate_rejected", problem[1])
    return LocalProblem("bad_signature", problem[1])


def _check(
    cms: bytes, d256: bytes, d512: bytes | Callable[[], bytes], trust: LocalTrust | None
) -> tuple[Literal["bad_signature", "certificate_rejected"], str] | None:
    context = trust.context if trust is not None else None
    try:
        if callable(d512):
            result = verify_cms(cms, content_digest={"streebog256": d256}, context=context)
            if any("no_content" in s.reasons for s in result.signatures):  # made with Streebog-512
                result = verify_cms(cms, content_digest={"streebog256": d256, "streebog512": d512()}, context=context)
        else:
            result = verify_cms(cms, content_digest={"streebog256": d256, "streebog512": d512}, context=context)
    except MalformedInput as exc:
        return "bad_signature", f"программа подписи вернула не CMS: {exc}"
    if len(result.signatures) != 1:
        return "bad_signature", f"в подписи {len(result.signatures)} подписантов вместо одного"
    sig = result.signatures[0]
    if not sig.intact:
        return "bad_signature", "подпись не сходится с документом: " + ", ".join(sig.reasons)
    if trust is None:
        return None
    problems = [r for r in sig.reasons if r not in SERVER_DECIDES]
    if not problems:
        return None
    texts = dict.fromkeys(CERTIFICATE_TEXT.get(r) or (REASONS[r][1] if r in REASONS else r) for r in problems)
    return "certificate_rejected", "; ".join(texts)


async def process(
    http: httpx.AsyncClient,
    key: str,
    backend: Backend,
    offer: protocol.JobOffer,
    trust: LocalTrust | None = None,
    *,
    sign_lock: asyncio.Lock | None = None,
    dropped: Callable[[], bool] = lambda: False,
) -> protocol.Result | protocol.Failure:
    """Do one job with a local backend; the answer to send (its ``result_id`` is fresh).

    ``sign_lock``, shared by the agent's workers, lets one job download and hash its files while another is
    being signed, but keeps the signing itself one at a time (one key, one token, one PIN prompt); a job
    ``dropped`` (cancelled by the server) while it waited for the lock is given up before it is signed."""
    result_id = uuid.uuid4().hex
    signatures: list[protocol.FileSignature] = []
    try:
        signs_with = await asyncio.to_thread(backend.digest_name)
    except BackendError:
        signs_with = None  # sign() says what is wrong, in its own words
    with tempfile.TemporaryDirectory(prefix="klikdok-job-") as tmp:
        os.chmod(tmp, 0o700)
        for n, f in enumerate(offer.files):
            path = Path(tmp) / f"{n}-{Path(f.name).name or 'document'}"
            digests = await download(http, key, f, path, also=signs_with)
            d256 = digests.get("streebog256", b"")
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
                async with sign_lock or contextlib.nullcontext():
                    if dropped():
                        raise JobGone("cancelled while waiting to be signed")
                    cms = await asyncio.to_thread(backend.sign_hashed, path, digests)
            except BackendError as exc:
                return protocol.Failure(
                    job_id=offer.job_id, result_id=result_id, code="backend_error", message=str(exc)[:500]
                )
            problem = await asyncio.to_thread(
                check_locally, cms, d256, digests.get("streebog512") or partial(file_digest, path, "streebog512"), trust
            )
            if problem is not None and problem.code == "certificate_rejected":
                log.error("the signer's certificate is not one the server trusts; not uploading",
                          extra={"job_id": offer.job_id})  # fmt: skip
                return protocol.Failure(
                    job_id=offer.job_id,
                    result_id=result_id,
                    code="certificate_rejected",
                    message=f"Подпись файла «{f.name}» не отправлена: {problem.message}. Подпишите документ "
                    "действующим сертификатом, выданным удостоверяющим центром, которому доверяет сервер.",
                )
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
