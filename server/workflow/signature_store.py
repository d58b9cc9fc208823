"""SQL for the ``signatures`` table: the one insert (from ``accept_signature``) and the questions asked about it.

A signature row is never changed after it is written, except for the Disk copy's id (:mod:`.disk_store`). The
document views read signatures through :mod:`.store`; the questions here are the ones the transitions, the agents
hub and the counterparty pages ask.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec
from sqlite_utils import Database

from server.db import inserted_id


class NewSignature(msgspec.Struct, kw_only=True, frozen=True):
    """A verified signature about to be stored (``verification`` is the cades result as JSON)."""

    document_id: int
    file_id: int
    step_id: int
    signer_kind: Literal["internal", "counterparty"]
    signer_user_id: int | None
    source: str
    cms: bytes
    cms_sha256: str
    status: str
    signer: dict[str, Any]
    certificate_serial: str
    certificate_issuer: str
    identity_warning: str
    verification: str
    accepted_at: str


class StoredVerdict(msgspec.Struct, kw_only=True, frozen=True):
    """A stored signature as the counterparty's page summarises it (no CMS bytes)."""

    id: int
    file_id: int
    signer_kind: str
    verification: str
    identity_warning: str
    signer: dict[str, Any]


def insert(db: Database, sig: NewSignature) -> int:
    cur = db.execute(
        "INSERT INTO signatures (document_id, file_id, step_id, signer_kind, signer_user_id, source, cms, cms_sha256,"
        " status, signer, certificate_serial, certificate_issuer, identity_warning, verification, accepted_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            sig.document_id,
            sig.file_id,
            sig.step_id,
            sig.signer_kind,
            sig.signer_user_id,
            sig.source,
            sig.cms,
            sig.cms_sha256,
            sig.status,
            json.dumps(sig.signer, ensure_ascii=False),
            sig.certificate_serial,
            sig.certificate_issuer,
            sig.identity_warning,
            sig.verification,
            sig.accepted_at,
        ],
    )
    return inserted_id(cur)


def signed_on_step(db: Database, *, file_id: int, step_id: int, user_id: int | None = None) -> bool:
    """Whether the file already carries a signature of this step (by this user, when given)."""
    if user_id is None:
        return (
            db.execute("SELECT 1 FROM signatures WHERE file_id = ? AND step_id = ?", [file_id, step_id]).fetchone()
            is not None
        )
    return (
        db.execute(
            "SELECT 1 FROM signatures WHERE step_id = ? AND file_id = ? AND signer_user_id = ?",
            [step_id, file_id, user_id],
        ).fetchone()
        is not None
    )


def unsigned_files_on_step(db: Database, document_id: int, step_id: int) -> int:
    """How many files of the document still lack this step's signature (0: the step is complete)."""
    return int(
        db.execute(
            "SELECT count(*) FROM document_files f WHERE f.document_id = ? AND NOT EXISTS"
            " (SELECT 1 FROM signatures s WHERE s.file_id = f.id AND s.step_id = ?)",
            [document_id, step_id],
        ).fetchone()[0]
    )


def verdicts(db: Database, document_id: int) -> list[StoredVerdict]:
    rows = db.execute(
        "SELECT s.id, s.file_id, s.signer_kind, s.verification, s.identity_warning, s.signer"
        " FROM signatures s WHERE s.document_id = ? ORDER BY s.id",
        [document_id],
    ).fetchall()
    return [
        StoredVerdict(
            id=r[0],
            file_id=r[1],
            signer_kind=r[2],
            verification=r[3],
            identity_warning=r[4],
            signer=json.loads(r[5] or "{}"),
        )
        for r in rows
    ]


def counterparty_signed_files(db: Database, document_id: int) -> set[int]:
    return {
        int(r[0])
        for r in db.execute(
            "SELECT file_id FROM signatures WHERE document_id = ? AND signer_kind = 'counterparty'", [document_id]
        ).fetchall()
    }


def internal_signers(db: Database, document_id: int) -> list[dict[str, Any]]:
    """The signer fields (from the certificates) of the company's signatures, in the order they were accepted."""
    return [
        json.loads(r[0] or "{}")
        for r in db.execute(
            "SELECT signer FROM signatures WHERE document_id = ? AND signer_kind = 'internal' ORDER BY id",
            [document_id],
        ).fetchall()
    ]
