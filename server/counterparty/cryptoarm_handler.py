"""CryptoARM transactions of kind ``counterparty_link``: the counterparty signs in CryptoARM GOST.

Targets are one link id. The offer is the document's files the counterparty has not signed yet (the
company's signatures stay on the page: CryptoARM only needs what is to be signed); each returned signature
goes through the workflow's ``accept_signature`` with the counterparty claim of that link, exactly like an
uploaded ``.sig``. The link is re-checked on every step (a resend, withdrawal or expiry in between ends it).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from server.cryptoarm import transaction_store, transactions
from server.cryptoarm.handlers import DirectResult, Offer, OfferedFile, Outcome
from server.cryptoarm.transactions import TransactionRefused, Txn
from server.db import audit
from server.state import AppServices
from server.workflow import signature_store, store
from server.workflow.model import DocumentRow

from . import links
from .exchange import ActionRefused, CounterpartyExchange, LinkContext, LinkProblem, classify
from .link_store import LinkRow
from .version_notice import NewerVersion, newer_version

KIND = "counterparty_link"


def _exchange(services: AppServices) -> CounterpartyExchange:
    exchange = services.counterparty
    assert exchange is not None, "the counterparty exchange starts with the server"
    return exchange


async def _context(services: AppServices, txn: Txn) -> LinkContext:
    if len(txn.targets) != 1:
        raise TransactionRefused("bad_targets", "Транзакция не относится к ссылке контрагента.")

    def read(d: Any) -> tuple[LinkRow | None, DocumentRow | None, NewerVersion | None]:
        link = links.link_by_id(d, txn.targets[0])
        return link, (store.document_row(d, link.document_id) if link else None), newer_version(d, link)

    link, doc, newer = await services.db.read(read)
    try:
        ctx = classify(link, doc, newer=newer)
    except LinkProblem as problem:
        raise TransactionRefused(problem.code, problem.message) from None
    if ctx.mode != "open":
        raise TransactionRefused("not_open", "Документ больше не ждёт вашей подписи.")
    return ctx


class CounterpartyLinkHandler:
    kind = KIND

    async def offer(self, services: AppServices, txn: Txn) -> Offer:
        ctx = await _context(services, txn)

        def read(d: Any) -> list[tuple[int, str, int]]:
            signed = signature_store.counterparty_signed_files(d, ctx.doc.id)
            return [(f.id, f.name, f.size) for f in store.files(d, ctx.doc.id) if f.id not in signed]

        files = await services.db.read(read)
        if not files:
            raise TransactionRefused("nothing_to_sign", "Все файлы документа уже подписаны.")
        return Offer(
            files=[OfferedFile(key=str(fid), name=name, size=size) for fid, name, size in files],
            header="Подписание документа",
            description=ctx.doc.title[:120],
        )

    async def open_file(self, services: AppServices, txn: Txn, key: str) -> tuple[str, bytes]:
        ctx = await _context(services, txn)
        if not key.isdigit():
            raise TransactionRefused("unknown_file", "Файл не найден.")
        try:
            name, _ctype, data = await _exchange(services).file(ctx, int(key))
        except ActionRefused as exc:
            raise TransactionRefused(exc.code, exc.message) from None
        return name, data

    async def accept(self, services: AppServices, txn: Txn, results: list[DirectResult]) -> Outcome:
        outcome = Outcome()
        try:
            ctx = await _context(services, txn)
        except TransactionRefused as exc:
            outcome.refused += [{"key": r.key, "code": exc.code, "message": exc.message} for r in results]
            return outcome
        limit = services.settings.limits.max_signature_kb * 1024
        for result in results:
            try:
                await _exchange(services).submit(
                    ctx, {int(result.key): result.cms}, source="cryptoarm", max_bytes=limit
                )
                outcome.accepted.append(result.key)
            except ActionRefused as exc:
                outcome.refused.append({"key": result.key, "code": exc.code, "message": exc.message})
        return outcome

    async def cancelled(self, services: AppServices, txn: Txn) -> None:
        if not txn.targets:
            return
        link_id = txn.targets[0]

        def document_of(d: Any) -> int | None:
            link = links.link_by_id(d, link_id)
            return link.document_id if link else None

        document_id = await services.db.read(document_of)
        if document_id is not None:
            await services.db.write(
                lambda d: audit.append(
                    d,
                    actor="cryptoarm",
                    action="counterparty.cryptoarm_cancelled",
                    object_type="document",
                    object_id=document_id,
                    details={"link_id": link_id},
                )
            )


async def open_for_link(services: AppServices, ctx: LinkContext) -> str:
    """Mint a transaction for this link; returns the ``cryptoarm://`` link for the page."""
    minutes = services.settings.cryptoarm.transaction_minutes
    txn_id, _ = await services.db.write(
        lambda d: transactions.create(
            d, kind=KIND, targets=[ctx.link.id], minutes=minutes, actor=f"counterparty:{ctx.link.recipient_email}"
        )
    )
    return transactions.link(services.settings.server.public_url, txn_id)


