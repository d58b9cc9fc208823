"""What the counterparty can do with a personal link: look, download, sign (upload or CryptoARM), reject.

The link is resolved once per request into a :class:`LinkContext`; every action re-checks what matters inside
the workflow's own transaction (``accept_signature`` and ``states.reject`` re-read the route), so a page that
was open while the document was withdrawn cannot sign it afterwards. Signatures go through the workflow's one
door, :func:`server.workflow.signatures.accept_signature`, with a counterparty claim; refusals come back as
the people-facing messages of :data:`REFUSAL_TEXT`. What completing the document owes the counterparty (the
link's answer, the history row, the confirmation e-mail) is not written here but by the ``counterparty_signed``
listener (:mod:`.completion`), inside the signature's own transaction.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from hashlib import sha256
from typing import Any

import msgspec

from cades.asn1 import MalformedInput, decode_armour
from cades.result import REASONS, VerificationResult
from cades.verdicts import document_headline, revocation_line, signature_headline, signing_time_text
from server import crashpoints
from server.db import Database
from server.ratelimit import SlidingWindow
from server.text import DEFAULT_TIMEZONE, local_time
from server.workflow import poa_policy, poa_store, previews, signature_store, states, store
from server.workflow.directory import PortalMissing
from server.workflow.docstate import DocState
from server.workflow.downloads import Downloads
from server.workflow.model import DocumentRow
from server.workflow.packaging import Packaging
from server.workflow.paper_copies import PaperCopies
from server.workflow.signatures import (
    AcceptedSignature,
    SignatureDeps,
    SignatureRefused,
    SignerClaim,
    accept_signature,
)
from server.workflow.states import TransitionRefused

from . import links
from .link_store import LinkRow
from .version_notice import NewerVersion, newer_version

log = logging.getLogger(__name__)

# One person's visit: their page views of a link within half an hour count once (issue 15: the manager's "opened
# 12 times" was one person reloading). In memory: a restart at worst counts one visit more.
VISIT_SECONDS = 30 * 60.0


class LinkProblem(Exception):
    """The link cannot be used (any more): a stable code, a title and a Russian explanation for the page."""

    def __init__(self, code: str, title: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.title = title
        self.message = message


class ActionRefused(Exception):
    """An answer the page shows next to the form (the link itself is fine)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


UNKNOWN = LinkProblem(
    "unknown_link", "Ссылка не найдена", "Такой ссылки нет. Проверьте, что адрес скопирован из письма полностью."
)


@dataclass
class LinkContext:
    link: LinkRow
    doc: DocumentRow
    # "open": may sign or reject; "signed" / "rejected": the counterparty's answer is in; read-only otherwise.
    mode: str
    deadline: str
    notice: str = ""
    token: str = ""  # as presented (the page builds its own URLs from it; never stored or logged)


def _now() -> str:
    return links.now_iso()


