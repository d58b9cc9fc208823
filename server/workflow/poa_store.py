"""SQL of the МЧД (машиночитаемая доверенность) files and of the verdict kept with each signature (issue 18).

Tables from migration 0026: ``poa_files`` (an МЧД bound to a registered certificate or to one document's
counterparty signature) and ``signature_poa`` (what the policy found for one accepted signature). Everything else
about an МЧД (reading it, checking it) lives in :mod:`cades.poa`; the policy that applies it is
:mod:`.poa_policy`.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec
from sqlite_utils import Database

Scope = Literal["certificate", "document"]


class NewPoa(msgspec.Struct, kw_only=True, frozen=True):
    scope: Scope
    certificate_id: int | None = None
    document_id: int | None = None
    xml: bytes
    sig: bytes
    file_name: str
    number: str
    principal_name: str
    principal_inn: str
    representative: str
    valid_from: str
    valid_until: str
    upload_status: str = ""
    upload_summary: str = ""
    uploaded_by: str
    uploaded_at: str


class PoaRow(msgspec.Struct, kw_only=True, frozen=True):
    """A stored МЧД without its bytes (those are read by :func:`poa_bytes` when needed)."""

    id: int
    scope: str
    certificate_id: int | None
    document_id: int | None
    file_name: str
    number: str
    principal_name: str
    principal_inn: str
    representative: str
    valid_from: str
    valid_until: str
    upload_status: str
    upload_summary: str
    uploaded_by: str
    uploaded_at: str
    removed_at: str | None


class SignaturePoa(msgspec.Struct, kw_only=True, frozen=True):
    """The МЧД verdict stored with one accepted signature (what every page, the ZIP and the reports show)."""

    signature_id: int
    poa_id: int | None
    policy: str
    status: str  # valid | invalid | indeterminate | missing | head | skipped
    summary: str
    verdict: dict[str, Any]
    number: str = ""
    principal_name: str = ""
    principal_inn: str = ""
    valid_from: str = ""
    valid_until: str = ""
    file_name: str = ""


_COLUMNS = (
    "id, scope, certificate_id, document_id, file_name, number, principal_name, principal_inn, representative,"
    " valid_from, valid_until, upload_status, upload_summary, uploaded_by, uploaded_at, removed_at"
)


def _row(r: Any) -> PoaRow:
    return PoaRow(
        id=r[0],
        scope=r[1],
        certificate_id=r[2],
        document_id=r[3],
        file_name=r[4],
        number=r[5],
        principal_name=r[6],
        principal_inn=r[7],
        representative=r[8],
        valid_from=r[9],
        valid_until=r[10],
        upload_status=r[11],
        upload_summary=r[12],
        uploaded_by=r[13],
        uploaded_at=r[14],
        removed_at=r[15],
    )


def insert(db: Database, poa: NewPoa) -> int:
    cur = db.execute(
        "INSERT INTO poa_files (scope, certificate_id, document_id, xml, sig, file_name, number, principal_name,"
        " principal_inn, representative, valid_from, valid_until, upload_status, upload_summary, uploaded_by,"
        " uploaded_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            poa.scope,
            poa.certificate_id,
            poa.document_id,
            poa.xml,
            poa.sig,
            poa.file_name,
            poa.number,
            poa.principal_name,
            poa.principal_inn,
            poa.representative,
            poa.valid_from,
            poa.valid_until,
            poa.upload_status,
            poa.upload_summary,
            poa.uploaded_by,
            poa.uploaded_at,
        ],
    )
    assert cur.lastrowid is not None
    return int(cur.lastrowid)


def one(db: Database, poa_id: int) -> PoaRow | None:
    r = db.execute(f"SELECT {_COLUMNS} FROM poa_files WHERE id = ?", [poa_id]).fetchone()
    return _row(r) if r else None


def poa_bytes(db: Database, poa_id: int) -> tuple[bytes, bytes] | None:
    """(XML, detached signature) of one stored МЧД."""
    r = db.execute("SELECT xml, sig FROM poa_files WHERE id = ?", [poa_id]).fetchone()
    return (bytes(r[0]), bytes(r[1])) if r else None


def remove(db: Database, poa_id: int, *, now: str) -> bool:
    cur = db.execute("UPDATE poa_files SET removed_at = ? WHERE id = ? AND removed_at IS NULL", [now, poa_id])
    return cur.rowcount > 0


def of_certificates(db: Database, certificate_ids: list[int]) -> list[PoaRow]:
    """The МЧД in force (not removed) bound to these certificates, newest first."""
    if not certificate_ids:
        return []
    marks = ",".join("?" * len(certificate_ids))
    cur = db.execute(
        f"SELECT {_COLUMNS} FROM poa_files WHERE scope = 'certificate' AND removed_at IS NULL"
        f" AND certificate_id IN ({marks}) ORDER BY id DESC",
        certificate_ids,
    )
    return [_row(r) for r in cur.fetchall()]


def for_signer_certificate(db: Database, *, user_id: int, issuer: str, serial: str) -> list[PoaRow]:
    """The МЧД bound to the registered certificate (issuer, serial) of ``user_id``, newest first."""
    cur = db.execute(
        f"SELECT {', '.join('p.' + c.strip() for c in _COLUMNS.split(','))} FROM poa_files p"
        " JOIN signer_certificates c ON c.id = p.certificate_id"
        " WHERE p.scope = 'certificate' AND p.removed_at IS NULL AND c.user_id = ? AND c.issuer = ?"
        " AND lower(c.serial) = lower(?) ORDER BY p.id DESC",
        [user_id, issuer, serial],
    )
    return [_row(r) for r in cur.fetchall()]


def of_document(db: Database, document_id: int) -> PoaRow | None:
    """The newest МЧД the counterparty kept with this document (the public page's upload)."""
    r = db.execute(
        f"SELECT {_COLUMNS} FROM poa_files WHERE scope = 'document' AND removed_at IS NULL AND document_id = ?"
        " ORDER BY id DESC LIMIT 1",
        [document_id],
    ).fetchone()
    return _row(r) if r else None


def record_verdict(
    db: Database, *, signature_id: int, poa_id: int | None, policy: str, status: str, summary: str, verdict: str
) -> None:
    db.execute(
        "INSERT INTO signature_poa (signature_id, poa_id, policy, status, summary, verdict) VALUES (?, ?, ?, ?, ?, ?)",
        [signature_id, poa_id, policy, status, summary, verdict],
    )


def verdicts(db: Database, document_id: int) -> dict[int, SignaturePoa]:
    """Every stored МЧД verdict of the document's signatures, by signature id."""
    cur = db.execute(
        "SELECT sp.signature_id, sp.poa_id, sp.policy, sp.status, sp.summary, sp.verdict, coalesce(p.number, ''),"
        " coalesce(p.principal_name, ''), coalesce(p.principal_inn, ''), coalesce(p.valid_from, ''),"
        " coalesce(p.valid_until, ''), coalesce(p.file_name, '')"
        " FROM signature_poa sp JOIN signatures s ON s.id = sp.signature_id"
        " LEFT JOIN poa_files p ON p.id = sp.poa_id WHERE s.document_id = ?",
        [document_id],
    )
    found: dict[int, SignaturePoa] = {}
    for r in cur.fetchall():
        found[int(r[0])] = SignaturePoa(
            signature_id=r[0],
            poa_id=r[1],
            policy=r[2],
            status=r[3],
            summary=r[4],
            verdict=msgspec.json.decode(r[5]) if r[5] else {},
            number=r[6],
            principal_name=r[7],
            principal_inn=r[8],
            valid_from=r[9],
            valid_until=r[10],
            file_name=r[11],
        )
    return found


def certificate_owner(db: Database, certificate_id: int) -> tuple[int, str, bytes] | None:
    """(user id, status, DER) of a registered certificate, for the МЧД upload's rights and its check."""
    r = db.execute(
        "SELECT user_id, coalesce(status, 'active'), der FROM signer_certificates WHERE id = ?", [certificate_id]
    ).fetchone()
    return (int(r[0]), str(r[1]), bytes(r[2])) if r else None


def registered_der(db: Database, *, user_id: int, issuer: str, serial: str) -> bytes | None:
    """The registered certificate's DER: the signer's certificate when the CMS does not carry it."""
    r = db.execute(
        "SELECT der FROM signer_certificates WHERE user_id = ? AND issuer = ? AND lower(serial) = lower(?)"
        " ORDER BY id DESC LIMIT 1",
        [user_id, issuer, serial],
    ).fetchone()
    return bytes(r[0]) if r else None


def all_bound(db: Database) -> list[PoaRow]:
    """Every МЧД in force bound to a certificate (the admin's list), newest first."""
    cur = db.execute(
        f"SELECT {_COLUMNS} FROM poa_files WHERE scope = 'certificate' AND removed_at IS NULL"
        " ORDER BY id DESC LIMIT 1000"
    )
    return [_row(r) for r in cur.fetchall()]
