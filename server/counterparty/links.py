"""Counterparty links: one personal link per (document, recipient), at most one alive per document.

Everything here is synchronous and runs inside the writer's transaction, so issuing a link, revoking the old
one, the audit row and the invitation e-mail in the outbox commit together or not at all. Links are never
deleted: a revoked or expired link still resolves, so its page can say why it no longer works instead of
pretending it never existed.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlite_utils import Database

from server import text
from server.db import audit, outbox
from server.workflow import store
from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow

from . import link_store, tokens
from .link_store import LinkRow

MAIL_INVITATION = "mail.invitation"
MAIL_REMINDER = "mail.reminder"
MAIL_CONFIRMATION = "mail.confirmation"
MAIL_WITHDRAWAL = "mail.withdrawal"
MAIL_KINDS = (MAIL_INVITATION, MAIL_REMINDER, MAIL_CONFIRMATION, MAIL_WITHDRAWAL)


class LinkRefused(Exception):
    """A manager action on links that cannot be done (a stable code and a Russian message)."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def now_iso(moment: datetime | None = None) -> str:
    return (moment or datetime.now(UTC)).astimezone(UTC).isoformat(timespec="seconds")


def valid_email(address: str) -> bool:
    """Only addresses a header and the SMTP envelope can carry as they are (see :func:`server.text.email_address`)."""
    return text.email_address(address) is not None


def link_by_id(db: Database, link_id: int) -> LinkRow | None:
    return link_store.by_id(db, link_id)


def link_by_token(db: Database, token: str) -> LinkRow | None:
    if not tokens.well_formed(token):
        return None
    return link_store.by_token_hash(db, tokens.token_hash(token))


def active_link(db: Database, document_id: int) -> LinkRow | None:
    return link_store.alive(db, document_id)


def links_of_document(db: Database, document_id: int) -> list[LinkRow]:
    """Every link the document has had, newest first (the live one, if any, among them)."""
    return link_store.of_document(db, document_id)


def signing_link(db: Database, document_id: int) -> LinkRow | None:
    """The link a counterparty signature just came through: the document's live one (there is at most one), or,
    if it was revoked while the signature was being checked, the latest one issued."""
    return link_store.latest(db, document_id)


def counterparty_step(db: Database, document_id: int) -> tuple[int, str] | None:
    steps = [s for s in store.route(db, document_id) if s.kind == "counterparty"]
    return (steps[-1].id, steps[-1].state) if steps else None


def revoke_active(db: Database, document_id: int, *, reason: str, actor: str, now: str | None = None) -> int | None:
    """Kill the document's live link (resend, withdraw, the document left the counterparty's hands)."""
    link = active_link(db, document_id)
    if link is None:
        return None
    now = now or now_iso()
    link_store.revoke(db, link.id, reason=reason, now=now)
    audit.append(
        db,
        actor=actor,
        action="counterparty.link_revoked",
        object_type="document",
        object_id=document_id,
        details={"link_id": link.id, "reason": reason},
    )
    return link.id


def issue(
    db: Database,
    *,
    document_id: int,
    recipient_email: str,
    recipient_name: str,
    ttl_days: int,
    actor: str,
    key: bytes,
    reason: str = "initial",
    now: datetime | None = None,
) -> int:
    """A new link for the document's counterparty step (the previous one dies) and its invitation e-mail.

    The token is not returned: nobody but the recipient's mailbox ever sees it.
    """
    address = text.email_address(recipient_email)
    if address is None:
        raise LinkRefused("bad_email", "Укажите корректный адрес электронной почты контрагента.")
    recipient_email = address
    doc = store.document_row(db, document_id)
    if doc is None:
        raise LinkRefused("not_found", "Документ не найден.")
    if doc.state != DocState.AWAITING_COUNTERPARTY:
        raise LinkRefused("wrong_state", "Ссылку контрагенту можно отправить, только когда документ ждёт его подписи.")
    moment = now or datetime.now(UTC)
    stamp = now_iso(moment)
    revoke_active(db, document_id, reason="resent" if reason != "initial" else "replaced", actor=actor, now=stamp)
    step = counterparty_step(db, document_id)
    nonce = tokens.new_nonce()
    token = tokens.derive(key, nonce)
    expires = now_iso(moment + timedelta(days=ttl_days))
    link_id = link_store.insert(
        db,
        document_id=document_id,
        step_id=step[0] if step else None,
        token_hash=tokens.token_hash(token),
        nonce=nonce,
        recipient_email=recipient_email,
        recipient_name=text.name(recipient_name),
        created_by=actor,
        created_at=stamp,
        expires_at=expires,
    )
    audit.append(
        db,
        actor=actor,
        action="counterparty.link_issued",
        object_type="document",
        object_id=document_id,
        details={"link_id": link_id, "recipient": recipient_email, "expires_at": expires, "reason": reason},
    )
    outbox.enqueue(
        db,
        MAIL_INVITATION,
        {"link_id": link_id, "document_id": document_id},
        dedupe_key=f"{MAIL_INVITATION}:{link_id}",
        now=moment,
    )
    return link_id