def classify(
    link: LinkRow | None, doc: DocumentRow | None, now: str | None = None, *, newer: NewerVersion | None = None
) -> LinkContext:
    """Why a link does or does not work right now (no side effects). ``newer``: the document has been replaced
    by a newer version (issue 17), whose own link is the one to use: this one only says so."""
    if link is None or doc is None or doc.state == DocState.DELETED:
        raise UNKNOWN
    if newer is not None:
        raise LinkProblem("newer_version", newer.title, newer.message)
    now = now or _now()
    deadline = links.link_deadline(link, doc)
    if link.revoked_at:
        if link.revoked_reason in ("resent", "replaced"):
            raise LinkProblem(
                "link_replaced",
                "Ссылка больше не действует",
                "Отправитель выслал вам новую ссылку на этот документ, эта больше не работает. "
                "Откройте документ по ссылке из последнего письма.",
            )
        if link.revoked_reason == "withdrawn" or doc.state == DocState.WITHDRAWN:
            raise LinkProblem(
                "withdrawn", "Документ отозван", "Отправитель отозвал документ, подписывать его не нужно."
            )
        raise LinkProblem(
            "link_revoked",
            "Ссылка больше не действует",
            "Отправитель закрыл доступ по этой ссылке. Если документ всё ещё нужно подписать, "
            "попросите отправителя выслать новую ссылку.",
        )
    state = doc.state
    if state == DocState.WITHDRAWN:
        raise LinkProblem("withdrawn", "Документ отозван", "Отправитель отозвал документ, подписывать его не нужно.")
    if link.expires_at <= now:
        raise LinkProblem(
            "link_expired",
            "Срок действия ссылки истёк",
            "Срок, в течение которого документ можно было подписать по этой ссылке, закончился. "
            "Если документ всё ещё нужно подписать, попросите отправителя выслать новую ссылку.",
        )
    if state == DocState.COMPLETED:
        return LinkContext(link, doc, "signed", deadline, "Документ подписан обеими сторонами.")
    if state == DocState.REJECTED_COUNTERPARTY:
        return LinkContext(link, doc, "rejected", deadline, f"Вы отклонили документ. Причина: {doc.reason}")
    if state == DocState.EXPIRED or (state == DocState.AWAITING_COUNTERPARTY and doc.deadline and doc.deadline <= now):
        raise LinkProblem(
            "document_expired",
            "Срок подписания истёк",
            "Срок подписания документа истёк. Если документ всё ещё нужно подписать, попросите "
            "отправителя выслать его снова.",
        )
    if state != DocState.AWAITING_COUNTERPARTY:
        raise LinkProblem("not_available", "Документ недоступен", "Документ сейчас не ждёт вашей подписи.")
    return LinkContext(link, doc, "open", deadline)


# Messages for the people on the page, by accept_signature's refusal code (and cades reason codes).
REFUSAL_TEXT: dict[str, str] = {
    "wrong_document": "Подпись сделана для другого файла: подписанные данные не совпадают с документом, который вам "
    "отправили. Скачайте документ с этой страницы и подпишите именно его.",
    "malformed": "Файл не похож на подпись: нужна отсоединённая (detached) подпись CAdES/CMS в формате .sig или .p7s "
    "(DER, PEM или base64).",
    "too_large": "Файл подписи слишком большой.",
    "signer_count": "В файле должна быть ровно одна подпись — ваша.",
    "already_signed": "Этот файл уже подписан вами.",
    "not_awaiting_signature": "Документ сейчас не ждёт вашей подписи.",
    "not_current_signer": "Документ сейчас не ждёт вашей подписи.",
}
REASON_TEXT: dict[str, str] = {
    "expired": "Срок действия сертификата, которым сделана подпись, истёк. Подпишите документ действующим "
    "сертификатом.",
    "not_yet_valid": "Сертификат, которым сделана подпись, ещё не начал действовать.",
    "revoked": "Сертификат, которым сделана подпись, отозван удостоверяющим центром. Подпишите документ действующим "
    "сертификатом.",
    "untrusted_root": "Сертификат выдан удостоверяющим центром, которому сервер не доверяет (не аккредитованный УЦ).",
    "chain_incomplete": "Не удалось построить цепочку сертификатов до удостоверяющего центра.",
    "bad_signature": "Подпись повреждена: её значение не сходится с подписанными данными.",
    "key_usage": "Сертификат не предназначен для электронной подписи.",
    "revocation_unknown": "Не удалось проверить, не отозван ли сертификат, которым сделана подпись: сведения "
    "удостоверяющего центра об отзыве сейчас недоступны. Подпись не принята — попробуйте отправить её позже.",
    "revoked_no_poe": "Сертификат, которым сделана подпись, отозван удостоверяющим центром. Подпишите документ "
    "действующим сертификатом.",
}


def refusal_message(refusal: SignatureRefused) -> str:
    if refusal.code == "wrong_signer":
        return f"Подпись сделана сертификатом другой организации. {refusal.message}"
    if refusal.code in REFUSAL_TEXT:
        return REFUSAL_TEXT[refusal.code]
    reasons = refusal.details.get("reasons") or []
    texts = [REASON_TEXT[r] for r in reasons if r in REASON_TEXT]
    if texts:
        return " ".join(dict.fromkeys(texts))
    return refusal.message


# -- the page's content -------------------------------------------------------------------------------------


