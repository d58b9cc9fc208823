"""The counterparty's public pages: ``/c/<token>`` and what hangs off it.

No account, no cookies: plain HTML forms that work on a phone and in any browser, and headers that keep the token
where it belongs (``Referrer-Policy: no-referrer``, ``Cache-Control: no-store``, no framing, nothing loaded from
anywhere but this server). Scripts only help: one small script of this server's disables a form's button while it
is sent, and the CryptoARM hand-off page follows the run live; every page says what to do without them. Every
request passes the rate limiter first, as a read or as an action; a token that matches no link counts hard against
the caller's address (see :mod:`server.counterparty.limiter`).

Every rendering of a page gives its forms a fresh idempotency key in their action (``?key=…``, a form cannot set
the ``Idempotency-Key`` header): a form sent twice signs or rejects once, and the second answer is the first's
(:mod:`.idempotency`).
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from litestar import Controller, Request, Response, get, post
from litestar.di import Provide
from litestar.params import SkipValidation
from litestar.response import Redirect, Template

from server.config import Settings
from server.counterparty import cryptoarm_handler
from server.counterparty.exchange import REFUSAL_TEXT, ActionRefused, CounterpartyExchange, LinkContext, LinkProblem
from server.counterparty.limiter import PublicLimiter, client_ip
from server.workflow import previews
from server.workflow.states import TransitionRefused

from .api import poa as api_poa
from .dependencies import Services
from .errors import problem_page, security_headers, status_of
from .uploads import Limits, UploadRefused, receive_form

log = logging.getLogger(__name__)

CSS_PATH = Path(__file__).resolve().parent.parent / "templates" / "public" / "public.css"
JS_PATH = CSS_PATH.with_name("public.js")
# The most a signing form may carry in all (one signature per document file, each within [limits]).
MAX_BODY = 16 * 1024 * 1024


def _ip(request: Request, settings: Settings) -> str:
    peer = request.client.host if request.client else "?"
    return client_ip(peer, request.headers.get("x-forwarded-for"), settings.limits.trusted_proxies)


def _back(request: Request, token: str) -> str:
    """The document page, for a problem page shown at one of its sub-addresses (a file, the package)."""
    base = f"/c/{quote(token, safe='')}"
    return base if request.url.path.rstrip("/") != base else ""


async def open_link(
    request: Request, token: str, exchange: CounterpartyExchange, public_limiter: PublicLimiter, settings: Settings
) -> LinkContext | Template:
    """The ``link`` dependency: rate-limit, then resolve the token; a Template is the answer to give instead.

    A route that only reads the link says so with ``opt={"public_read": True}``: reads and actions are counted
    apart (:mod:`server.counterparty.limiter`), and an unknown token counts hard whatever the route."""
    limiter = public_limiter
    ip = _ip(request, settings)
    handler = request.scope.get("route_handler")
    read = bool(handler is not None and handler.opt.get("public_read"))
    wait = limiter.admit(ip, "t:" + token[:64], read=read)
    if wait is not None:
        return problem_page(
            429,
            "Слишком много запросов",
            "Слишком много запросов. Подождите немного и обновите страницу.",
            retry_after=wait,
            back=_back(request, token),
        )
    try:
        return await exchange.resolve(token)
    except LinkProblem as problem:
        if problem.code == "unknown_link":
            limiter.bad_link(ip)
            log.info("unknown counterparty link requested", extra={"ip": ip})
        return problem_page(status_of(problem), problem.title, problem.message, back=_back(request, token))


LINK = {"link": Provide(open_link)}
# The opt of the routes that only read a link (see open_link).
READ = {"public_read": True}
# The ``link`` parameter: the link's context, or the page to answer with instead (handed over as is).
OpenedLink = SkipValidation[LinkContext | Template]


async def _download(
    link: LinkContext | Template,
    refused_title: str,
    fetch: Callable[[LinkContext], Awaitable[tuple[str, bytes]]],
    content_type: str,
) -> Response[bytes] | Template:
    """A download from the link's document: the link's own answer when it cannot be used, a Russian page with the
    way back when the exchange refuses, else the file as an attachment."""
    if isinstance(link, Template):
        return link
    try:
        name, data = await fetch(link)
    except ActionRefused as exc:
        return problem_page(status_of(exc), refused_title, exc.message, back=f"/c/{link.token}")
    return _attachment(name, content_type, data)


def _attachment(name: str, content_type: str, data: bytes, *, inline: bool = False) -> Response[bytes]:
    disposition = "inline" if inline else "attachment"
    ascii_name = name.encode("ascii", "replace").decode().replace('"', "_").replace("?", "_")
    headers = security_headers(frame_self=inline)
    headers["Content-Disposition"] = f"{disposition}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name)}"
    return Response(content=data, media_type=content_type or "application/octet-stream", headers=headers)


async def keep_poa(
    services: Services, ctx: LinkContext, poa: dict[str, bytes], file_name: str
) -> TransitionRefused | None:
    """Keep the counterparty's МЧД with the document (issue 18); the refusal to show when it is not an МЧД pair."""
    if not poa.get("poa_xml") or not poa.get("poa_sig"):
        return TransitionRefused("bad_poa", "Приложите оба файла МЧД: сам XML и файл его подписи (.sig).")
    try:
        await api_poa.poa_files(services).keep_for_document(
            document_id=ctx.doc.id,
            xml=poa["poa_xml"],
            sig=poa["poa_sig"],
            file_name=file_name,
            actor=f"counterparty:{ctx.link.recipient_email} (ссылка {ctx.link.id})",
        )
    except TransitionRefused as exc:
        return exc
    return None


