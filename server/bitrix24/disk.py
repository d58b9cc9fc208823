"""Bitrix24.Disk: the only place documents and signatures are stored.

Layout: <storage root>/KlikDok/<kind's group>/<kind's folder>/, e.g. KlikDok/Сделки/Сделка №<id>/ (the names are in
`server.bitrix24.entities`). Folders are created on first use and found again by name, so a retry or a second server
process never makes duplicates; the ids found are kept in a `FolderIndex` (the server's is in SQLite), so a folder
costs one lookup per portal, not one per upload: at 2 requests/s the portal has no budget for listing a folder
before every file.
Uploads always use the two-step `uploadUrl` form: it has no base64 overhead and works for any size.
"""

from __future__ import annotations

import asyncio
import mimetypes
import re
from pathlib import Path
from typing import Any, Protocol

import msgspec

from .client import Bitrix24Client
from .convert import to_int, to_str
from .entities import kind_of
from .errors import AlreadyExists, Bitrix24Error, ExpiredToken
from .masking import redact

BASE_FOLDER = "KlikDok"


class DiskFile(msgspec.Struct, frozen=True):
    id: int
    name: str
    size: int
    folder_id: int | None
    storage_id: int | None
    download_url: str  # embeds an access token: never log it
    detail_url: str

    def __repr__(self) -> str:
        return (
            f"DiskFile(id={self.id}, name={self.name!r}, size={self.size}, folder_id={self.folder_id}, "
            f"download_url={redact(self.download_url)!r})"
        )


class DiskFolder(msgspec.Struct, frozen=True):
    id: int
    name: str
    parent_id: int | None
    storage_id: int | None