class SignatureSummary(msgspec.Struct, kw_only=True):
    """A company signature as the counterparty reads it."""

    id: int
    file_name: str
    signer_name: str
    title: str
    organization: str
    inn: str
    ogrn: str
    status: str
    tone: str  # the badge colour: valid green, invalid red, indeterminate amber (cades.verdicts)
    status_text: str
    headline: str
    explanation: str
    signed_at: str
    signing_time_note: str = ""
    revocation: str = ""
    certificate_serial: str
    certificate_issuer: str
    certificate_valid: str
    problems: list[str] = []
    warning: str = ""
    poa: dict[str, Any] | None = None  # issue 18: the МЧД verdict stored with it (poa_policy.shown)


class FileView(msgspec.Struct, kw_only=True):
    id: int
    name: str
    size: int
    content_type: str
    streebog256: str
    pdf: bool
    signed_by_counterparty: bool
    stamped: bool = False  # the file has a signature: its copy with the marks is offered (issue 16)


class PageModel(msgspec.Struct, kw_only=True):
    title: str
    sender_company: str
    author_name: str
    counterparty_name: str
    recipient_email: str
    deadline: str
    mode: str
    notice: str
    files: list[FileView]
    company_signatures: list[SignatureSummary]
    counterparty_signatures: list[SignatureSummary] = []
    author_message: str = ""  # what the author wrote to the counterparty in the create form (plain text)
    protocol: bool = False  # the document has a signature: its verification protocol (PDF) is offered
    # Issue 18: the МЧД the counterparty kept with this document (number, principal, validity), if any.
    poa_kept: dict[str, str] | None = None


def summarise(
    sig_id: int, file_name: str, verification_json: str, warning: str, timezone: str = DEFAULT_TIMEZONE
) -> SignatureSummary:
    """A stored signature for the page; its moments in the portal's ``timezone``."""

    def time_text(value: Any) -> str:
        return local_time(value, timezone, seconds=True) or "—"

    result = msgspec.json.decode(verification_json, type=VerificationResult)
    s = result.signatures[0] if result.signatures else None
    signer = s.signer if s else None
    cert = s.certificate if s else None
    name = ""
    if signer is not None:
        name = signer.common_name or " ".join(p for p in (signer.surname, signer.given_name) if p)
    valid = ""
    if cert is not None and cert.not_before and cert.not_after:
        valid = f"с {cert.not_before:%d.%m.%Y} по {cert.not_after:%d.%m.%Y}"
    status = s.status if s else result.status
    # Every stored signature was accepted by the workflow, possibly under `[trust] revocation = "warn"`.
    head = signature_headline(s, accepted=True) if s else document_headline(result, accepted=True)
    return SignatureSummary(
        id=sig_id,
        file_name=file_name,
        signer_name=name or "—",
        title=(signer.title if signer else None) or "",
        organization=(signer.organization if signer else None) or "",
        inn=(signer.innle or signer.inn or "") if signer else "",
        ogrn=((signer.ogrn or signer.ogrnip) if signer else "") or "",
        status=status,
        tone=head.tone,
        status_text=head.short,
        headline=head.title,
        explanation=head.text,
        signed_at=local_time(s.signing_time if s else None, timezone),
        signing_time_note=signing_time_text(s, time_text).split(" — ", 1)[-1] if s and s.signing_time else "",
        revocation=revocation_line(cert.revocation, cert.revocation_source, cert.revocation_time, time_text)
        if cert
        else "",
        certificate_serial=cert.serial if cert else "",
        certificate_issuer=cert.issuer if cert else "",
        certificate_valid=valid,
        problems=[REASONS.get(r, ("", r))[1] for r in (s.reasons if s else [])],
        warning=warning,
    )