def enqueue_withdrawal(db: Database, link_id: int, document_id: int) -> int | None:
    """The «Документ отозван» letter to the recipient of the link the withdrawal just closed (once per link)."""
    return outbox.enqueue(
        db,
        MAIL_WITHDRAWAL,
        {"link_id": link_id, "document_id": document_id},
        dedupe_key=f"{MAIL_WITHDRAWAL}:{link_id}",
    )


def link_deadline(link: LinkRow, doc: DocumentRow) -> str:
    """The moment the counterparty must answer by: the earlier of the link's expiry and the document's deadline."""
    candidates = [v for v in (link.expires_at, doc.deadline) if v]
    return min(candidates) if candidates else ""


def mark_opened(db: Database, link_id: int, now: str | None = None) -> None:
    link_store.mark_opened(db, link_id, now or now_iso())


def mark_answered(db: Database, link_id: int, answer: str, now: str | None = None) -> None:
    link_store.mark_answered(db, link_id, answer, now or now_iso())


def mark_mail_sent(db: Database, link_id: int, now: str | None = None) -> None:
    """The invitation reached the counterparty's mail server (what the manager's panel shows)."""
    link_store.mark_mail_sent(db, link_id, now or now_iso())


def mark_mail_retrying(db: Database, link_id: int, error: str) -> None:
    link_store.mark_mail_retrying(db, link_id, error)


def mark_mail_failed(db: Database, link_id: int, error: str) -> None:
    link_store.mark_mail_failed(db, link_id, error)


# -- what the invitation listener and the scheduler look for ---------------------------------------------


def has_link_for_current_step(db: Database, document_id: int) -> bool:
    return link_store.has_link_for_current_step(db, document_id)


def due_reminders(db: Database, days_before: list[int], now: datetime) -> list[tuple[int, int, int]]:
    """(link id, document id, days) of reminders whose moment has come and that were not sent yet.

    A reminder is due ``days`` before the deadline, and only if the link existed before that moment (a link
    issued two days before the deadline does not get the "three days left" reminder at once).
    """
    due: list[tuple[int, int, int]] = []
    rows = link_store.unanswered(db, DocState.AWAITING_COUNTERPARTY.value)
    stamp = now_iso(now)
    for link_id, doc_id, created_at, expires_at, deadline in rows:
        end = min(v for v in (expires_at, deadline) if v)
        if end <= stamp:
            continue
        end_dt = datetime.fromisoformat(end)
        for days in sorted(set(days_before), reverse=True):
            moment = now_iso(end_dt - timedelta(days=days))
            if created_at < moment <= stamp:
                due.append((int(link_id), int(doc_id), int(days)))
    return due


def enqueue_reminder(
    db: Database, link_id: int, document_id: int, days: int | None, *, actor: str, now: datetime | None = None
) -> int | None:
    """An automatic reminder (``days`` set; sent once per link and threshold) or a manual one (``days`` None)."""
    key = f"{MAIL_REMINDER}:{link_id}:{days}" if days is not None else None
    message_id = outbox.enqueue(
        db, MAIL_REMINDER, {"link_id": link_id, "document_id": document_id, "days": days}, dedupe_key=key, now=now
    )
    if message_id is not None:
        audit.append(
            db,
            actor=actor,
            action="counterparty.reminder_queued",
            object_type="document",
            object_id=document_id,
            details={"link_id": link_id, "days": days, "manual": days is None},
        )
    return message_id


def manual_reminders_today(db: Database, document_id: int, now: datetime) -> int:
    since = (now - timedelta(days=1)).astimezone(UTC).isoformat(timespec="microseconds")
    return audit.count_since(
        db,
        object_type="document",
        object_id=document_id,
        action="counterparty.reminder_queued",
        since=since,
        flag="manual",
    )
