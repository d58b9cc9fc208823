"""Portal users and departments, cached.

Names, e-mails and the department tree are read on almost every page (route pickers, "my department"
filters) and change rarely; a short TTL cache keeps a 2 req/s portal out of the page's critical path.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

import msgspec

from .client import Bitrix24Client
from .convert import int_list, to_bool, to_int, to_str


class User(msgspec.Struct, frozen=True):
    id: int
    name: str
    last_name: str
    second_name: str
    email: str
    active: bool
    work_position: str
    departments: list[int]

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.last_name, self.name, self.second_name) if part) or f"#{self.id}"


class Department(msgspec.Struct, frozen=True):
    id: int
    name: str
    parent: int | None
    head: int | None
    sort: int


def user_from(raw: dict[str, Any]) -> User:
    return User(
        id=to_int(raw.get("ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        last_name=to_str(raw.get("LAST_NAME")),
        second_name=to_str(raw.get("SECOND_NAME")),
        email=to_str(raw.get("EMAIL")),
        active=to_bool(raw.get("ACTIVE", True)),
        work_position=to_str(raw.get("WORK_POSITION")),
        departments=int_list(raw.get("UF_DEPARTMENT")),
    )


def department_from(raw: dict[str, Any]) -> Department:
    return Department(
        id=to_int(raw.get("ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        parent=to_int(raw.get("PARENT")) or None,
        head=to_int(raw.get("UF_HEAD")) or None,
        sort=to_int(raw.get("SORT"), 500) or 0,
    )


class UserDirectory:
    """`user.get` / `user.current` with a per-user TTL cache."""

    def __init__(
        self, client: Bitrix24Client, *, ttl: float = 300.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._cache: dict[int, tuple[float, User]] = {}

    def _fresh(self, user_id: int) -> User | None:
        hit = self._cache.get(user_id)
        if hit and self._clock() - hit[0] < self.ttl:
            return hit[1]
        return None

    def _remember(self, user: User) -> User:
        self._cache[user.id] = (self._clock(), user)
        return user

    def invalidate(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._cache.clear()
        else:
            self._cache.pop(user_id, None)

    async def get(self, user_id: int) -> User | None:
        cached = self._fresh(user_id)
        if cached is not None:
            return cached
        rows = await self.client.call("user.get", {"FILTER": {"ID": user_id}}) or []
        for row in rows:
            if isinstance(row, dict) and to_int(row.get("ID")) == user_id:
                return self._remember(user_from(row))
        return None

    async def get_many(self, user_ids: Iterable[int]) -> dict[int, User]:
        """Several users; cache misses are fetched together in one `batch`."""
        wanted = list(dict.fromkeys(user_ids))
        found = {uid: u for uid in wanted if (u := self._fresh(uid)) is not None}
        missing = [uid for uid in wanted if uid not in found]
        if missing:
            outcome = await self.client.batch([("user.get", {"FILTER": {"ID": uid}}) for uid in missing])
            for index, _uid in enumerate(missing):
                if str(index) in outcome.errors:
                    raise outcome.errors[str(index)]
                for row in outcome.results.get(str(index)) or []:
                    if isinstance(row, dict):
                        user = self._remember(user_from(row))
                        found[user.id] = user
        return found

    async def current(self, *, access_token: str | None = None, endpoint: str | None = None) -> User:
        """The user behind the client's credentials, or behind `access_token` (a placement's AUTH_ID).

        With an explicit token the answer is not cached: it is used to prove that token is genuine.
        """
        if access_token is not None:
            raw = await self.client.call("user.current", auth=access_token, endpoint=endpoint)
            return user_from(raw)
        return self._remember(user_from(await self.client.call("user.current")))

    async def in_departments(self, department_ids: Iterable[int]) -> list[User]:
        """Active employees of the given departments (not of their sub-departments)."""
        users: dict[int, User] = {}
        for dept in dict.fromkeys(department_ids):
            rows = await self.client.list_all("user.get", {"FILTER": {"UF_DEPARTMENT": dept, "ACTIVE": True}})
            for row in rows:
                if isinstance(row, dict):
                    user = self._remember(user_from(row))
                    users[user.id] = user
        return sorted(users.values(), key=lambda u: u.id)


class DepartmentDirectory:
    """The department tree from `department.get`, cached as a whole (it is small and changes rarely)."""

    def __init__(
        self, client: Bitrix24Client, *, ttl: float = 600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.client = client
        self.ttl = ttl
        self._clock = clock
        self._loaded_at: float | None = None
        self._by_id: dict[int, Department] = {}

    def invalidate(self) -> None:
        self._loaded_at = None

    async def all(self) -> dict[int, Department]:
        if self._loaded_at is None or self._clock() - self._loaded_at >= self.ttl:
            rows = await self.client.list_all("department.get", {"sort": "ID", "order": "ASC"}, start_key="START")
            self._by_id = {d.id: d for d in (department_from(r) for r in rows if isinstance(r, dict))}
            self._loaded_at = self._clock()
        return self._by_id

    async def get(self, department_id: int) -> Department | None:
        return (await self.all()).get(department_id)

    async def headed_by(self, user_id: int) -> list[Department]:
        """Departments whose head (`UF_HEAD`) is this user; asks the portal, so it is exact even if the cached
        tree is a few minutes old."""
        rows = await self.client.list_all("department.get", {"UF_HEAD": user_id}, start_key="START")
        return [department_from(r) for r in rows if isinstance(r, dict)]

    async def subtree(self, root_ids: Iterable[int]) -> set[int]:
        """The given departments and all their descendants (via `PARENT`)."""
        tree = await self.all()
        children: dict[int, list[int]] = {}
        for dept in tree.values():
            if dept.parent is not None:
                children.setdefault(dept.parent, []).append(dept.id)
        seen: set[int] = set()
        stack = list(root_ids)
        while stack:
            current = stack.pop()
            if current in seen:
                continue
            seen.add(current)
            stack.extend(children.get(current, []))
        return seen

    async def managed_subtree(self, user_id: int) -> set[int]:
        """Every department a head sees: the ones they head and everything below them."""
        return await self.subtree(d.id for d in await self.headed_by(user_id))
