"""Numbered schema migrations: the only way the schema changes.

Migrations run in registration order, each in one transaction together with its record in
``_sqlite_migrations`` (sqlite-utils' ``Migrations``), so a crash mid-migration leaves the previous
schema intact. Add new ones at the bottom with the next number; never edit an applied one.
"""

from __future__ import annotations

from sqlite_utils import Database as SqliteUtilsDatabase
from sqlite_utils.migrations import Migrations

migrations = Migrations("klikdok")


@migrations(name="0001_core")
def m0001_core(db: SqliteUtilsDatabase) -> None:
    db.execute("""
        CREATE TABLE settings (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TABLE audit_log (
            id INTEGER PRIMARY KEY,
            at TEXT NOT NULL,
            actor TEXT NOT NULL,
            action TEXT NOT NULL,
            object_type TEXT NOT NULL DEFAULT '',
            object_id TEXT NOT NULL DEFAULT '',
            details TEXT NOT NULL DEFAULT '{}',
            prev_hash TEXT NOT NULL,
            hash TEXT NOT NULL UNIQUE
        )""")
    db.execute("CREATE INDEX audit_log_object ON audit_log(object_type, object_id)")
    # The chain head is kept apart from the rows so that cutting rows off the end is detected too.
    db.execute("""
        CREATE TABLE audit_head (
            one INTEGER PRIMARY KEY CHECK (one = 1),
            last_id INTEGER NOT NULL,
            last_hash TEXT NOT NULL
        )""")
    db.execute("""
        CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
    db.execute("""
        CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")
    db.execute("""
        CREATE TABLE outbox (
            id INTEGER PRIMARY KEY,
            created_at TEXT NOT NULL,
            kind TEXT NOT NULL,
            payload TEXT NOT NULL,
            dedupe_key TEXT UNIQUE,
            status TEXT NOT NULL DEFAULT 'pending'
                CHECK (status IN ('pending', 'sending', 'delivered', 'failed')),
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at TEXT NOT NULL,
            last_error TEXT NOT NULL DEFAULT '',
            delivered_at TEXT
        )""")
    db.execute("CREATE INDEX outbox_due ON outbox(status, next_attempt_at)")


def pending(db: SqliteUtilsDatabase) -> list[str]:
    return [m.name for m in migrations.pending(db)]


def apply(db: SqliteUtilsDatabase) -> list[str]:
    """Apply pending migrations; returns the names applied."""
    todo = pending(db)
    migrations.apply(db)
    return todo


@migrations(name="0002_portals")
def m0002_portals(db: SqliteUtilsDatabase) -> None:
    # OAuth tokens are kept in clear because they must be reused; the application token is only ever
    # compared, so only its hash is kept.
    db.execute("""
        CREATE TABLE portals (
            member_id TEXT PRIMARY KEY,
            domain TEXT NOT NULL,
            client_endpoint TEXT NOT NULL,
            server_endpoint TEXT NOT NULL DEFAULT '',
            access_token TEXT NOT NULL DEFAULT '',
            refresh_token TEXT NOT NULL DEFAULT '',
            expires_at REAL,
            scope TEXT NOT NULL DEFAULT '',
            status TEXT NOT NULL DEFAULT '',
            application_token_hash TEXT NOT NULL DEFAULT '',
            installed_by INTEGER,
            installed_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            enabled INTEGER NOT NULL DEFAULT 1,
            disk_storage_id TEXT NOT NULL DEFAULT '',
            disk_root_folder_id INTEGER
        )""")