def _page_model(d: Any, ctx: LinkContext, timezone: str) -> PageModel:
    doc = ctx.doc
    files = store.files(d, doc.id)
    rows = signature_store.verdicts(d, doc.id)
    poa_verdicts = poa_store.verdicts(d, doc.id)
    kept = poa_store.of_document(d, doc.id)
    names = {f.id: f.name for f in files}
    company: list[SignatureSummary] = []
    theirs: list[SignatureSummary] = []
    org = ""
    for row in rows:
        summary = summarise(row.id, names.get(row.file_id, ""), row.verification, row.identity_warning, timezone)
        summary.poa = poa_policy.shown(poa_verdicts.get(row.id))
        if row.signer_kind == "counterparty":
            theirs.append(summary)
        else:
            company.append(summary)
            org = org or (row.signer.get("organization") or "")
    signed_files = {r.file_id for r in rows if r.signer_kind == "counterparty"}
    return PageModel(
        title=doc.title,
        sender_company=org or "Отправитель",
        author_name=doc.author_name,
        counterparty_name=doc.counterparty_name,
        recipient_email=ctx.link.recipient_email,
        deadline=local_time(ctx.deadline, timezone),
        mode=ctx.mode,
        notice=ctx.notice,
        files=[
            FileView(
                id=f.id,
                name=f.name,
                size=f.size,
                content_type=f.content_type,
                streebog256=f.streebog256,
                pdf=previews.kind_of(f.content_type) == "pdf",
                signed_by_counterparty=f.id in signed_files,
                stamped=f.id in {r.file_id for r in rows},
            )
            for f in files
        ],
        company_signatures=company,
        counterparty_signatures=theirs,
        author_message=doc.message,
        protocol=bool(rows),
        poa_kept={
            "number": kept.number,
            "principal_name": kept.principal_name,
            "principal_inn": kept.principal_inn,
            "valid_from": poa_policy.day_text(kept.valid_from),
            "valid_until": poa_policy.day_text(kept.valid_until),
            "file_name": kept.file_name,
        }
        if kept is not None
        else None,
    )


# -- the service ----------------------------------------------------------------------------------------------


@dataclass
class UploadOutcome:
    accepted: list[AcceptedSignature] = field(default_factory=list)
    completed: bool = False