# -- the hand-off page follows the run -------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where the link's latest CryptoARM run is, in the words the hand-off page shows (``final``: stop asking)."""

    phase: str  # waiting | checking | accepted | refused | cancelled | expired | none
    title: str
    message: str
    final: bool
    done: str = ""  # the document page's ?done= once a signature is in (signed | partly)


WAITING = "Ждём подпись из КриптоАРМ ГОСТ…"


def progress_of(txn: Txn | None, mode: str) -> Progress:
    """The run as the counterparty sees it; ``mode`` is the link's (:class:`.exchange.LinkContext`) right now."""
    if txn is None:
        return Progress(
            "none", "Подписание не начато", "Вернитесь к документу и нажмите «Подписать в КриптоАРМ ГОСТ».", True
        )
    if txn.state in ("open", "parameters_sent"):
        if txn.expired:
            return Progress(
                "expired",
                "Время на подписание истекло",
                "КриптоАРМ ГОСТ не прислал подпись вовремя. Вернитесь к документу и начните подписание заново.",
                True,
            )
        if txn.state == "open":
            return Progress("waiting", WAITING, "Откройте КриптоАРМ ГОСТ кнопкой выше и разрешите доступ.", False)
        return Progress("waiting", WAITING, "КриптоАРМ ГОСТ открыт: выберите свой сертификат и подпишите.", False)
    if txn.state == "cancelled":
        return Progress(
            "cancelled",
            "Подписание отменено",
            "Подписание отменили в КриптоАРМ ГОСТ. Документ не подписан; вы можете начать заново.",
            True,
        )
    outcome = txn.outcome
    if "accepted" not in outcome and "refused" not in outcome:
        return Progress("checking", "Подпись получена, проверяем…", "Проверяем подпись и сертификат.", False)
    refused = [str(r.get("message", "")) for r in outcome.get("refused") or [] if isinstance(r, dict)]
    if refused:
        reasons = " ".join(dict.fromkeys(m for m in refused if m)) or "Подпись не прошла проверку."
        return Progress("refused", "Подпись не принята", reasons, True)
    if mode == "signed":
        return Progress(
            "accepted",
            "Подпись принята",
            "Документ подписан обеими сторонами. Подтверждение с подписанным комплектом придёт на вашу почту.",
            True,
            "signed",
        )
    return Progress("accepted", "Подпись принята", "Осталось подписать остальные файлы документа.", True, "partly")


async def progress(services: AppServices, ctx: LinkContext) -> Progress:
    """The progress of the link's latest CryptoARM run (read-only)."""
    txn = await services.db.read(lambda d: transaction_store.latest_for(d, KIND, [ctx.link.id]))
    return progress_of(txn, ctx.mode)
