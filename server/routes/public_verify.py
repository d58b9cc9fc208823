"""The public signature check: ``/verify`` (anyone checks a file and its ``.sig``) and ``/v/<id>`` (the verdict
KlikDok keeps for a document, the address a stamped copy's QR code opens).

No account, no cookies, plain HTML forms that work without JavaScript, and the public pages' headers
(:func:`.errors.security_headers`: nothing from elsewhere, no framing, ``Referrer-Policy: no-referrer``,
``X-Robots-Tag: noindex``). Every request passes the public rate limiter first (:mod:`server.counterparty.limiter`):
a check is an action, a page view a read; an unknown ``/v/`` id counts hard, as an unknown link does.

``POST /verify`` keeps nothing: the body is streamed through :func:`.uploads.receive_form` (bounded by
``[limits] public_verify_max_mb``), the document is hashed while it arrives into a temporary file of the spool
that :func:`.uploads.receive_form` removes when the request ends, whatever happens; the signature is read into
memory to be verified. The check is ``klikdok verify``'s with the server's trust (``[trust]`` files, the trust
store, the revocation fetcher: the context signatures are accepted with, less the fetches of issuer certificates
from addresses an uploaded certificate names: :func:`public_context`), and the page shows its report. An unknown
revocation status is ``indeterminate`` here whatever ``[trust] revocation`` says: that setting is what the
workflow accepts, and this page judges, as ``klikdok verify`` does.

The forms here carry no ``Idempotency-Key`` (:mod:`.idempotency` covers ``/api/v1`` and ``/c/``): a check changes
nothing, so sending it twice just checks twice, and there is nothing to replay.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import logging
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import msgspec
from litestar import Controller, Request, Response, get, post
from litestar.response import Template
from markupsafe import Markup

from cades import hashing
from cades.asn1 import MalformedInput
from cades.cms import parse_signed_data
from cades.fetch import Fetcher, Kind, Origin
from cades.report import render_html
from cades.result import VerificationResult
from cades.validation import ValidationContext
from cades.verdicts import document_headline
from cades.verify import verify_cms
from server.config import Settings
from server.counterparty.limiter import PublicLimiter, client_ip
from server.paper import PaperError
from server.paper.protocol import Protocol, ProtocolFile
from server.workflow import public_view

from .dependencies import Services
from .errors import PUBLIC_CHECK_FOOTER, problem_page, security_headers, status_of
from .uploads import Limits, ReceivedFile, UploadRefused, receive_form

log = logging.getLogger(__name__)

MB = 1024 * 1024
# Room for the form's own bytes (boundaries, part headers, the two small fields) beyond the files.
FORM_SLACK = 64 * 1024
# The digests a document is hashed with while it arrives; a signer asking for another one (GOST R 34.11-94)
# gets it computed from the spooled file.
STREAMED = ("streebog256", "streebog512")
PROTOCOL_TITLE = "Проверка электронной подписи"

# Report headings one level down: the page's own <h1> is the page's title.
_HEADINGS = re.compile(r"<(/?)h([12])\b")
# The report's overall verdict (its ``data-verdict`` block): the page says it once, above the report.
_OVERALL_VERDICT = re.compile(r'<div class="headline [^"]*" data-verdict="\w+">.*?</p></div>', re.DOTALL)


class CheckRefused(Exception):
    """Input that cannot be checked, with the Russian words for the page and the answer's status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class Checked(msgspec.Struct, kw_only=True):
    """One check: what was uploaded (names, size, digest) and the verdict."""

    document_name: str  # the document's file name, or the signature's for an attached one
    signature_name: str
    attached: bool
    size: int | None
    streebog256: str
    result: VerificationResult


def _ip(request: Request[Any, Any, Any], settings: Settings) -> str:
    peer = request.client.host if request.client else "?"
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.limits.trusted_proxies)


def _too_many(wait: float, back: str = "") -> Template:
    return problem_page(
        429,
        "Слишком много запросов",
        "Слишком много проверок с вашего адреса. Подождите минуту и попробуйте снова.",
        retry_after=wait,
        back=back,
        back_text="Проверить файл и подпись" if back else "",
        footer=PUBLIC_CHECK_FOOTER,
    )


def _limiter(services: Services) -> PublicLimiter:
    limiter = services.public_limiter
    assert limiter is not None, "the public limiter starts with the server"
    return limiter


def _size_text(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} МБ"
    return f"{size / 1024:.1f} КБ" if size >= 1024 else f"{size} байт"


def _report_html(result: VerificationResult, document: str, services: Services) -> Markup:
    """``klikdok verify --format html``'s report, its body only (the page brings the styles: the CSP allows no
    inline ones), its headings under the page's own and without its overall verdict, which the page shows above
    it (it used to say it twice)."""
    page = render_html(result, document=document, time_text=services.reports.time_text)
    body = page.split("<body>", 1)[-1].rsplit("</body>", 1)[0]
    body = _HEADINGS.sub(lambda m: f"<{m.group(1)}h{int(m.group(2)) + 1}", body)
    body = _OVERALL_VERDICT.sub("", body, count=1)
    # cades renders it from its own autoescaped template: trusted markup.
    return Markup(body)