def file_from(raw: dict[str, Any]) -> DiskFile:
    return DiskFile(
        id=to_int(raw.get("ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        size=to_int(raw.get("SIZE"), 0) or 0,
        folder_id=to_int(raw.get("PARENT_ID")),
        storage_id=to_int(raw.get("STORAGE_ID")),
        download_url=to_str(raw.get("DOWNLOAD_URL")),
        detail_url=to_str(raw.get("DETAIL_URL")),
    )


def folder_from(raw: dict[str, Any]) -> DiskFolder:
    return DiskFolder(
        id=to_int(raw.get("ID"), 0) or 0,
        name=to_str(raw.get("NAME")),
        parent_id=to_int(raw.get("PARENT_ID")),
        storage_id=to_int(raw.get("STORAGE_ID")),
    )


class FolderIndex(Protocol):
    """Where folder ids found on one portal's Disk are remembered, keyed by (parent folder id, name)."""

    async def get(self, parent_id: int, name: str) -> int | None: ...

    async def put(self, parent_id: int, name: str, folder_id: int) -> None: ...

    async def forget(self) -> None:
        """Drop every remembered id (a folder was deleted or moved on the portal)."""


class MemoryFolderIndex:
    """A FolderIndex for one process's lifetime (scripts and tests; the server keeps its ids in SQLite)."""

    def __init__(self) -> None:
        self._ids: dict[tuple[int, str], int] = {}

    async def get(self, parent_id: int, name: str) -> int | None:
        return self._ids.get((parent_id, name))

    async def put(self, parent_id: int, name: str, folder_id: int) -> None:
        self._ids[(parent_id, name)] = folder_id

    async def forget(self) -> None:
        self._ids.clear()


def name_variants(name: str) -> re.Pattern[str]:
    """`name` and the unique names the portal makes from it (`a.pdf` -> `a (1).pdf`, `a (2).pdf`...)."""
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem:
        stem, dot, ext = name, "", ""
    return re.compile(re.escape(stem) + r"(?: \(\d+\))?" + re.escape(dot + ext))


class DiskService:
    """Folder-per-entity storage on the portal's Disk.

    storage_id: use this storage (e.g. the common company drive); by default the client's
        `disk_storage_id` setting; 0/empty means the app's own storage (`disk.storage.getforapp`, which needs
        an admin's app token the first time).
    """

    def __init__(
        self,
        client: Bitrix24Client,
        *,
        storage_id: str | int | None = None,
        base_folder: str = BASE_FOLDER,
        index: FolderIndex | None = None,
    ) -> None:
        self.client = client
        self.base_folder = base_folder
        if storage_id is None:
            storage_id = client.settings.disk_storage_id
        self.storage_id = str(storage_id) if storage_id not in (None, "", 0, "0") else ""
        self.index: FolderIndex = index or MemoryFolderIndex()
        self._root_id: int | None = None
        self._lock = asyncio.Lock()

    @property
    def _root_key(self) -> str:
        return f"storage:{self.storage_id or 'app'}"

    async def root_folder_id(self) -> int:
        if self._root_id is None:
            self._root_id = await self.index.get(0, self._root_key)
        if self._root_id is None:
            if self.storage_id:
                storage = await self.client.call("disk.storage.get", {"id": self.storage_id})
            else:
                storage = await self.client.call("disk.storage.getforapp")
            root = to_int((storage or {}).get("ROOT_OBJECT_ID"))
            if not root:
                raise Bitrix24Error("disk.storage.get", "NO_ROOT", "the storage has no root folder")
            await self.index.put(0, self._root_key, root)
            self._root_id = root
        return self._root_id

    async def forget_folders(self) -> None:
        """Forget every remembered folder id: the next use looks them up again (after a NotFound)."""
        self._root_id = None
        await self.index.forget()

    async def find_child_folder(self, parent_id: int, name: str) -> DiskFolder | None:
        rows = await self.client.list_all(
            "disk.folder.getchildren", {"id": parent_id, "filter": {"NAME": name, "TYPE": "folder"}}
        )
        for row in rows:
            if isinstance(row, dict) and to_str(row.get("NAME")) == name and to_str(row.get("TYPE")) == "folder":
                return folder_from(row)
        return None

    async def ensure_folder(self, parent_id: int, name: str) -> int:
        """The id of `parent/name`, creating it if missing. Safe to call concurrently and repeatedly."""
        known = await self.index.get(parent_id, name)
        if known is not None:
            return known
        async with self._lock:
            known = await self.index.get(parent_id, name)
            if known is not None:
                return known
            existing = await self.find_child_folder(parent_id, name)
            if existing is None:
                try:
                    created = await self.client.call(
                        "disk.folder.addsubfolder", {"id": parent_id, "data": {"NAME": name}}
                    )
                    existing = folder_from(created)
                except AlreadyExists:
                    # Another process created it between our lookup and our create.
                    existing = await self.find_child_folder(parent_id, name)
                    if existing is None:
                        raise
            await self.index.put(parent_id, name, existing.id)
            return existing.id

    async def entity_folder(self, kind: str, entity_id: int) -> int:
        """The folder of one CRM record, named by its kind's entry (created on first use)."""
        entry = kind_of(kind)
        base = await self.ensure_folder(await self.root_folder_id(), self.base_folder)
        group = await self.ensure_folder(base, entry.disk_group)
        return await self.ensure_folder(group, entry.disk_folder.format(id=entity_id))

    async def upload(
        self,
        folder_id: int,
        name: str,
        source: bytes | Path,
        *,
        unique_name: bool = True,
        content_type: str | None = None,
    ) -> DiskFile:
        """Upload through the two-step form: ask for an `uploadUrl`, then POST the file there as multipart.

        A Path is streamed from disk. If the token expires between the steps, the client refreshes it and the
        upload starts over once (the first step is cheap and the second failed before storing anything).
        """
        content_type = content_type or mimetypes.guess_type(name)[0] or "application/octet-stream"
        for attempt in (1, 2):
            ticket = await self.client.call(
                "disk.folder.uploadfile",
                {
                    "id": folder_id,
                    "data": {"NAME": name},
                    "generateUniqueName": unique_name,
                },
            )
            if not isinstance(ticket, dict) or not ticket.get("uploadUrl"):
                raise Bitrix24Error("disk.folder.uploadfile", "NO_UPLOAD_URL", "the portal gave no uploadUrl")
            try:
                envelope = await self.client.upload_to(
                    ticket["uploadUrl"], to_str(ticket.get("field")) or "file", name, source, content_type
                )
            except ExpiredToken:
                if attempt == 2 or self.client.settings.mode != "oauth":
                    raise
                await self.client.refresh_tokens()
                continue
            return file_from(envelope.get("result") or {})
        raise AssertionError("unreachable")

    async def get_file(self, file_id: int) -> DiskFile:
        return file_from(await self.client.call("disk.file.get", {"id": file_id}) or {})

    async def download(self, file_id: int, sink: Path | None = None) -> bytes | int:
        """Fetch a fresh DOWNLOAD_URL (it embeds a short-lived token) and download from it."""
        for attempt in (1, 2):
            info = await self.get_file(file_id)
            try:
                return await self.client.download_from(info.download_url, sink)
            except ExpiredToken:
                if attempt == 2 or self.client.settings.mode != "oauth":
                    raise
                await self.client.refresh_tokens()
        raise AssertionError("unreachable")

    async def find_files(self, folder_id: int, name: str) -> list[DiskFile]:
        """Files in the folder named `name` or a unique variant of it (`name (1).ext`), newest first.

        One filtered `getchildren` (`%NAME` is a substring filter), checked again here by the exact pattern.
        """
        stem = name.rpartition(".")[0] or name
        rows = await self.client.list_all(
            "disk.folder.getchildren", {"id": folder_id, "filter": {"%NAME": stem, "TYPE": "file"}}
        )
        pattern = name_variants(name)
        found = [
            file_from(r)
            for r in rows
            if isinstance(r, dict) and to_str(r.get("TYPE")) == "file" and pattern.fullmatch(to_str(r.get("NAME")))
        ]
        return sorted(found, key=lambda f: f.id, reverse=True)

    async def list_files(self, folder_id: int) -> list[DiskFile]:
        rows = await self.client.list_all("disk.folder.getchildren", {"id": folder_id})
        return [file_from(r) for r in rows if isinstance(r, dict) and to_str(r.get("TYPE")) == "file"]
