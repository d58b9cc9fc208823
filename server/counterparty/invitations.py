"""Inviting the counterparty the moment the company's part is signed.

:class:`Invitations` is registered at start-up as the workflow's ``internal_signed`` listener, so it runs inside
the very transaction that records the last internal signature: the document is never "waiting for the
counterparty" without either a live link (and its invitation e-mail queued in the outbox) or, when the card has
no usable address, a notification to the author saying so. Both cannot happen twice: the transition runs once,
and a link is issued only while the current counterparty step has none.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

from sqlite_utils import Database

from server.db import audit
from server.workflow import effects
from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow

from . import links

Outcome = Literal["invited", "no_email", "skipped"]


class Invitations:
    """The ``internal_signed`` listener: a personal link for the document's counterparty, or a word to the author."""

    def __init__(
        self, *, link_key: bytes, ttl_days: int, clock: Callable[[], datetime] = lambda: datetime.now(UTC)
    ) -> None:
        self.link_key = link_key
        self.ttl_days = ttl_days
        self.clock = clock

    def _ttl_days(self, doc: DocumentRow) -> int:
        """``[policy] link_ttl_days``, or longer when the author picked a later deadline in the create form: the
        link must not die before the day the counterparty was given (the deadline still ends it on that day)."""
        if not doc.due_at or not doc.deadline:
            return self.ttl_days
        left = datetime.fromisoformat(doc.deadline) - self.clock()
        return max(self.ttl_days, math.ceil(left.total_seconds() / 86400))

    def __call__(self, db: Database, doc: DocumentRow) -> None:
        self.invite(db, doc)

    def invite(self, db: Database, doc: DocumentRow) -> Outcome:
        """Inside the writer's transaction; ``doc`` is the document row as the transition left it."""
        document_id = doc.id
        if doc.state != DocState.AWAITING_COUNTERPARTY or links.has_link_for_current_step(db, document_id):
            return "skipped"
        email = doc.counterparty_email.strip()
        if not links.valid_email(email):
            audit.append(
                db,
                actor="system",
                action="counterparty.no_email",
                object_type="document",
                object_id=document_id,
                details={"email": email},
            )
            effects.notify(
                db,
                doc.author_id,
                f"Документ «{doc.title}» подписан компанией, но у контрагента нет "
                "адреса электронной почты. Укажите адрес и отправьте ссылку в карточке документа.",
                doc=doc,
                key=f"counterparty.no_email:{document_id}",
            )
            return "no_email"
        links.issue(
            db,
            document_id=document_id,
            recipient_email=email,
            recipient_name=doc.contact_name or doc.counterparty_name,
            ttl_days=self._ttl_days(doc),
            actor="system",
            key=self.link_key,
            now=self.clock(),
        )
        effects.timeline(
            db,
            doc,
            f"KlikDok: документ «{doc.title}» отправлен контрагенту на адрес {email}.",
            key=f"counterparty.invited.timeline:{document_id}",
        )
        return "invited"


def revoke_on_withdraw(db: Database, doc: DocumentRow) -> None:
    """The ``withdraw`` listener: the counterparty's link dies with the document, in the same transaction, and
    a counterparty who had been sent the document is told by e-mail (the letter is queued in that transaction
    too, so a withdrawal never happens without it)."""
    link_id = links.revoke_active(db, doc.id, reason="withdrawn", actor="system")
    if link_id is not None:
        links.enqueue_withdrawal(db, link_id, doc.id)