class _NoAddressesFromUploads(Fetcher):
    """The server's fetcher without AIA caIssuers: an uploaded certificate chooses those addresses.

    Validation asks for revocation (CRL, OCSP) only along a path that reached a trust anchor, so those addresses
    come from certificates a trusted CA signed; a missing issuer's certificate, though, is fetched from the
    address the unverified certificate itself names. On the public page anyone could so make the server call any
    address (its own network included) and fill its revocation cache. Here such a chain stays incomplete
    (``indeterminate``, «не найден сертификат издателя»); the trust store's accredited CAs carry the issuers."""

    def __init__(self, inner: Fetcher) -> None:
        self.inner = inner

    def get(self, url: str, *, kind: Kind) -> bytes | None:
        return None if kind == "certificate" else self.inner.get(url, kind=kind)

    def get_with_origin(self, url: str, *, kind: Kind) -> tuple[bytes | None, Origin]:
        if kind == "certificate":
            return None, "network"
        return self.inner.get_with_origin(url, kind=kind)

    def post_ocsp(self, url: str, request: bytes) -> bytes | None:
        return self.inner.post_ocsp(url, request)

    def post_ocsp_with_origin(self, url: str, request: bytes) -> tuple[bytes | None, Origin]:
        return self.inner.post_ocsp_with_origin(url, request)


def public_context(context: ValidationContext) -> ValidationContext:
    """The server's validation context as the public check uses it (see :class:`_NoAddressesFromUploads`)."""
    if context.fetcher is None:
        return context
    return dataclasses.replace(context, fetcher=_NoAddressesFromUploads(context.fetcher))


def _digests_of(path: Path, names: set[str]) -> dict[str, bytes]:
    hashers = {name: hashing.new(name) for name in names}
    with open(path, "rb") as fh:
        while chunk := fh.read(MB):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.digest() for name, h in hashers.items()}


def _check(context: ValidationContext, cms: bytes, document: ReceivedFile | None, max_size: int) -> Checked:
    """The verification, off the event loop: the detached document by its digests taken while it arrived."""
    try:
        parsed = parse_signed_data(cms, max_size=max_size)
    except MalformedInput:
        raise CheckRefused(
            422,
            "Выбранный файл подписи не является электронной подписью (CMS/PKCS#7). Выберите файл .sig или .p7s "
            "(DER, PEM или base64), который пришёл вместе с документом.",
        ) from None
    if not parsed.signers:
        raise CheckRefused(422, "В файле подписи нет ни одной подписи.")
    if document is None:
        if parsed.content is None:
            raise CheckRefused(
                400,
                "Это отсоединённая подпись: документа внутри неё нет. Выберите также сам подписанный документ "
                "(поле «Документ»).",
            )
        result = verify_cms(cms, context=context, max_size=max_size)
        digest = hashing.new("streebog256")
        digest.update(parsed.content)
        return Checked(
            document_name="",
            signature_name="",
            attached=True,
            size=len(parsed.content),
            streebog256=digest.hexdigest(),
            result=result,
        )
    digests = {"streebog256": bytes.fromhex(document.streebog256), "streebog512": bytes.fromhex(document.streebog512)}
    wanted = {s.digest_name for s in parsed.signers if s.digest_name is not None} - set(STREAMED)
    usable = set()
    for name in wanted:
        try:
            hashing.new(name)
        except hashing.UnsupportedDigest:
            continue  # the verdict says the digest is unsupported
        usable.add(name)
    if usable:
        digests.update(_digests_of(document.path, usable))
    result = verify_cms(cms, content_digest=digests, context=context, max_size=max_size)
    return Checked(
        document_name=document.filename,
        signature_name="",
        attached=False,
        size=document.size,
        streebog256=document.streebog256,
        result=msgspec.structs.replace(result, content_size=document.size),
    )


def _mismatch(result: VerificationResult) -> bool:
    return any("digest_mismatch" in s.reasons for s in result.signatures)


def _pdf(data: bytes, name: str) -> Response[bytes]:
    headers = security_headers()
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers["Content-Disposition"] = f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(content=data, media_type="application/pdf", headers=headers)


