"""Side effects a transition records in the outbox (delivered after commit by the outbox worker).

Kinds and payloads (the worker in :mod:`server.workflow.outbox_worker` handles exactly these):
- ``b24.notify``   {"user_id", "message", "link"?, "view"?}: ``im.notify.system.add`` (also about a user's
  certificate, with no link and no document: :func:`notify_user`) (TAG = "klikdok:<outbox id>", so a
  repeated delivery after a crash replaces the notification instead of adding a second one); with ``view`` the
  link opens that view of the application's page («На подпись» for a signer: :func:`notify_signer`), ``link``
  (the card) being what it falls back to when the portal does not say where the application lives;
- ``b24.timeline`` {"entity_type" (the card kind's timeline ENTITY_TYPE), "entity_id", "comment", "ref"}:
  ``crm.timeline.comment.add``, the comment ending with a marker made of the message id and ``ref`` (a repeated
  delivery looks for it before posting again);
- ``disk.file`` {"file_id", "spool"}: copy a document file, recorded with its bytes in the spool (``files.Spool``),
  to the card's folder on Bitrix24.Disk; the file gets its ``disk_file_id`` only then, so a crash before the
  commit leaves nothing on the portal;
- ``disk.signature`` {"signature_id"}: upload ``<disk name>.sig`` next to the document on Bitrix24.Disk;
- ``disk.paper`` {"document_id"}: when the document completes, upload its stamped copies and verification protocol
  (server.workflow.paper_copies) into the same folder; made once and recorded with their bytes
  (:mod:`.paper_copy_store`) before the first upload, so a repeated delivery finds what reached the portal.

The ``disk.*`` kinds are bulk work: the worker delivers them in their own lane, behind every notification.
Kinds registered by other modules: ``crm.status`` and ``crm.trigger`` (the CRM status field and the automation
triggers, :mod:`.crm_status`).
"""

from __future__ import annotations

import secrets

from sqlite_utils import Database

from server.bitrix24.entities import kind_of
from server.db import outbox

from .model import DocumentRow

NOTIFY = "b24.notify"
TIMELINE = "b24.timeline"
DISK_FILE = "disk.file"
DISK_SIGNATURE = "disk.signature"
DISK_PAPER = "disk.paper"
KINDS = (NOTIFY, TIMELINE, DISK_FILE, DISK_SIGNATURE, DISK_PAPER)
QUEUE_VIEW = "queue"  # the app page's «На подпись» (server/templates/app.html)


def card_link(doc: DocumentRow) -> str:
    """The CRM card the document belongs to (relative: the portal resolves it against its own origin)."""
    return kind_of(doc.entity_type).card_path.format(id=doc.entity_id)


def notify(db: Database, user_id: int | None, message: str, *, doc: DocumentRow, key: str) -> None:
    if not user_id:
        return
    outbox.enqueue(
        db,
        NOTIFY,
        {"user_id": int(user_id), "message": message, "link": card_link(doc), "document_id": doc.id},
        dedupe_key=key,
    )


def notify_signer(db: Database, user_id: int | None, message: str, *, doc: DocumentRow, key: str) -> bool:
    """A document waits for ``user_id``'s signature: the notification opens their queue («На подпись»), where the
    document is signed, not the CRM card. Whether it was queued now (not when ``key`` has been queued before)."""
    if not user_id:
        return False
    queued = outbox.enqueue(
        db,
        NOTIFY,
        {
            "user_id": int(user_id),
            "message": message,
            "link": card_link(doc),
            "view": QUEUE_VIEW,
            "document_id": doc.id,
        },
        dedupe_key=key,
    )
    return queued is not None


def notify_user(db: Database, user_id: int, message: str, *, key: str) -> None:
    """A notification about the user themselves (an admin's decision on their certificate): no card to link."""
    outbox.enqueue(db, NOTIFY, {"user_id": int(user_id), "message": message}, dedupe_key=key)


def timeline(db: Database, doc: DocumentRow, comment: str, *, key: str) -> None:
    outbox.enqueue(
        db,
        TIMELINE,
        {
            "entity_type": kind_of(doc.entity_type).timeline_type,
            "entity_id": doc.entity_id,
            "comment": comment,
            "document_id": doc.id,
            "ref": secrets.token_hex(3),
        },
        dedupe_key=key,
    )


def store_signature_on_disk(db: Database, signature_id: int) -> None:
    outbox.enqueue(db, DISK_SIGNATURE, {"signature_id": signature_id}, dedupe_key=f"disk.signature:{signature_id}")


def store_file_on_disk(db: Database, file_id: int, spool: str) -> None:
    outbox.enqueue(db, DISK_FILE, {"file_id": file_id, "spool": spool}, dedupe_key=f"disk.file:{file_id}")


def store_paper_on_disk(db: Database, doc: DocumentRow) -> None:
    """A ``counterparty_signed`` listener: the completed document's stamped copies and protocol go to Disk, in the
    completion's own transaction (a crash after it still delivers them, once: one message per document)."""
    outbox.enqueue(db, DISK_PAPER, {"document_id": doc.id}, dedupe_key=f"disk.paper:{doc.id}")
