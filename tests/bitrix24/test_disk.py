"""Disk: folder per entity (idempotent), two-step upload streamed from a file, download by DOWNLOAD_URL."""

from __future__ import annotations

import asyncio
import hashlib
import os
from pathlib import Path

import pytest

from demo.portal_emulator import PortalEmulator
from server.bitrix24 import Bitrix24Client, DiskService, MemoryTokenStore
from server.bitrix24.errors import AccessDenied

from .conftest import webhook_settings


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


async def test_20mb_round_trip_is_byte_identical(
    portal: PortalEmulator, client: Bitrix24Client, tmp_path: Path
) -> None:
    source = tmp_path / "договор.pdf"
    with source.open("wb") as f:
        for _ in range(20):
            f.write(os.urandom(1 << 20))
    disk = DiskService(client)
    folder = await disk.entity_folder("deal", 1)
    uploaded = await disk.upload(folder, source.name, source)
    assert uploaded.size == 20 * (1 << 20)
    assert uploaded.name == "договор.pdf" and uploaded.folder_id == folder
    stored = portal.state.file_bytes[uploaded.id]
    assert hashlib.sha256(stored).hexdigest() == _digest(source)

    target = tmp_path / "back.pdf"
    size = await disk.download(uploaded.id, target)
    assert size == source.stat().st_size
    assert _digest(target) == _digest(source)
    # In memory too, for small files.
    assert await disk.download(uploaded.id) == stored


async def test_entity_folders_are_created_once(
    portal: PortalEmulator, client: Bitrix24Client, token_store: MemoryTokenStore
) -> None:
    disk = DiskService(client)
    first = await disk.entity_folder("deal", 1)
    again = await disk.entity_folder("deal", 1)
    assert first == again
    # A fresh service (another process, a restart) finds the folder instead of making a second one.
    other = await DiskService(client).entity_folder("deal", 1)
    assert other == first
    # Concurrent first use from different service instances still ends with one folder per name.
    results = await asyncio.gather(*(DiskService(client).entity_folder("company", 3) for _ in range(5)))
    assert len(set(results)) == 1
    names = [f["NAME"] for f in portal.state.folders.values()]
    assert names.count("Сделка №1") == 1
    assert names.count("Компания №3") == 1
    assert names.count("Сделки") == 1 and names.count("Компании") == 1
    company_folder = portal.state.folders[results[0]]
    group = portal.state.folders[int(company_folder["PARENT_ID"])]
    assert group["NAME"] == "Компании"
    base = portal.state.folders[int(group["PARENT_ID"])]
    assert base["NAME"] == "KlikDok" and names.count("KlikDok") == 1
    assert base["PARENT_ID"] == portal.state.storage["ROOT_OBJECT_ID"]  # inside the app's storage


async def test_same_name_gets_a_unique_name(portal: PortalEmulator, client: Bitrix24Client) -> None:
    disk = DiskService(client)
    folder = await disk.entity_folder("company", 2)
    a = await disk.upload(folder, "акт.pdf", b"%PDF-1 first")
    b = await disk.upload(folder, "акт.pdf", b"%PDF-1 second")
    assert a.name == "акт.pdf" and b.name == "акт (1).pdf"
    assert sorted(f.name for f in await disk.list_files(folder)) == ["акт (1).pdf", "акт.pdf"]


async def test_upload_and_download_survive_token_expiry(
    portal: PortalEmulator, client: Bitrix24Client, token_store: MemoryTokenStore
) -> None:
    disk = DiskService(client)
    folder = await disk.entity_folder("deal", 2)
    portal.state.expire_access_tokens()
    uploaded = await disk.upload(folder, "счёт.xml", b"<xml/>")
    assert portal.state.refresh_count == 1
    portal.state.expire_access_tokens()
    assert await disk.download(uploaded.id) == b"<xml/>"
    assert portal.state.refresh_count == 2
    assert len(token_store.history) == 2


async def test_configured_storage_works_over_a_webhook(portal: PortalEmulator) -> None:
    """The app's own storage needs app context; a configured storage id works with a webhook."""
    async with Bitrix24Client(webhook_settings(portal)) as hook:
        with pytest.raises(AccessDenied):
            await DiskService(hook).root_folder_id()
        disk = DiskService(hook, storage_id=portal.state.common_storage["ID"])
        folder = await disk.entity_folder("deal", 3)
        uploaded = await disk.upload(folder, "подпись.sig", b"\x30\x82\x01\x00")
        assert await disk.download(uploaded.id) == b"\x30\x82\x01\x00"
        assert portal.state.folders[folder]["STORAGE_ID"] == portal.state.common_storage["ID"]
