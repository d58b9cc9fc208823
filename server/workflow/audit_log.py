"""The audit log as the auditor reads it: who by name, what as a phrase, which document by its title.

The log itself stores codes (``user:7``, ``agent.paired``, ``document 12``) because it is hash-chained and must
not change; this turns a page of it into what a person reads. Portal users are named through the directory's
user cache (one batch for the page), counterparties by their address, the server's own actors by role; the
phrases come from :mod:`server.db.audit_actions`. A document's title is a link only when the viewer may open the
document; otherwise the title the row recorded is shown as text.
"""

from __future__ import annotations

import logging
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import msgspec

from server.bitrix24 import Bitrix24Error
from server.db import Database, audit
from server.db.audit_actions import phrase

from . import store
from .directory import PortalDirectory, PortalMissing
from .permissions import Viewer

log = logging.getLogger(__name__)

# Actors that are not a portal user, by the prefix the log writes them with (``counterparty:<e-mail>``...).
_ACTOR_PREFIXES = {
    "counterparty": "Контрагент {}",
    "agent": "Агент подписи №{}",
    "ip": "Запрос с адреса {}",
}
_ACTORS = {
    "system": "Система",
    "cryptoarm": "Система (КриптоАРМ ГОСТ)",
    "admin:cli": "Администратор сервера (командная строка)",
}
# What each kind of object is called when it has no title of its own.
_OBJECTS = {
    "document": "Документ №{}",
    "user": "Сотрудник №{}",
    "agent": "Агент подписи №{}",
    "job": "Задание на подпись №{}",
    "cryptoarm": "Сеанс КриптоАРМ ГОСТ №{}",
    "portal": "Портал Битрикс24",
    "trust": "Списки отзыва",
    "trust_list": "Список аккредитованных УЦ",
    "trust_certificate": "Доверенный корневой сертификат",
}


class AuditLogRow(msgspec.Struct, kw_only=True):
    id: int
    at: str
    actor: str
    actor_name: str
    action: str
    action_label: str
    object_type: str
    object_id: str
    object_label: str
    # Set when the object is a document the viewer may open: the page links its title to the document's panel.
    document_id: int | None = None
    details: dict[str, Any]


class AuditLogPage(msgspec.Struct, kw_only=True):
    items: list[AuditLogRow]
    total: int
    limit: int
    offset: int


def day_bounds(since: date | None, until: date | None, zone: ZoneInfo) -> tuple[str, str]:
    """Calendar days in the portal's zone as the UTC bounds :func:`server.db.audit.search` compares with."""

    def start_of(day: date) -> str:
        moment = datetime.combine(day, time(0, 0), tzinfo=zone).astimezone(UTC)
        return moment.strftime("%Y-%m-%dT%H:%M:%S")

    return (start_of(since) if since else "", start_of(until + timedelta(days=1)) if until else "")


def _user_id(actor: str) -> int | None:
    kind, _, rest = actor.partition(":")
    return int(rest) if kind == "user" and rest.isdigit() else None


class AuditLog:
    def __init__(self, db: Database, directory: PortalDirectory) -> None:
        self.db = db
        self.directory = directory

    async def page(
        self,
        viewer: Viewer,
        *,
        q: str = "",
        action: str = "",
        document_id: int = 0,
        since: date | None = None,
        until: date | None = None,
        zone: ZoneInfo,
        limit: int = 50,
        offset: int = 0,
    ) -> AuditLogPage:
        viewer.require_auditor()
        actors = await self._people_named(q) if q else []
        since_at, until_at = day_bounds(since, until, zone)
        scope = viewer.scope()

        def read(d: Any) -> tuple[list[audit.AuditEntry], int, dict[int, str]]:
            rows, total = audit.search(
                d,
                q=q,
                actors=actors,
                action=action,
                document_id=document_id,
                since=since_at,
                until=until_at,
                limit=limit,
                offset=offset,
            )
            documents = [int(r.object_id) for r in rows if r.object_type == "document" and r.object_id.isdigit()]
            return rows, total, store.visible_titles(d, scope, documents)

        rows, total, titles = await self.db.read(read)
        people = [_user_id(r.actor) for r in rows]
        people += [int(r.object_id) for r in rows if r.object_type == "user" and r.object_id.isdigit()]
        names = await self._names(uid for uid in people if uid is not None)
        return AuditLogPage(items=[self._row(r, names, titles) for r in rows], total=total, limit=limit, offset=offset)

    async def _names(self, user_ids: Any) -> dict[int, str]:
        """Portal users' names from the directory's cache; none when the portal does not answer (the page still
        shows the log, with numbers for names)."""
        wanted = set(user_ids)
        if not wanted:
            return {}
        try:
            return {uid: u.full_name for uid, u in (await self.directory.users(wanted)).items()}
        except (Bitrix24Error, PortalMissing) as exc:
            log.warning("audit log: user names unavailable: %s", type(exc).__name__)
            return {}

    async def _people_named(self, q: str) -> list[str]:
        """The actors whose name contains ``q`` (active employees), so the log is searchable by name."""
        needle = q.casefold()
        try:
            people = await self.directory.people()
        except (Bitrix24Error, PortalMissing) as exc:
            log.warning("audit log: the employee list is unavailable: %s", type(exc).__name__)
            return []
        return [f"user:{p.id}" for p in people if needle in p.name.casefold()][:500]

    @staticmethod
    def _actor_name(actor: str, names: dict[int, str]) -> str:
        uid = _user_id(actor)
        if uid is not None:
            return names.get(uid) or f"Сотрудник №{uid}"
        if actor in _ACTORS:
            return _ACTORS[actor]
        kind, _, rest = actor.partition(":")
        if kind in _ACTOR_PREFIXES and rest:
            return _ACTOR_PREFIXES[kind].format(rest)
        return actor

    def _row(self, r: audit.AuditEntry, names: dict[int, str], titles: dict[int, str]) -> AuditLogRow:
        document_id: int | None = None
        label = _OBJECTS.get(r.object_type, r.object_type + " {}").format(r.object_id).strip()
        if r.object_type == "document" and r.object_id.isdigit():
            doc = int(r.object_id)
            if doc in titles:
                document_id, label = doc, titles[doc]
            elif isinstance(r.details.get("title"), str) and r.details["title"]:
                label = r.details["title"]
        elif r.object_type == "user" and r.object_id.isdigit() and int(r.object_id) in names:
            label = names[int(r.object_id)]
        return AuditLogRow(
            id=r.id,
            at=r.at,
            actor=r.actor,
            actor_name=self._actor_name(r.actor, names),
            action=r.action,
            action_label=phrase(r.action),
            object_type=r.object_type,
            object_id=r.object_id,
            object_label=label,
            document_id=document_id,
            details=r.details,
        )
