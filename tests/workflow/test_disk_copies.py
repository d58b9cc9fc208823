"""Disk copies from the outbox against the emulator: what they cost in REST calls, and that bulk Disk work never
holds up a notification (issue 11)."""

from __future__ import annotations

import asyncio
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24 import Bitrix24Client, MemoryTokenStore, OAuthTokens, PortalSettings
from server.db import Database, outbox
from server.workflow import effects, states
from server.workflow.outbox_worker import OutboxWorker
from tests.support.rows import document
from tests.workflow.conftest import wait_for


def oauth_client(emu: PortalEmulator, **limits: Any) -> Bitrix24Client:
    settings = PortalSettings(
        mode="oauth", client_id=emu.state.config.client_id, client_secret=emu.state.config.client_secret, **limits
    )
    store = MemoryTokenStore(OAuthTokens.from_oauth_response(emu.state.issue_tokens(1)))
    return Bitrix24Client(settings, token_store=store, backoff_base=0.05)


def signed_documents(emu: PortalEmulator, count: int, start: int = 0) -> Any:
    """``count`` documents on deal 1, each with one file already on Disk and one accepted signature whose Disk copy
    waits in the outbox (what ``accept_signature`` leaves behind)."""

    def fill(d: Any) -> None:
        for n in range(start, start + count):
            data = f"документ {n}".encode()
            fid = emu.state.store_file(100, f"file-{n}.pdf", data, 1, True)
            doc_id = states.create_draft(
                d,
                title=f"Документ {n}",
                entity_type="deal",
                entity_id=1,
                company_id=None,
                author_id=4,
                author_name="Морозова",
                department_id=None,
                files=[
                    {
                        "name": f"file-{n}.pdf",
                        "size": len(data),
                        "content_type": "application/pdf",
                        "streebog256": hashlib.sha256(data).hexdigest(),
                        "streebog512": "0" * 128,
                        "disk_file_id": fid,
                    }
                ],
                signers=[(1, "Соколов")],
                counterparty={},
                disk_folder_id=None,
            )
            file_id = d.execute("SELECT id FROM document_files WHERE document_id = ?", [doc_id]).fetchone()[0]
            step_id = d.execute(
                "SELECT id FROM route_steps WHERE document_id = ? AND position = 1", [doc_id]
            ).fetchone()[0]
            cur = d.execute(
                "INSERT INTO signatures (document_id, file_id, step_id, signer_kind, signer_user_id, source, cms,"
                " cms_sha256, status, verification, accepted_at) VALUES (?, ?, ?, 'internal', 1, 'upload', ?, '',"
                " 'valid', '{}', '2026-01-01T00:00:00+00:00')",
                [doc_id, file_id, step_id, f"cms {n}".encode()],
            )
            effects.store_signature_on_disk(d, int(cur.lastrowid))

    return fill


async def drain(worker: OutboxWorker) -> None:
    while await worker.deliver_once():
        pass


async def test_signature_copies_cost_one_upload_each_not_a_folder_listing(
    db: Database, emulator: PortalEmulator
) -> None:
    """60 signatures into one deal's folder (more than a page of it): the folder chain is looked up once, every
    copy is one `disk.folder.uploadfile` plus its upload, and a restarted worker looks nothing up again."""
    await db.write(signed_documents(emulator, 60))
    async with oauth_client(emulator, rate_per_second=500.0, burst=1000) as client:

        async def source() -> Bitrix24Client:
            return client

        await drain(OutboxWorker(db, source))
    calls = Counter(emulator.state.calls)
    assert calls["disk.folder.uploadfile"] == 60
    assert calls["disk.folder.getchildren"] <= 3, calls  # KlikDok, Сделки, Сделка №1: once each
    assert calls["disk.storage.getforapp"] == 1
    assert await db.read(outbox.counts) == {"delivered": 60}
    sig_names = sorted(f["NAME"] for f in emulator.state.files.values() if f["NAME"].endswith(".sig"))
    assert len(sig_names) == 60 and len(set(sig_names)) == 60

    # A restart: a new worker and a new client over the same database remember every folder id.
    emulator.state.calls.clear()
    await db.write(signed_documents(emulator, 5, start=60))
    async with oauth_client(emulator, rate_per_second=500.0, burst=1000) as client:

        async def again() -> Bitrix24Client:
            return client

        await drain(OutboxWorker(db, again))
    calls = Counter(emulator.state.calls)
    assert calls["disk.folder.uploadfile"] == 5
    assert calls["disk.folder.getchildren"] == 0 and calls["disk.storage.getforapp"] == 0, calls


async def test_a_notification_queued_behind_a_disk_backlog_goes_first(db: Database, emulator: PortalEmulator) -> None:
    """A portal at its real limit (2 requests/s): 40 signature copies are queued and being uploaded when a
    notification is queued. It reaches the portal before the next upload but one, not after the backlog."""
    emulator.state.reset(EmulatorConfig(rate_per_second=2.0, burst=5))
    await db.write(signed_documents(emulator, 40))
    async with oauth_client(emulator, rate_per_second=2.0, burst=5) as client:

        async def source() -> Bitrix24Client:
            return client

        worker = OutboxWorker(db, source, poll_seconds=0.2)
        stop = asyncio.Event()
        task = asyncio.create_task(worker.run(stop))
        try:

            def uploads() -> int:
                return emulator.state.calls.count("disk.folder.uploadfile")

            await asyncio.to_thread(wait_for, lambda: uploads() >= 3, 60, "the backlog being uploaded")
            before = uploads()
            await db.write(
                lambda d: effects.notify(
                    d, 2, "Документ ждёт вашей подписи", doc=document(id=1, entity_type="deal", entity_id=1), key="n"
                )
            )
            worker.wake()
            await asyncio.to_thread(wait_for, lambda: emulator.state.notifications, 120, "the notification")
            after = uploads()
        finally:
            stop.set()
            await asyncio.wait_for(task, 30)
    assert after - before <= 2, (before, after)
    assert after < 40
    assert emulator.state.rejected == 0  # both lanes together stayed inside the portal's budget


