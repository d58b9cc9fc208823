"""SIGKILL while documents are created and signatures stored: the portal's Disk ends with no file the database does
not own, and no document or signature without its Disk copy (issue 11).

Files reach Disk from the outbox after the commit that records them; the worst window is the portal having stored a
file while the server dies before it hears the answer (the emulator's "disk.upload" stall holds that answer)."""

from __future__ import annotations

import random
import signal
import threading
import time
from pathlib import Path

import httpx

from demo.portal_emulator import PortalEmulator
from tests.support.chaos import rounds
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, server_env, wait_for


def disk_ids(kd: Klikdok) -> set[int]:
    rows = kd.query(
        "SELECT disk_file_id FROM document_files WHERE disk_file_id IS NOT NULL"
        " UNION SELECT disk_file_id FROM signatures WHERE disk_file_id IS NOT NULL"
    )
    return {int(r[0]) for r in rows}


def outbox_done(kd: Klikdok) -> bool:
    return kd.query("SELECT count(*) FROM outbox WHERE kind LIKE 'disk.%' AND status != 'delivered'") == [(0,)]


def assert_disk_matches_database(kd: Klikdok, emu: PortalEmulator) -> None:
    """Every file on the portal's Disk belongs to a document file or signature, and every one of those is there
    with exactly its bytes."""
    with emu.state.lock:
        on_disk = {int(fid): bytes(emu.state.file_bytes[fid]) for fid in emu.state.files}
    orphans = set(on_disk) - disk_ids(kd)
    assert not orphans, f"{len(orphans)} orphan files on Disk"
    assert kd.query("SELECT count(*) FROM document_files WHERE disk_file_id IS NULL") == [(0,)]
    assert kd.query("SELECT count(*) FROM signatures WHERE disk_file_id IS NULL") == [(0,)]
    from server.workflow.files import digests

    for disk_file_id, digest in kd.query("SELECT disk_file_id, streebog256 FROM document_files"):
        assert digests(on_disk[int(disk_file_id)])[0] == digest
    for disk_file_id, cms in kd.query("SELECT disk_file_id, cms FROM signatures"):
        assert on_disk[int(disk_file_id)] == bytes(cms)


def test_killed_after_the_portal_stored_the_file_leaves_no_orphan(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    data = tmp_path / "data"
    emu = own_emulator.state
    first = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    kd = Klikdok(first, own_emulator)
    kd.install()
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    stall = emu.stall("disk.upload", seconds=60)
    pdf = b"%PDF-1.4 kill during the Disk copy\n"
    created: list[int] = []
    creator = threading.Thread(
        target=lambda: created.append(
            kd.create(MANAGER, ("deal", 1), {"акт.pdf": pdf}, signers=[DIRECTOR], title="Акт")
        )
    )
    creator.start()
    wait_for(lambda: any(f["NAME"] == "акт.pdf" for f in emu.files.values()), what="the portal storing the file")
    first.stop(signal.SIGKILL)
    stall.release.set()
    creator.join(30)

    second = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        kd.server = second
        wait_for(lambda: outbox_done(kd), 30, what="the Disk copy after the restart")
        assert_disk_matches_database(kd, own_emulator)
        assert len(emu.files) == 1
        assert kd.query("SELECT title FROM documents") == [("Акт",)]  # the server had answered 201

        # The same window for a signature: the portal has the .sig, the server dies before it hears so.
        doc_id, file_id = kd.query("SELECT document_id, id FROM document_files")[0]
        stall = emu.stall("disk.upload", seconds=60)
        signed = kd.api(
            "POST", f"/documents/{doc_id}/files/{file_id}/signatures", DIRECTOR, content=people.sign(DIRECTOR, pdf)
        )
        assert signed.status_code == 201, signed.text
        wait_for(lambda: any(f["NAME"].endswith(".sig") for f in emu.files.values()), what="the .sig on Disk")
        second.stop(signal.SIGKILL)
        stall.release.set()
    finally:
        second.stop()
    third = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        kd.server = third
        wait_for(lambda: outbox_done(kd), 30, what="the signature's Disk copy after the restart")
        assert_disk_matches_database(kd, own_emulator)
        assert len(emu.files) == 2
    finally:
        third.stop()


def test_repeated_kills_while_creating_documents_lose_nothing_and_leave_no_orphan(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    data = tmp_path / "data"
    kd = Klikdok(start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url)), own_emulator)
    kd.install()
    answered: list[str] = []  # titles the server confirmed (201): they must exist with their files
    rng = random.Random(11)
    counter = iter(range(10_000))
    for _ in range(rounds(quick=3, full=6)):  # `make chaos` runs all 6
        stop = threading.Event()

        def create_until_killed(stop: threading.Event = stop) -> None:
            while not stop.is_set():
                n = next(counter)
                title = f"Документ {n}"
                try:
                    kd.create(
                        MANAGER,
                        ("deal", 1 + n % 3),
                        {f"f{n}.pdf": f"%PDF-1.4 {n}\n".encode() * 50},
                        signers=[DIRECTOR],
                        title=title,
                        send=bool(n % 2),
                    )
                except (httpx.HTTPError, AssertionError):
                    return
                answered.append(title)

        worker = threading.Thread(target=create_until_killed)
        worker.start()
        time.sleep(rng.uniform(0.3, 1.5))
        kd.server.stop(signal.SIGKILL)
        stop.set()
        worker.join(60)
        kd.server = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        wait_for(lambda: outbox_done(kd), 60, what="every Disk copy after the last restart")
        assert answered, "no document was created between the kills"
        titles = {t for (t,) in kd.query("SELECT title FROM documents")}
        assert set(answered) <= titles
        assert_disk_matches_database(kd, own_emulator)
        assert len(own_emulator.state.files) == kd.query("SELECT count(*) FROM document_files")[0][0]
    finally:
        kd.server.stop()
