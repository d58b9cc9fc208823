"""Closing the counterparty's link the moment their signature completes the document.

:func:`confirm_on_signed` is registered at start-up as the workflow's ``counterparty_signed`` listener, so it runs
inside the very transaction that stores the counterparty's last signature and moves the document to
``completed``: the link's answer, the history row and the confirmation e-mail in the outbox commit together with
the signature or not at all. A crash right after that commit loses nothing, and the confirmation is sent once
(the outbox message carries a per-document dedupe key).
"""

from __future__ import annotations

from sqlite_utils import Database

from server.db import audit, outbox
from server.workflow import store
from server.workflow.model import DocumentRow

from . import links


def confirm_on_signed(db: Database, doc: DocumentRow) -> None:
    """Inside the writer's transaction; ``doc`` is the document row as the transition left it (``completed``)."""
    document_id = doc.id
    link = links.signing_link(db, document_id)
    if link is None:  # only a link lets a counterparty sign; nobody to confirm to otherwise
        return
    theirs = [s for s in store.signatures(db, document_id) if s.signer_kind == "counterparty"]
    links.mark_answered(db, link.id, "signed")
    audit.append(
        db,
        actor=f"counterparty:{link.recipient_email}",
        action="counterparty.signed",
        object_type="document",
        object_id=document_id,
        details={"link_id": link.id, "source": theirs[-1].source if theirs else "counterparty"},
    )
    outbox.enqueue(
        db,
        links.MAIL_CONFIRMATION,
        {"link_id": link.id, "document_id": document_id},
        dedupe_key=f"{links.MAIL_CONFIRMATION}:{document_id}",
    )