async def test_two_documents_with_one_file_name_keep_their_own_files_and_signatures(
    db: Database, emulator: PortalEmulator, tmp_path: Path
) -> None:
    """Both documents of deal 1 carry "Договор.pdf": the portal names the second copy "Договор (1).pdf", and each
    signature is stored next to its own file with its own bytes (the second one's .sig must not be taken for the
    first's)."""
    from server.workflow.files import Spool, digests

    spool = Spool(tmp_path / "spool")

    def fill(d: Any) -> None:
        for n in (1, 2):
            data = f"договор {n}".encode() * 10
            d256, d512 = digests(data)
            doc_id = states.create_draft(
                d,
                title=f"Договор {n}",
                entity_type="deal",
                entity_id=1,
                company_id=None,
                author_id=4,
                author_name="Морозова",
                department_id=None,
                files=[
                    {
                        "name": "Договор.pdf",
                        "size": len(data),
                        "content_type": "application/pdf",
                        "streebog256": d256,
                        "streebog512": d512,
                    }
                ],
                signers=[(1, "Соколов")],
                counterparty={},
                disk_folder_id=None,
            )
            file_id = d.execute("SELECT id FROM document_files WHERE document_id = ?", [doc_id]).fetchone()[0]
            effects.store_file_on_disk(d, file_id, spool.put(d256, f"{n:016x}", data))
            step_id = d.execute(
                "SELECT id FROM route_steps WHERE document_id = ? AND position = 1", [doc_id]
            ).fetchone()[0]
            cur = d.execute(
                "INSERT INTO signatures (document_id, file_id, step_id, signer_kind, signer_user_id, source, cms,"
                " cms_sha256, status, verification, accepted_at) VALUES (?, ?, ?, 'internal', 1, 'upload', ?, '',"
                " 'valid', '{}', '2026-01-01T00:00:00+00:00')",
                [doc_id, file_id, step_id, f"подпись {n}".encode()],
            )
            effects.store_signature_on_disk(d, int(cur.lastrowid))

    await db.write(fill)
    async with oauth_client(emulator, rate_per_second=500.0, burst=1000) as client:

        async def source() -> Bitrix24Client:
            return client

        await drain(OutboxWorker(db, source, spool=spool))
    assert await db.read(outbox.counts) == {"delivered": 4}
    by_name = {f["NAME"]: emulator.state.file_bytes[int(f["ID"])] for f in emulator.state.files.values()}
    assert by_name == {
        "Договор.pdf": "договор 1".encode() * 10,
        "Договор (1).pdf": "договор 2".encode() * 10,
        "Договор.pdf.sig": "подпись 1".encode(),
        "Договор (1).pdf.sig": "подпись 2".encode(),
    }
    assert list(spool.root.iterdir()) == []  # each spool entry went once its file was on Disk


async def test_spool_entries_without_a_committed_document_are_swept_at_start(db: Database, tmp_path: Path) -> None:
    """A crash between writing the spool and the commit leaves bytes no message names: the next start removes them
    (once they are old enough not to belong to a creation still in progress); entries still waiting stay."""
    import os
    import time

    from server.workflow.files import Spool

    spool = Spool(tmp_path / "spool")
    data = b"%PDF-1.4 spool\n"
    digest = hashlib.sha256(data).hexdigest()
    kept = spool.put(digest, "a" * 16, data)
    lost = spool.put(digest, "b" * 16, data)
    young = spool.put(digest, "c" * 16, data)
    old = time.time() - 3600
    for name in (kept, lost):
        os.utime(spool.root / name, (old, old))
    await db.write(lambda d: effects.store_file_on_disk(d, 1, kept))

    async def none() -> None:
        return None

    worker = OutboxWorker(db, none, spool=spool)
    assert await worker.sweep_spool() == 1
    assert sorted(p.name for p in spool.root.iterdir()) == sorted([kept, young])


async def test_a_remembered_folder_deleted_on_the_portal_is_made_again(db: Database, emulator: PortalEmulator) -> None:
    await db.write(signed_documents(emulator, 1))
    async with oauth_client(emulator, rate_per_second=500.0, burst=1000) as client:

        async def source() -> Bitrix24Client:
            return client

        await drain(OutboxWorker(db, source))
        deal_folder = next(fid for fid, f in emulator.state.folders.items() if f["NAME"] == "Сделка №1")
        with emulator.state.lock:
            del emulator.state.folders[deal_folder]  # an admin deleted the deal's folder on Disk
        await db.write(signed_documents(emulator, 1, start=1))
        await drain(OutboxWorker(db, source))
    assert await db.read(outbox.counts) == {"delivered": 2}
    again = [fid for fid, f in emulator.state.folders.items() if f["NAME"] == "Сделка №1"]
    assert len(again) == 1 and again[0] != deal_folder
    sig = next(f for f in emulator.state.files.values() if f["NAME"] == "file-1.pdf.sig")
    assert int(sig["PARENT_ID"]) == again[0]