def back_to_document(token: str) -> Redirect:
    """An action's address opened as a page (a reload after a failed upload, a bookmark, the back button):
    back to the document page, which says where things stand. Nothing is resolved or counted here."""
    return Redirect(f"/c/{quote(token, safe='')}", status_code=303, headers=security_headers())


class PublicPages(Controller):
    path = "/c"
    include_in_schema = False
    dependencies = LINK

    @get("/public.css", sync_to_thread=False)
    def css(self) -> Response[bytes]:
        return Response(
            content=CSS_PATH.read_bytes(),
            media_type="text/css",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    @get("/public.js", sync_to_thread=False)
    def script(self) -> Response[bytes]:
        return Response(
            content=JS_PATH.read_bytes(),
            media_type="text/javascript",
            headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
        )

    async def _page(
        self,
        services: Services,
        exchange: CounterpartyExchange,
        ctx: LinkContext,
        *,
        error: str = "",
        status: int = 200,
        message: str = "",
        visitor: str = "",
        poa_asked: bool = False,
    ) -> Template:
        """The document page; ``visitor`` (who is looking) is given only by a page view, which it may count."""
        model = await exchange.open_page(ctx, visitor=visitor)
        base = f"/c/{ctx.token}"
        headers = security_headers()
        if status == 413:
            headers["Connection"] = "close"  # the rest of a refused upload is not read
        return Template(
            template_name="public/document.html",
            status_code=status,
            headers=headers,
            context={
                "m": model,
                "base": base,
                "error": error,
                "message": message,
                "cryptoarm": services.cryptoarm_counterparty is not None,
                "max_kb": services.settings.limits.max_signature_kb,
                # Issue 18: the signature was refused for want of an МЧД: the form asks for it.
                "poa_asked": poa_asked,
                # One idempotency key per rendering, in every form's action: see the module's docstring.
                "form_key": secrets.token_urlsafe(18),
            },
        )

    @get("/{token:str}", opt=READ)
    async def page(
        self, request: Request, services: Services, exchange: CounterpartyExchange, link: OpenedLink, done: str = ""
    ) -> Template:
        if isinstance(link, Template):
            return link
        ctx = link
        message = {
            "signed": "Спасибо! Ваша подпись принята, документ подписан обеими сторонами. Подтверждение с "
            "подписанным комплектом придёт на вашу почту.",
            "partly": "Подпись принята. Осталось подписать остальные файлы документа.",
            "rejected": "Отказ отправлен. Отправитель увидит указанную вами причину.",
            "poa": "МЧД приложена к документу: она будет проверена вместе с вашей подписью.",
        }.get(done, "")
        visitor = f"{_ip(request, services.settings)} {request.headers.get('user-agent', '')[:300]}"
        return await self._page(services, exchange, ctx, message=message, visitor=visitor)

    @get("/{token:str}/files/{file_id:int}", opt=READ)
    async def file(
        self, exchange: CounterpartyExchange, link: OpenedLink, file_id: int, inline: bool = False
    ) -> Response[bytes] | Template:
        if isinstance(link, Template):
            return link
        ctx = link
        try:
            name, _, data = await exchange.file(ctx, file_id)
        except ActionRefused as exc:
            return problem_page(status_of(exc), "Файл недоступен", exc.message, back=f"/c/{ctx.token}")
        # The one definition of what may be shown inline (server.workflow.previews): the bytes decide, not the
        # name or the uploader's claim; this page previews PDFs only.
        served = previews.served(data)
        return _attachment(name, served.content_type, data, inline=inline and served.content_type == "application/pdf")

    @get("/{token:str}/files/{file_id:int}/stamped.pdf", opt=READ)
    async def stamped(
        self, exchange: CounterpartyExchange, link: OpenedLink, file_id: int
    ) -> Response[bytes] | Template:
        """The file's copy with the marks of its electronic signatures (a read, like the file itself)."""
        return await _download(link, "Копия недоступна", lambda ctx: exchange.stamped(ctx, file_id), "application/pdf")

    @get("/{token:str}/protocol.pdf", opt=READ)
    async def protocol(self, exchange: CounterpartyExchange, link: OpenedLink) -> Response[bytes] | Template:
        """The verification protocol of the document's signatures (a read)."""
        return await _download(link, "Протокол недоступен", exchange.protocol, "application/pdf")

    @get("/{token:str}/signatures/{signature_id:int}", opt=READ)
    async def signature(
        self, exchange: CounterpartyExchange, link: OpenedLink, signature_id: int
    ) -> Response[bytes] | Template:
        return await _download(
            link,
            "Подпись недоступна",
            lambda ctx: exchange.company_signature(ctx, signature_id),
            "application/pkcs7-signature",
        )

    @get("/{token:str}/package", opt=READ)
    async def package(self, exchange: CounterpartyExchange, link: OpenedLink) -> Response[bytes] | Template:
        if isinstance(link, Template):
            return link
        ctx = link
        if ctx.mode != "signed":
            return problem_page(
                409,
                "Комплект недоступен",
                "Подписанный комплект появится, когда документ подпишут обе стороны.",
                back=f"/c/{ctx.token}",
            )
        try:
            name, data = await exchange.package(ctx.doc.id)
        except ActionRefused as exc:
            return problem_page(status_of(exc), "Комплект недоступен", exc.message, back=f"/c/{ctx.token}")
        return _attachment(name, "application/zip", data)

    @get(["/{token:str}/sign", "/{token:str}/reject", "/{token:str}/poa"], sync_to_thread=False)
    def back_to_page(self, token: str) -> Redirect:
        return back_to_document(token)

    @post("/{token:str}/sign", request_max_body_size=None, status_code=303)
    async def sign(
        self, request: Request, services: Services, exchange: CounterpartyExchange, link: OpenedLink, token: str
    ) -> Response[Any] | Template:
        """The signature files are streamed to temporary files and refused (413) as soon as one passes
        ``max_signature_kb`` or the form passes :data:`MAX_BODY`; nothing is read whole into memory first."""
        if isinstance(link, Template):
            return link
        ctx = link
        settings = services.settings
        limit = settings.limits.max_signature_kb * 1024
        limits = Limits(
            file_bytes=limit,
            total_bytes=MAX_BODY,
            file_too_large=lambda _name: REFUSAL_TEXT["too_large"],
            total_too_large="Отправлено слишком много данных: загрузите только файлы подписи.",
        )
        signatures: dict[int, bytes] = {}
        poa: dict[str, bytes] = {}  # issue 18: the МЧД pair (poa_xml, poa_sig) when the form carries one
        poa_name = ""
        try:
            async with receive_form(request, settings.storage.path, limits) as form:
                for received in form.files:
                    if received.field in ("poa_xml", "poa_sig") and received.size:
                        poa[received.field] = await asyncio.to_thread(received.read_bytes)
                        poa_name = received.filename if received.field == "poa_xml" else poa_name
                        continue
                    if not received.field.startswith("sig_") or received.size == 0:
                        continue
                    try:
                        file_id = int(received.field[4:])
                    except ValueError:
                        continue
                    signatures[file_id] = await asyncio.to_thread(received.read_bytes)
        except UploadRefused as exc:
            message = "Не удалось прочитать отправленную форму." if exc.code == "bad_form" else exc.message
            return await self._page(services, exchange, ctx, error=message, status=status_of(exc))
        if poa and ctx.mode == "open":
            problem = await keep_poa(services, ctx, poa, poa_name)
            if problem is not None:
                return await self._page(services, exchange, ctx, error=problem.message, status=status_of(problem))
        try:
            outcome = await exchange.submit(ctx, signatures, max_bytes=limit)
        except ActionRefused as exc:
            return await self._page(
                services,
                exchange,
                ctx,
                error=exc.message,
                status=status_of(exc),
                poa_asked=exc.code in ("poa_missing", "poa_invalid"),
            )
        return Redirect(
            f"/c/{token}?done={'signed' if outcome.completed else 'partly'}",
            status_code=303,
            headers=security_headers(),
        )

    @post("/{token:str}/poa", request_max_body_size=None, status_code=303)
    async def poa(
        self, request: Request, services: Services, exchange: CounterpartyExchange, link: OpenedLink, token: str
    ) -> Response[Any] | Template:
        """The МЧД alone (issue 18), for a signature that comes another way (CryptoARM GOST): kept with the
        document and checked with the signature when it arrives. Streamed and bounded like the signing form."""
        if isinstance(link, Template):
            return link
        ctx = link
        if ctx.mode != "open":
            return back_to_document(token)
        limit = services.settings.limits.max_signature_kb * 1024
        limits = Limits(
            file_bytes=limit,
            total_bytes=2 * limit + 64 * 1024,
            file_too_large=lambda _name: "Файл МЧД или её подписи слишком большой.",
            total_too_large="Отправлено слишком много данных: загрузите только МЧД и файл её подписи.",
        )
        poa: dict[str, bytes] = {}
        name = ""
        try:
            async with receive_form(request, services.settings.storage.path, limits) as form:
                for received in form.files:
                    if received.field in ("poa_xml", "poa_sig") and received.size:
                        poa[received.field] = await asyncio.to_thread(received.read_bytes)
                        name = received.filename if received.field == "poa_xml" else name
        except UploadRefused as exc:
            message = "Не удалось прочитать отправленную форму." if exc.code == "bad_form" else exc.message
            return await self._page(services, exchange, ctx, error=message, status=status_of(exc))
        problem = await keep_poa(services, ctx, poa, name)
        if problem is not None:
            return await self._page(services, exchange, ctx, error=problem.message, status=status_of(problem))
        return Redirect(f"/c/{token}?done=poa", status_code=303, headers=security_headers())

    @post("/{token:str}/reject", request_max_body_size=64 * 1024, status_code=303)
    async def reject(
        self, request: Request, services: Services, exchange: CounterpartyExchange, link: OpenedLink, token: str
    ) -> Response[Any] | Template:
        if isinstance(link, Template):
            return link
        ctx = link
        form = await request.form()
        reason = form.get("reason")
        try:
            await exchange.reject(ctx, reason if isinstance(reason, str) else "")
        except ActionRefused as exc:
            return await self._page(services, exchange, ctx, error=exc.message, status=status_of(exc))
        return Redirect(f"/c/{token}?done=rejected", status_code=303, headers=security_headers())


class CryptoArmPages(Controller):
    """The «Подписать в КриптоАРМ ГОСТ» answer: a one-time transaction, then the ``cryptoarm://`` link."""

    path = "/c"
    include_in_schema = False
    dependencies = LINK

    @get("/{token:str}/cryptoarm", sync_to_thread=False)
    def back_to_page(self, token: str) -> Redirect:
        return back_to_document(token)

    @post("/{token:str}/cryptoarm", request_max_body_size=4096, status_code=200)
    async def start(self, services: Services, link: OpenedLink, token: str) -> Template:
        if isinstance(link, Template):
            return link
        ctx = link
        opener = services.cryptoarm_counterparty
        if opener is None or ctx.mode != "open":
            return problem_page(
                409,
                "Подписание в КриптоАРМ недоступно",
                "Сейчас этот способ недоступен. Загрузите файл подписи на странице документа.",
            )
        app_link = await opener(services, ctx)
        return Template(
            template_name="public/cryptoarm.html",
            headers=security_headers(scripts=True),
            context={"link": app_link, "base": f"/c/{token}", "title": ctx.doc.title},
        )

    @get("/{token:str}/cryptoarm/progress", opt=READ)
    async def progress(self, services: Services, link: OpenedLink) -> Response[dict[str, Any]] | Template:
        """Where the link's latest CryptoARM run is: the hand-off page asks every few seconds (a read)."""
        if isinstance(link, Template):
            return link
        found = await cryptoarm_handler.progress(services, link)
        body = {
            "phase": found.phase,
            "title": found.title,
            "message": found.message,
            "final": found.final,
            "page": f"/c/{link.token}" + (f"?done={found.done}" if found.done else ""),
        }
        return Response(body, headers=security_headers())
