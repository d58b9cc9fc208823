"""SQL for the chains of document versions (issue 17, migration 0022).

A chain is linked backwards only (``documents.previous_id``); the next version is found by the unique index on
that column, so the link is written once, by the transaction that creates the new version, and can never point
two ways at once.
"""

from __future__ import annotations

from sqlite_utils import Database

from .model import VersionLinks

# Longest chain walked: far more versions than anyone makes of one document, and a bound on a corrupt loop.
MAX_CHAIN = 1000


def next_id(db: Database, document_id: int) -> int | None:
    row = db.execute("SELECT id FROM documents WHERE previous_id = ?", [document_id]).fetchone()
    return int(row[0]) if row else None


def previous_id(db: Database, document_id: int) -> int | None:
    row = db.execute("SELECT previous_id FROM documents WHERE id = ?", [document_id]).fetchone()
    return int(row[0]) if row and row[0] is not None else None


def link(db: Database, document_id: int, *, previous: int, version: int) -> None:
    """Make ``document_id`` version ``version``, the successor of ``previous`` (the unique index refuses a second
    successor with an IntegrityError)."""
    db.execute("UPDATE documents SET version = ?, previous_id = ? WHERE id = ?", [version, previous, document_id])


def links(db: Database, document_id: int) -> VersionLinks | None:
    """«Версия N из M» and the neighbours; None for a document that has never had another version."""
    before = previous_id(db, document_id)
    after = next_id(db, document_id)
    if before is None and after is None:
        return None
    number = 1
    walk = before
    while walk is not None and number < MAX_CHAIN:
        number += 1
        walk = previous_id(db, walk)
    total, latest, walk = number, document_id, after
    while walk is not None and total < MAX_CHAIN:
        total, latest = total + 1, walk
        walk = next_id(db, walk)
    return VersionLinks(number=number, total=total, previous_id=before, next_id=after, latest_id=latest)


def copy_disk_names(db: Database, *, from_document: int, to_document: int) -> None:
    """A new version reusing the old one's files points to the same Disk files under the same names (its .sig
    files are named after them), file by file in order."""
    db.execute(
        "UPDATE document_files SET disk_name = (SELECT o.disk_name FROM document_files o"
        " WHERE o.document_id = ? AND o.position = document_files.position) WHERE document_id = ?",
        [from_document, to_document],
    )


def latest_after(db: Database, document_id: int) -> int | None:
    """The newest version after ``document_id`` (None when it is the newest itself)."""
    latest, walk, steps = None, next_id(db, document_id), 0
    while walk is not None and steps < MAX_CHAIN:
        latest, walk, steps = walk, next_id(db, walk), steps + 1
    return latest


def has_counterparty_link(db: Database, document_id: int) -> bool:
    """Whether an invitation link has been issued for the document (its counterparty has been written to)."""
    row = db.execute("SELECT 1 FROM counterparty_links WHERE document_id = ? LIMIT 1", [document_id]).fetchone()
    return row is not None
