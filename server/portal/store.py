"""Installed portals in SQLite, and the TokenStore the REST client saves refreshed tokens to.

Bitrix rotates the refresh token on every refresh, so a refreshed pair is written (and committed) before
the client uses it: a crash right after a refresh must not leave us holding a dead refresh token.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any

import msgspec
from sqlite_utils import Database as SqliteUtilsDatabase

from server.bitrix24 import OAuthTokens
from server.db import Database, audit


class Portal(msgspec.Struct, frozen=True):
    member_id: str
    domain: str
    client_endpoint: str
    server_endpoint: str
    application_token_hash: str
    enabled: bool
    installed_at: str
    installed_by: int | None = None
    disk_storage_id: str = ""
    disk_root_folder_id: int | None = None
    has_tokens: bool = False
    generation: int = 0

    @property
    def origin(self) -> str:
        """The portal's web origin (scheme://host[:port]), for frame-ancestors and postMessage."""
        return self.client_endpoint.removesuffix("/rest/").rstrip("/")


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def application_token_matches(portal: Portal, token: str) -> bool:
    return bool(token) and hmac.compare_digest(portal.application_token_hash, token_hash(token))


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


_COLUMNS = (
    "member_id, domain, client_endpoint, server_endpoint, application_token_hash, enabled, installed_at,"
    " installed_by, disk_storage_id, disk_root_folder_id, access_token != '' AS has_tokens, generation"
)


def _portal(row: tuple[Any, ...]) -> Portal:
    return Portal(
        member_id=row[0],
        domain=row[1],
        client_endpoint=row[2],
        server_endpoint=row[3],
        application_token_hash=row[4],
        enabled=bool(row[5]),
        installed_at=row[6],
        installed_by=row[7],
        disk_storage_id=row[8],
        disk_root_folder_id=row[9],
        has_tokens=bool(row[10]),
        generation=row[11],
    )


def get(db: SqliteUtilsDatabase, member_id: str) -> Portal | None:
    row = db.execute(f"SELECT {_COLUMNS} FROM portals WHERE member_id = ?", [member_id]).fetchone()
    return _portal(row) if row else None


def active(db: SqliteUtilsDatabase) -> Portal | None:
    """The portal this server serves: the most recently installed enabled one."""
    row = db.execute(
        f"SELECT {_COLUMNS} FROM portals WHERE enabled = 1 ORDER BY installed_at DESC, rowid DESC LIMIT 1"
    ).fetchone()
    return _portal(row) if row else None


def every(db: SqliteUtilsDatabase) -> list[Portal]:
    """Every portal ever installed, enabled or not, oldest install first (the admin's status listing)."""
    return [_portal(r) for r in db.execute(f"SELECT {_COLUMNS} FROM portals ORDER BY installed_at").fetchall()]


def save_install(db: SqliteUtilsDatabase, tokens: OAuthTokens, *, installed_by: int | None) -> None:
    """Record an install or re-install (inside the caller's transaction) with its audit row.

    The caller has proven `tokens` and fills the addresses from the configuration, not from the request.
    The generation moves on, so page sessions issued before this install stop working.
    """
    now = _now()
    db.execute(
        "INSERT INTO portals (member_id, domain, client_endpoint, server_endpoint, access_token, refresh_token,"
        " expires_at, scope, status, application_token_hash, installed_by, installed_at, updated_at, enabled,"
        " generation) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, 1)"
        " ON CONFLICT(member_id) DO UPDATE SET domain = excluded.domain,"
        " client_endpoint = excluded.client_endpoint, server_endpoint = excluded.server_endpoint,"
        " access_token = excluded.access_token, refresh_token = excluded.refresh_token,"
        " expires_at = excluded.expires_at, scope = excluded.scope, status = excluded.status,"
        " application_token_hash = CASE WHEN excluded.application_token_hash != ''"
        "   THEN excluded.application_token_hash ELSE portals.application_token_hash END,"
        " installed_by = excluded.installed_by, installed_at = excluded.installed_at,"
        " updated_at = excluded.updated_at, enabled = 1, generation = portals.generation + 1",
        [
            tokens.member_id,
            tokens.domain,
            tokens.client_endpoint,
            tokens.server_endpoint,
            tokens.access_token,
            tokens.refresh_token,
            tokens.expires_at,
            tokens.scope,
            tokens.status,
            token_hash(tokens.application_token) if tokens.application_token else "",
            installed_by,
            now,
            now,
        ],
    )
    audit.append(
        db,
        actor=f"user:{installed_by}" if installed_by else "portal",
        action="portal.installed",
        object_type="portal",
        object_id=tokens.member_id,
        details={"domain": tokens.domain},
    )


def save_disk(db: SqliteUtilsDatabase, member_id: str, storage_id: str, root_folder_id: int) -> None:
    db.execute(
        "UPDATE portals SET disk_storage_id = ?, disk_root_folder_id = ?, updated_at = ? WHERE member_id = ?",
        [storage_id, root_folder_id, _now(), member_id],
    )


def disable(db: SqliteUtilsDatabase, member_id: str, *, actor: str, reason: str) -> bool:
    """Uninstall: forget the tokens and stop serving the portal (its sessions die with the generation)."""
    cur = db.execute(
        "UPDATE portals SET enabled = 0, access_token = '', refresh_token = '', updated_at = ?,"
        " generation = generation + 1 WHERE member_id = ? AND enabled = 1",
        [_now(), member_id],
    )
    if cur.rowcount:
        audit.append(
            db,
            actor=actor,
            action="portal.disabled",
            object_type="portal",
            object_id=member_id,
            details={"reason": reason},
        )
    return bool(cur.rowcount)


class SqliteTokenStore:
    """The REST client's TokenStore for one installed portal."""

    def __init__(self, db: Database, member_id: str) -> None:
        self.db = db
        self.member_id = member_id

    async def load(self) -> OAuthTokens | None:
        def read(d: SqliteUtilsDatabase) -> OAuthTokens | None:
            row = d.execute(
                "SELECT access_token, refresh_token, client_endpoint, server_endpoint, member_id,"
                " domain, scope, status, expires_at FROM portals WHERE member_id = ? AND enabled = 1",
                [self.member_id],
            ).fetchone()
            if not row or not row[0]:
                return None
            return OAuthTokens(
                access_token=row[0],
                refresh_token=row[1],
                client_endpoint=row[2],
                server_endpoint=row[3],
                member_id=row[4],
                domain=row[5],
                scope=row[6],
                status=row[7],
                expires_at=row[8],
            )

        return await self.db.read(read)

    async def save(self, tokens: OAuthTokens) -> None:
        def write(d: SqliteUtilsDatabase) -> None:
            d.execute(
                "UPDATE portals SET access_token = ?, refresh_token = ?, expires_at = ?, updated_at = ?"
                " WHERE member_id = ?",
                [tokens.access_token, tokens.refresh_token, tokens.expires_at, _now(), self.member_id],
            )

        await self.db.write(write)

    def __repr__(self) -> str:
        return f"SqliteTokenStore(member_id={self.member_id!r})"