class CounterpartyExchange:
    """One per running server; the public pages and the CryptoARM handler call it."""

    def __init__(
        self,
        db: Database,
        *,
        downloads: Downloads,
        packaging: Packaging,
        signatures: SignatureDeps,
        timezone: str = DEFAULT_TIMEZONE,
        paper: PaperCopies | None = None,
    ) -> None:
        self.db = db
        self.paper = paper
        self.timezone = timezone
        self.visits = SlidingWindow(1, VISIT_SECONDS)
        self.downloads = downloads
        self.packaging = packaging
        self.signatures = signatures
        self.listeners = signatures.listeners

    async def resolve(self, token: str) -> LinkContext:
        def read(d: Any) -> tuple[LinkRow | None, DocumentRow | None, NewerVersion | None]:
            link = links.link_by_token(d, token)
            return link, (store.document_row(d, link.document_id) if link else None), newer_version(d, link)

        link, doc, newer = await self.db.read(read)
        ctx = classify(link, doc, newer=newer)
        ctx.token = token
        return ctx

    async def open_page(self, ctx: LinkContext, *, visitor: str = "") -> PageModel:
        """The page's content; a page view by ``visitor`` (the browser: its address and user agent) counts as a
        visit of the link once per :data:`VISIT_SECONDS` — not every reload, preview or re-shown form."""
        if visitor and self.visits.hit(f"{ctx.link.id}:{sha256(visitor.encode()).hexdigest()}") is None:
            await self.db.write(lambda d: links.mark_opened(d, ctx.link.id))
        return await self.db.read(lambda d: _page_model(d, ctx, self.timezone))

    async def file(self, ctx: LinkContext, file_id: int) -> tuple[str, str, bytes]:
        try:
            return await self.downloads.file_bytes(ctx.doc.id, file_id)
        except TransitionRefused as exc:
            if exc.code == "file_changed":
                raise ActionRefused(
                    "file_changed",
                    "Файл документа изменён после отправки и не совпадает с тем, "
                    "что подписала компания. Скачивание остановлено; сообщите об этом отправителю.",
                ) from None
            raise ActionRefused(exc.code, exc.message) from None
        except PortalMissing:
            raise ActionRefused(
                "portal_unavailable", "Файл временно недоступен. Попробуйте через несколько минут."
            ) from None

    async def stamped(self, ctx: LinkContext, file_id: int) -> tuple[str, bytes]:
        """A file's copy with the marks of its signatures so far (server.workflow.paper_copies)."""
        assert self.paper is not None, "the paper copies are wired with the exchange"
        try:
            return await self.paper.stamped(ctx.doc.id, file_id)
        except TransitionRefused as exc:
            raise ActionRefused(exc.code, exc.message) from None
        except PortalMissing:
            raise ActionRefused(
                "portal_unavailable", "Файл временно недоступен. Попробуйте через несколько минут."
            ) from None

    async def protocol(self, ctx: LinkContext) -> tuple[str, bytes]:
        """The document's verification protocol (PDF) of its signatures so far."""
        assert self.paper is not None, "the paper copies are wired with the exchange"
        try:
            return await self.paper.protocol(ctx.doc.id)
        except TransitionRefused as exc:
            raise ActionRefused(exc.code, exc.message) from None

    async def company_signature(self, ctx: LinkContext, signature_id: int) -> tuple[str, bytes]:
        found = await self.db.read(lambda d: store.signature_bytes(d, ctx.doc.id, signature_id))
        if found is None:
            raise ActionRefused("not_found", "Подпись не найдена.")
        cms, name, _ = found
        return f"{name}.{signature_id}.sig", bytes(cms)

    def _claim(self, ctx: LinkContext) -> SignerClaim:
        return SignerClaim("counterparty", label=f"{ctx.link.recipient_email} (ссылка {ctx.link.id})")

    async def submit(
        self, ctx: LinkContext, signatures: dict[int, bytes], *, source: str = "counterparty", max_bytes: int
    ) -> UploadOutcome:
        """Accept the counterparty's signature for each named file (all the document's files, or what is left)."""
        if ctx.mode != "open":
            raise ActionRefused("not_open", "Документ сейчас не ждёт вашей подписи.")
        if not signatures:
            raise ActionRefused("no_file", "Выберите файл подписи.")
        outcome = UploadOutcome()
        for file_id, raw in signatures.items():
            if len(raw) > max_bytes:
                raise ActionRefused("too_large", REFUSAL_TEXT["too_large"])
            try:
                cms = decode_armour(raw, max_size=max_bytes)
            except MalformedInput:
                raise ActionRefused("malformed", REFUSAL_TEXT["malformed"]) from None
            try:
                accepted = await accept_signature(
                    self.signatures,
                    document_id=ctx.doc.id,
                    file_id=file_id,
                    cms=cms,
                    claim=self._claim(ctx),
                    source="cryptoarm" if source == "cryptoarm" else "counterparty",
                )
            except SignatureRefused as refusal:
                raise ActionRefused(refusal.code, refusal_message(refusal)) from None
            outcome.accepted.append(accepted)
            if accepted.document_state == DocState.COMPLETED:
                outcome.completed = True
        if outcome.completed:
            # The link's answer, the history row and the confirmation e-mail are already in: the
            # ``counterparty_signed`` listener (.completion) wrote them in the signature's own transaction.
            crashpoints.reached("counterparty.completed")
        return outcome

    async def reject(self, ctx: LinkContext, reason: str) -> None:
        if ctx.mode != "open":
            raise ActionRefused("not_open", "Документ сейчас не ждёт вашего ответа.")
        reason = " ".join(reason.split())[:1000]
        if len(reason) < 3:
            raise ActionRefused(
                "reason_required", "Укажите причину отказа: отправитель увидит её в карточке документа."
            )

        def write(d: Any) -> None:
            step = links.counterparty_step(d, ctx.doc.id)
            if step is None:
                raise TransitionRefused("not_current_step", "Документ сейчас не ждёт вашего ответа.")
            states.reject(
                d,
                ctx.doc.id,
                step_id=step[0],
                actor=f"counterparty:{ctx.link.recipient_email}",
                reason=reason,
                listeners=self.listeners,
            )
            links.mark_answered(d, ctx.link.id, "rejected")

        try:
            await self.db.write(write)
        except TransitionRefused as exc:
            raise ActionRefused(exc.code, exc.message) from None
        self.listeners.committed()

    # -- the package ------------------------------------------------------------------------------------

    async def package(self, document_id: int) -> tuple[str, bytes]:
        """The signed package for the counterparty's page: the workflow's ZIP, without a portal user or an export
        audit row (the link that reached this call is the counterparty's authority)."""
        return await self.packaging.build_package(document_id)