class PublicVerify(Controller):
    path = "/"
    include_in_schema = False

    def _page(
        self, services: Services, *, status: int = 200, error: str = "", checked: Checked | None = None
    ) -> Template:
        headers = security_headers()
        if status == 413:
            headers["Connection"] = "close"  # the rest of a refused upload is not read
        context: dict[str, Any] = {
            "error": error,
            "max_mb": services.settings.limits.public_verify_max_mb,
            "checked": None,
        }
        if checked is not None:
            shown = checked.document_name or checked.signature_name
            head = document_headline(checked.result)
            context["checked"] = {
                "document_name": checked.document_name,
                "signature_name": checked.signature_name,
                "attached": checked.attached,
                "size": _size_text(checked.size) if checked.size is not None else "",
                "streebog256": checked.streebog256,
                "headline": head,
                "mismatch": _mismatch(checked.result),
                "report": _report_html(checked.result, shown, services),
            }
        return Template(template_name="public/verify.html", status_code=status, headers=headers, context=context)

    @get("/verify")
    async def form(self, request: Request[Any, Any, Any], services: Services) -> Template:
        wait = _limiter(services).admit(_ip(request, services.settings), "verify-page", read=True)
        if wait is not None:
            return _too_many(wait)
        return self._page(services)

    @post("/verify", request_max_body_size=None, status_code=200)
    async def check(self, request: Request[Any, Any, Any], services: Services, format: str = "") -> Response[Any]:
        """Stream, hash, verify, forget: see the module's docstring. ``?format=pdf`` (the second button's
        ``formaction``) answers with the protocol as PDF instead of the page."""
        settings = services.settings
        ip = _ip(request, settings)
        # Per address only: the "link" window of the limiter is this address's own key, so one busy address
        # does not use up everybody's checks.
        wait = _limiter(services).admit(ip, "verify:" + ip)
        if wait is not None:
            return _too_many(wait, back="/verify")
        limit = settings.limits.public_verify_max_mb * MB
        limits = Limits(
            file_bytes=limit,
            total_bytes=limit + FORM_SLACK,
            file_too_large=lambda name: (
                f"Файл «{name}» больше {settings.limits.public_verify_max_mb} МБ: такие "
                "файлы здесь не проверяются. Проверьте его программой klikdok verify на своём компьютере."
            ),
            total_too_large=f"Документ и подпись вместе больше {settings.limits.public_verify_max_mb} МБ: такие "
            "файлы здесь не проверяются. Проверьте их программой klikdok verify на своём компьютере.",
        )
        try:
            async with receive_form(request, settings.storage.path, limits) as form:
                checked = await self._received(services, form.files, limit)
        except UploadRefused as exc:
            message = "Не удалось прочитать отправленную форму." if exc.code == "bad_form" else exc.message
            return self._page(services, status=status_of(exc), error=message)
        except CheckRefused as exc:
            return self._page(services, status=exc.status, error=exc.message)
        if format == "pdf":
            return await self._protocol(services, checked)
        return self._page(services, checked=checked)

    async def _received(self, services: Services, files: list[ReceivedFile], limit: int) -> Checked:
        by_field = {f.field: f for f in files if f.filename}
        signature = by_field.get("signature")
        document = by_field.get("document")
        if signature is None:
            raise CheckRefused(400, "Выберите файл подписи (.sig или .p7s).")
        if signature.size == 0:
            raise CheckRefused(400, f"Файл подписи «{signature.filename}» пустой.")
        if document is not None and document.size == 0:
            raise CheckRefused(400, f"Файл документа «{document.filename}» пустой.")
        cms = await asyncio.to_thread(signature.read_bytes)
        context = public_context(services.signatures.validation.current())
        checked = await asyncio.to_thread(_check, context, cms, document, limit)
        checked.signature_name = signature.filename
        if checked.attached:
            checked.document_name = ""
        return checked

    async def _protocol(self, services: Services, checked: Checked) -> Response[Any]:
        from server.paper.protocol_pdf import render_protocol_pdf  # fpdf2 loads on the first PDF, not at start

        name = checked.document_name or checked.signature_name
        protocol = Protocol(
            title=PROTOCOL_TITLE,
            files=[
                ProtocolFile(name=name, streebog256=checked.streebog256, size=checked.size, results=[checked.result])
            ],
            generated=dt.datetime.now(dt.UTC),
        )
        try:
            data = await asyncio.to_thread(render_protocol_pdf, protocol, time_text=services.reports.time_text)
        except PaperError as exc:
            return self._page(services, status=500, error=str(exc), checked=checked)
        stem = Path(name).stem or "подпись"
        return _pdf(data, f"Протокол проверки — {stem}.pdf")

    @get("/v/{public_id:str}")
    async def verdict(self, request: Request[Any, Any, Any], services: Services, public_id: str) -> Template:
        """One lookup on the unique index for any id, well-formed or not (the store treats a malformed one as
        missing); a forged id and a missing one get the same page through the same code."""
        limiter = _limiter(services)
        ip = _ip(request, services.settings)
        wait = limiter.admit(ip, "v:" + public_id[:64], read=True)
        if wait is not None:
            return _too_many(wait)
        document_id = await services.public_verdicts.document_for(public_id)
        view = None
        if document_id is not None:
            view = await public_view.load(services.db, document_id, services.reports.time_text)
        if view is None:
            limiter.bad_link(ip)
            return problem_page(
                404,
                "Проверка не найдена",
                "По этому адресу нет сведений о проверке документа. Проверьте, что адрес или QR-код считан "
                "полностью, или проверьте файл и его подпись на странице «Проверка электронной подписи».",
                back="/verify",
                back_text="Проверить файл и подпись",
                footer=PUBLIC_CHECK_FOOTER,
            )
        return Template(
            template_name="public/verdict.html",
            headers=security_headers(),
            context={"v": view},
        )
