"""SQL of the trust store: the imported lists, their CAs, CRL addresses and certificates, and the admin's roots.

A list replaces the previous list's rows in one transaction and only when it is newer (a higher Версия, or the
same one with a later Дата); the check runs inside that transaction, so two imports racing cannot let the older
one win. Own roots (origin ``admin``) are never touched by an import.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from sqlite_utils import Database as SqliteUtilsDatabase

from cades.tsl import ACTIVE_STATUS, TrustedList
from server.db import audit, inserted_id


class ListInfo(msgspec.Struct, frozen=True):
    version: int
    issued_at: str
    sha256: str
    signed: bool
    file_name: str
    ca_count: int
    certificate_count: int
    imported_at: str


class TrustedCertificate(msgspec.Struct, frozen=True):
    origin: str  # "list" | "admin"
    thumbprint: str
    subject: str
    not_before: str
    not_after: str
    self_signed: bool
    ca_name: str
    ca_status: str
    added_at: str


class ListRefused(Exception):
    """The list is not newer than the one in the store; nothing changed. ``current`` is the stored one."""

    def __init__(self, current: ListInfo, same: bool) -> None:
        super().__init__("same" if same else "older")
        self.current = current
        self.same = same


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="seconds")


_LIST_COLUMNS = "version, issued_at, sha256, signed, file_name, ca_count, certificate_count, imported_at"


def current_list(db: SqliteUtilsDatabase) -> ListInfo | None:
    """The newest list imported (lists only ever move forward, so it is the last row)."""
    row = db.execute(f"SELECT {_LIST_COLUMNS} FROM trust_lists ORDER BY id DESC LIMIT 1").fetchone()
    if row is None:
        return None
    return ListInfo(row[0], row[1], row[2], bool(row[3]), row[4], row[5], row[6], row[7])


def replace_list(db: SqliteUtilsDatabase, tsl: TrustedList, *, file_name: str, actor: str) -> ListInfo:
    """Make ``tsl`` the store's list (inside the caller's transaction); raise :class:`ListRefused` if not newer."""
    current = current_list(db)
    if current is not None:
        stored = (current.version, dt.datetime.fromisoformat(current.issued_at))
        offered = (tsl.version, tsl.issued_at)
        if offered <= stored:
            raise ListRefused(current, same=offered == stored)
    now = _now()
    db.execute("DELETE FROM trust_certificates WHERE origin = 'list'")
    db.execute("DELETE FROM trust_crl_addresses")
    db.execute("DELETE FROM trust_ca_statuses")
    db.execute("DELETE FROM trust_cas")
    certificates = 0
    for ca in tsl.cas:
        ca_id = inserted_id(
            db.execute(
                "INSERT INTO trust_cas (registry_number, name, short_name, inn, ogrn, status, status_since)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                [
                    ca.registry_number,
                    ca.name,
                    ca.short_name,
                    ca.inn,
                    ca.ogrn,
                    ca.status,
                    _iso(ca.status_since) if ca.status_since else None,
                ],
            )
        )
        for status, since in ca.history:
            db.execute(
                "INSERT INTO trust_ca_statuses (ca_id, status, since) VALUES (?, ?, ?)",
                [ca_id, status, _iso(since) if since else None],
            )
        for key in ca.keys:
            for url in key.crl_urls:
                db.execute(
                    "INSERT OR IGNORE INTO trust_crl_addresses (ca_id, key_id, url) VALUES (?, ?, ?)",
                    [ca_id, key.key_id, url],
                )
            for cert in key.certificates:
                cursor = db.execute(
                    "INSERT OR IGNORE INTO trust_certificates (origin, ca_id, key_id, thumbprint, subject, issuer,"
                    " serial, not_before, not_after, self_signed, der, added_at, added_by)"
                    " VALUES ('list', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    [
                        ca_id,
                        key.key_id,
                        cert.thumbprint,
                        cert.subject,
                        cert.issuer,
                        cert.serial,
                        _iso(cert.not_before),
                        _iso(cert.not_after),
                        int(cert.self_signed),
                        cert.der,
                        now,
                        actor,
                    ],
                )
                certificates += cursor.rowcount
    info = ListInfo(
        tsl.version, _iso(tsl.issued_at), tsl.sha256, tsl.signed, file_name, len(tsl.cas), certificates, now
    )
    db.execute(
        f"INSERT INTO trust_lists ({_LIST_COLUMNS}, imported_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [*msgspec.structs.astuple(info)[:3], int(info.signed), *msgspec.structs.astuple(info)[4:], actor],
    )
    audit.append(
        db,
        actor=actor,
        action="trust.list_imported",
        object_type="trust_list",
        object_id=tsl.version,
        details={
            "version": tsl.version,
            "issued_at": info.issued_at,
            "sha256": tsl.sha256,
            "cas": len(tsl.cas),
            "certificates": certificates,
            "previous_version": current.version if current else None,
        },
    )
    return info


def add_root(
    db: SqliteUtilsDatabase,
    *,
    der: bytes,
    thumbprint: str,
    subject: str,
    issuer: str,
    serial: str,
    not_before: dt.datetime,
    not_after: dt.datetime,
    self_signed: bool,
    actor: str,
) -> bool:
    """Add an own root; False when it is there already (nothing written)."""
    cursor = db.execute(
        "INSERT OR IGNORE INTO trust_certificates (origin, thumbprint, subject, issuer, serial, not_before,"
        " not_after, self_signed, der, added_at, added_by) VALUES ('admin', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [thumbprint, subject, issuer, serial, _iso(not_before), _iso(not_after), int(self_signed), der, _now(), actor],
    )
    if cursor.rowcount == 0:
        return False
    audit.append(
        db,
        actor=actor,
        action="trust.root_added",
        object_type="trust_certificate",
        object_id=thumbprint,
        details={"subject": subject, "not_after": _iso(not_after)},
    )
    return True


def remove_root(db: SqliteUtilsDatabase, thumbprint: str, *, actor: str) -> str:
    """Remove an own root: ``removed``, ``in_list`` (only a list's certificate has it) or ``absent``."""
    row = db.execute(
        "SELECT subject FROM trust_certificates WHERE origin = 'admin' AND thumbprint = ?", [thumbprint]
    ).fetchone()
    if row is None:
        listed = db.execute(
            "SELECT 1 FROM trust_certificates WHERE origin = 'list' AND thumbprint = ?", [thumbprint]
        ).fetchone()
        return "in_list" if listed else "absent"
    db.execute("DELETE FROM trust_certificates WHERE origin = 'admin' AND thumbprint = ?", [thumbprint])
    audit.append(
        db,
        actor=actor,
        action="trust.root_removed",
        object_type="trust_certificate",
        object_id=thumbprint,
        details={"subject": row[0]},
    )
    return "removed"


def certificates(db: SqliteUtilsDatabase, *, origin: str | None = None) -> list[TrustedCertificate]:
    """The store's certificates, own roots first, then the list's by CA name."""
    rows = db.execute(
        "SELECT c.origin, c.thumbprint, c.subject, c.not_before, c.not_after, c.self_signed,"
        " COALESCE(a.short_name, ''), COALESCE(a.status, ''), c.added_at"
        " FROM trust_certificates c LEFT JOIN trust_cas a ON a.id = c.ca_id"
        " WHERE ? IS NULL OR c.origin = ? ORDER BY c.origin, a.short_name, c.subject",
        [origin, origin],
    ).fetchall()
    return [TrustedCertificate(r[0], r[1], r[2], r[3], r[4], bool(r[5]), r[6], r[7], r[8]) for r in rows]


def anchor_ders(db: SqliteUtilsDatabase) -> list[bytes]:
    """DER of every trust anchor: the own roots and the certificates of the CAs the list says are accredited."""
    rows = db.execute(
        "SELECT c.der FROM trust_certificates c LEFT JOIN trust_cas a ON a.id = c.ca_id"
        " WHERE c.origin = 'admin' OR a.status = ? ORDER BY c.id",
        [ACTIVE_STATUS],
    ).fetchall()
    return [bytes(r[0]) for r in rows]


def accreditation_history(db: SqliteUtilsDatabase, thumbprint: str) -> list[tuple[str, str | None]]:
    """(status, since) of the CA a listed certificate belongs to, oldest first (undated entries first)."""
    rows = db.execute(
        "SELECT s.status, s.since FROM trust_ca_statuses s JOIN trust_certificates c ON c.ca_id = s.ca_id"
        " WHERE c.origin = 'list' AND c.thumbprint = ? ORDER BY s.since IS NOT NULL, s.since, s.rowid",
        [thumbprint.upper()],
    ).fetchall()
    return [(r[0], r[1]) for r in rows]


def crl_addresses(db: SqliteUtilsDatabase, key_id: str) -> list[str]:
    """The CRL addresses the list gives for a CA key (its key id, lower-case hex: the AKI of what it issued)."""
    rows = db.execute(
        "SELECT DISTINCT url FROM trust_crl_addresses WHERE key_id = ? ORDER BY url", [key_id.lower()]
    ).fetchall()
    return [r[0] for r in rows]


def generation(db: SqliteUtilsDatabase) -> int:
    """A number that moves on every change of the anchors or CRL addresses (triggers of migration 0011)."""
    row = db.execute("SELECT generation FROM trust_state WHERE one = 1").fetchone()
    return int(row[0]) if row else 0


def refresh_requested(db: SqliteUtilsDatabase) -> int:
    """How many times the admin asked for an immediate CRL refresh (`klikdok trust refresh`)."""
    row = db.execute("SELECT refresh_requested FROM trust_state WHERE one = 1").fetchone()
    return int(row[0]) if row else 0


def request_refresh(db: SqliteUtilsDatabase, *, actor: str) -> int:
    db.execute("UPDATE trust_state SET refresh_requested = refresh_requested + 1 WHERE one = 1")
    audit.append(db, actor=actor, action="trust.refresh_requested", object_type="trust", object_id="crl")
    return refresh_requested(db)


def crl_address_map(db: SqliteUtilsDatabase) -> dict[str, tuple[str, ...]]:
    """The list's CRL addresses per CA key: key id (its SKI, upper-case hex, as the validation context wants it)
    -> addresses."""
    out: dict[str, list[str]] = {}
    for key_id, url in db.execute("SELECT DISTINCT key_id, url FROM trust_crl_addresses ORDER BY key_id, url"):
        if key_id:
            out.setdefault(key_id.upper(), []).append(url)
    return {key: tuple(urls) for key, urls in out.items()}
