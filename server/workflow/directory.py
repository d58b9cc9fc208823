"""The portal's people as the workflow sees them: the connected client, users, departments and short-lived caches.

It changes when the way KlikDok learns who someone is changes: which portal calls answer "who is this user",
"who heads which department", "who is in the auditor group", and how long those answers are trusted. The
client, the user and department directories and the Disk service are rebuilt whenever the portal hands out a
new client (a reinstall); the signer picker's list, the auditor group and the ИНН of the portal's own company
(certificate onboarding compares a certificate's organisation with it) are kept for five minutes, and the
department tree is cached by its own directory.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable

import msgspec

from server.bitrix24 import (
    Bitrix24Client,
    Bitrix24Error,
    CrmService,
    DepartmentDirectory,
    DiskService,
    User,
    UserDirectory,
)
from server.bitrix24.users import user_from
from server.config import Settings
from server.portal.service import PortalService

from .permissions import Viewer

log = logging.getLogger(__name__)

PEOPLE_CACHE_SECONDS = 300.0


class PortalMissing(Exception):
    """The portal is not connected or did not answer (HTTP 502/503)."""


class PersonInfo(msgspec.Struct, kw_only=True):
    id: int
    name: str
    position: str
    departments: list[int]


class PortalDirectory:
    """One per running server; every service that needs the portal's client or its people asks here."""

    def __init__(self, settings: Settings, portal: PortalService) -> None:
        self.settings = settings
        self.portal = portal
        self._client: Bitrix24Client | None = None
        self._users: UserDirectory | None = None
        self._departments: DepartmentDirectory | None = None
        self._disk: DiskService | None = None
        self._people: tuple[float, list[PersonInfo]] | None = None
        self._auditor_group: tuple[float, frozenset[int]] | None = None
        self._own_inns: tuple[float, frozenset[str]] | None = None

    async def client(self) -> Bitrix24Client:
        client = await self.portal.client()
        if client is None:
            raise PortalMissing("Портал Битрикс24 не подключён: установите приложение KlikDok на портале.")
        if client is not self._client:
            self._client = client
            self._users = UserDirectory(client)
            self._departments = DepartmentDirectory(client)
            self._disk = DiskService(client)
        return client

    async def disk(self) -> DiskService:
        """The Disk service of the current client (PortalMissing when the portal is not connected)."""
        await self.client()
        assert self._disk is not None
        return self._disk

    async def user(self, user_id: int) -> User | None:
        await self.client()
        assert self._users is not None
        return await self._users.get(user_id)

    async def users(self, user_ids: Iterable[int]) -> dict[int, User]:
        await self.client()
        assert self._users is not None
        return await self._users.get_many(user_ids)

    async def people(self) -> list[PersonInfo]:
        """Active employees for the signer picker (cached for five minutes)."""
        if self._people and time.monotonic() - self._people[0] < PEOPLE_CACHE_SECONDS:
            return self._people[1]
        client = await self.client()
        rows = await client.list_all("user.get", {"FILTER": {"ACTIVE": True}})
        people = sorted(
            (
                PersonInfo(id=u.id, name=u.full_name, position=u.work_position, departments=u.departments)
                for u in (user_from(r) for r in rows if isinstance(r, dict))
                if u.active
            ),
            key=lambda p: p.name,
        )
        self._people = (time.monotonic(), people)
        return people

    async def own_company_inns(self) -> frozenset[str]:
        """The ИНН in the requisites of the portal's own companies (``IS_MY_COMPANY``), cached for five minutes.

        A failure (PortalMissing, Bitrix24Error) is raised, not cached: the caller decides what an unknown
        answer means, and the next call asks again."""
        if self._own_inns and time.monotonic() - self._own_inns[0] < PEOPLE_CACHE_SECONDS:
            return self._own_inns[1]
        crm = CrmService(await self.client())
        inns: set[str] = set()
        for company in (await crm.my_companies())[:20]:
            inns.update(r.inn for r in await crm.company_requisites(company.id) if r.active and r.inn)
        found = frozenset(inns)
        self._own_inns = (time.monotonic(), found)
        return found

    async def _auditor_group_members(self) -> frozenset[int]:
        group = self.settings.policy.auditor_group_id
        if not group:
            return frozenset()
        if self._auditor_group and time.monotonic() - self._auditor_group[0] < PEOPLE_CACHE_SECONDS:
            return self._auditor_group[1]
        try:
            rows = await (await self.client()).call("sonet_group.user.get", {"ID": group}) or []
            members = frozenset(int(r["USER_ID"]) for r in rows if isinstance(r, dict) and r.get("USER_ID"))
        except (Bitrix24Error, PortalMissing, ValueError) as exc:
            log.warning("cannot read the auditor group: %s", type(exc).__name__)
            members = frozenset()
        self._auditor_group = (time.monotonic(), members)
        return members

    async def viewer(self, user_id: int) -> Viewer:
        """The viewer's rights: auditor from the config, department heads from the portal's tree (cached)."""
        auditor = user_id in self.settings.policy.auditor_user_ids or user_id in await self._auditor_group_members()
        managed: frozenset[int] = frozenset()
        try:
            await self.client()
            assert self._departments is not None
            tree = await self._departments.all()
            heads = [d.id for d in tree.values() if d.head == user_id]
            if heads:
                managed = frozenset(await self._departments.subtree(heads))
        except (Bitrix24Error, PortalMissing) as exc:
            log.warning("department tree unavailable: %s", type(exc).__name__)
        return Viewer(user_id=user_id, auditor=auditor, managed_departments=managed)
