"""SQL for the workflow tables: row mapping and the queries lists and pages need.

Everything here takes a sqlite-utils ``Database`` and is plain synchronous code, so the same functions run in
the writer thread (inside a transition) and on read-only connections (lists, details).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database

from .docstate import SIGNING_STATES, DocState, sql_in
from .model import (
    DocumentFile,
    DocumentPage,
    DocumentSummary,
    HistoryEntry,
    Job,
    RouteStep,
    SignatureInfo,
)


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_SUMMARY_COLUMNS = ("d.id, d.title, d.state, d.entity_type, d.entity_id, d.author_id, d.author_name, d.department_id,"
                    " d.created_at, d.updated_at, d.sent_at, d.deadline, d.current_step, d.warnings,"
                    " s.user_id, s.display_name, s.kind,"
                    " (SELECT count(*) FROM document_files f WHERE f.document_id = d.id)")
_SUMMARY_FROM = ("FROM documents d LEFT JOIN route_steps s"
                 " ON s.document_id = d.id AND s.position = d.current_step")


def _overdue(state: DocState, deadline: str | None, now: str) -> bool:
    return bool(deadline and state in SIGNING_STATES and deadline < now)


def _summary(row: Sequence[Any], now: str) -> DocumentSummary:
    (doc_id, title, state, entity_type, entity_id, author_id, author_name, department_id, created_at, updated_at,
     sent_at, deadline, current_step, warnings, step_user, step_name, step_kind, files) = row
    state = DocState(state)
    return DocumentSummary(
        id=doc_id, title=title, state=state, state_label=state.label, entity_type=entity_type,
        entity_id=entity_id, author_id=author_id, author_name=author_name, department_id=department_id,
        created_at=created_at, updated_at=updated_at, sent_at=sent_at, deadline=deadline, current_step=current_step,
        current_signer_id=step_user if state in SIGNING_STATES else None,
        current_signer_name=(step_name or ("Контрагент" if step_kind == "counterparty" else ""))
        if state in SIGNING_STATES else "",
        files=files, overdue=_overdue(state, deadline, now), warnings=json.loads(warnings or "[]"))


def document_row(db: Database, document_id: int) -> dict[str, Any] | None:
    cur = db.execute("SELECT * FROM documents WHERE id = ?", [document_id])
    row = cur.fetchone()
    if row is None:
        return None
    return dict(zip([c[0] for c in cur.description], row, strict=True))


def summary(db: Database, document_id: int) -> DocumentSummary | None:
    row = db.execute(f"SELECT {_SUMMARY_COLUMNS} {_SUMMARY_FROM} WHERE d.id = ?", [document_id]).fetchone()
    return _summary(row, now_iso()) if row else None


def files(db: Database, document_id: int) -> list[DocumentFile]:
    rows = db.execute("SELECT id, position, name, size, content_type, streebog256, streebog512, disk_file_id"
                      " FROM document_files WHERE document_id = ? ORDER BY position", [document_id]).fetchall()
    return [DocumentFile(id=r[0], position=r[1], name=r[2], size=r[3], content_type=r[4], streebog256=r[5],
                         streebog512=r[6], disk_file_id=r[7]) for r in rows]


def route(db: Database, document_id: int) -> list[RouteStep]:
    rows = db.execute("SELECT id, position, kind, user_id, display_name, state, acted_at, reason FROM route_steps"
                      " WHERE document_id = ? ORDER BY position", [document_id]).fetchall()
    return [RouteStep(id=r[0], position=r[1], kind=r[2], user_id=r[3], display_name=r[4], state=r[5], acted_at=r[6],
                      reason=r[7]) for r in rows]


def current_step(db: Database, document_id: int) -> RouteStep | None:
    for step in route(db, document_id):
        if step.state == "current":
            return step
    return None


_SIG_COLUMNS = ("id, file_id, step_id, signer_kind, signer_user_id, source, status, signer, certificate_serial,"
                " certificate_issuer, identity_warning, accepted_at, disk_file_id")


def _signature(r: Sequence[Any]) -> SignatureInfo:
    return SignatureInfo(id=r[0], file_id=r[1], step_id=r[2], signer_kind=r[3], signer_user_id=r[4], source=r[5],
                         status=r[6], signer=json.loads(r[7]), certificate_serial=r[8], certificate_issuer=r[9],
                         identity_warning=r[10], accepted_at=r[11], disk_file_id=r[12])


def signatures(db: Database, document_id: int) -> list[SignatureInfo]:
    rows = db.execute(f"SELECT {_SIG_COLUMNS} FROM signatures WHERE document_id = ? ORDER BY id",
                      [document_id]).fetchall()
    return [_signature(r) for r in rows]


def signature_bytes(db: Database, document_id: int, signature_id: int) -> tuple[bytes, str, dict[str, Any]] | None:
    """(CMS, file name of the signed file, stored verification result) of one signature."""
    row = db.execute("SELECT s.cms, f.name, s.verification FROM signatures s JOIN document_files f ON f.id = s.file_id"
                     " WHERE s.id = ? AND s.document_id = ?", [signature_id, document_id]).fetchone()
    return (row[0], row[1], json.loads(row[2])) if row else None


def signature_rows_for_package(db: Database, document_id: int) -> list[tuple[int, int, bytes, str, str]]:
    """(signature id, file id, CMS, verification JSON, signer JSON) for every accepted signature."""
    return [tuple(r) for r in db.execute(
        "SELECT id, file_id, cms, verification, signer FROM signatures WHERE document_id = ? ORDER BY id",
        [document_id]).fetchall()]


def history(db: Database, document_id: int) -> list[HistoryEntry]:
    rows = db.execute("SELECT at, actor, action, details FROM audit_log WHERE object_type = 'document'"
                      " AND object_id = ? ORDER BY id", [str(document_id)]).fetchall()
    return [HistoryEntry(at=r[0], actor=r[1], action=r[2], details=json.loads(r[3])) for r in rows]


# -- lists ------------------------------------------------------------------------------------------------


class Scope:
    """Which documents a viewer may see, as an SQL condition (built by permissions.Viewer)."""

    def __init__(self, sql: str, params: list[Any]) -> None:
        self.sql = sql
        self.params = params


def list_documents(db: Database, *, scope: Scope, entity: tuple[str, int] | None = None,
                   states: Iterable[str] = (), author_id: int | None = None, signer_id: int | None = None,
                   departments: Iterable[int] | None = None, query: str = "", overdue: bool = False,
                   limit: int = 50, offset: int = 0) -> DocumentPage:
    where = ["d.state != ?", f"({scope.sql})"]
    params: list[Any] = [DocState.DELETED.value, *scope.params]
    if entity is not None:
        where.append("d.entity_type = ? AND d.entity_id = ?")
        params += [entity[0], entity[1]]
    states = list(states)
    if states:
        where.append(f"d.state IN ({','.join('?' * len(states))})")
        params += states
    if author_id is not None:
        where.append("d.author_id = ?")
        params.append(author_id)
    if signer_id is not None:
        where.append("d.id IN (SELECT document_id FROM route_steps WHERE user_id = ? AND state = 'current')")
        params.append(signer_id)
    if departments is not None:
        depts = sorted(set(departments))
        if not depts:
            return DocumentPage(items=[], total=0, limit=limit, offset=offset)
        where.append(f"d.department_id IN ({','.join('?' * len(depts))})")
        params += depts
    if query:
        where.append("d.search LIKE ? ESCAPE '\\'")
        params.append("%" + query.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%")
    now = now_iso()
    if overdue:
        marks, signing = sql_in(SIGNING_STATES)
        where.append(f"d.state IN {marks} AND d.deadline < ?")
        params += [*signing, now]
    condition = " AND ".join(where)
    total = db.execute(f"SELECT count(*) FROM documents d WHERE {condition}", params).fetchone()[0]
    rows = db.execute(f"SELECT {_SUMMARY_COLUMNS} {_SUMMARY_FROM} WHERE {condition} ORDER BY d.id DESC LIMIT ? OFFSET ?",
                      [*params, limit, offset]).fetchall()
    return DocumentPage(items=[_summary(r, now) for r in rows], total=total, limit=limit, offset=offset)


def is_route_member(db: Database, document_id: int, user_id: int) -> bool:
    return db.execute("SELECT 1 FROM route_steps WHERE document_id = ? AND user_id = ? LIMIT 1",
                      [document_id, user_id]).fetchone() is not None


# -- jobs -------------------------------------------------------------------------------------------------


def job(db: Database, job_id: int) -> Job | None:
    row = db.execute("SELECT id, document_id, step_id, user_id, channel, status, created_at FROM jobs WHERE id = ?",
                     [job_id]).fetchone()
    if row is None:
        return None
    return Job(id=row[0], document_id=row[1], step_id=row[2], user_id=row[3], channel=row[4], status=row[5],
               created_at=row[6], files=files(db, row[1]))


def open_jobs(db: Database, user_id: int) -> list[Job]:
    ids = [r[0] for r in db.execute("SELECT id FROM jobs WHERE user_id = ? AND status IN ('pending', 'delivered')"
                                    " ORDER BY id", [user_id])]
    return [j for j in (job(db, i) for i in ids) if j is not None]


# -- certificates -----------------------------------------------------------------------------------------


def registered_certificates(db: Database, user_id: int) -> list[dict[str, Any]]:
    cur = db.execute("SELECT id, user_id, issuer, serial, subject, inn, snils, not_after, registered_by, registered_at"
                     " FROM signer_certificates WHERE user_id = ? AND revoked_at IS NULL ORDER BY id", [user_id])
    cols = [c[0] for c in cur.description]
    return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]
