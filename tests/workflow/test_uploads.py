"""Uploads are streamed: a huge body is refused as it arrives, without the server's memory following it.

The attack: one signed-in employee posts a 900 MB "document". Before, the server read the whole body into
memory before looking at its size (75 → 976 MiB). Here the real server gets the body over real HTTP from a
generator (chunked, so no Content-Length warns it), and its memory is read from /proc before and after.
"""

from __future__ import annotations

import os
import random
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx

from demo.portal_emulator import PortalEmulator
from tests.support.server import ServerProcess, start_server
from tests.workflow.conftest import CHIEF_ACCOUNTANT, MANAGER, Klikdok, People, server_env, wait_files_on_disk, wait_for

MIB = 1024 * 1024
PDF = b"%PDF-1.4 upload test\n"


def memory_kib(server: ServerProcess) -> dict[str, int]:
    """VmHWM (peak resident set) and VmRSS of the server process, in KiB."""
    fields = {}
    for line in Path(f"/proc/{server.proc.pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmHWM", "VmRSS"):
            fields[key] = int(value.split()[0])
    return fields


class Body:
    """A multipart body made on the fly: ``files`` of the given sizes (MiB of one repeated random block)."""

    def __init__(self, files: list[tuple[str, int]], fields: dict[str, str] | None = None) -> None:
        self.boundary = uuid.uuid4().hex
        self.files = files
        self.fields = fields or {}
        self.sent = 0
        self.block = random.Random(7).randbytes(MIB)

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __iter__(self) -> Iterator[bytes]:
        for name, value in self.fields.items():
            yield self._count(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, mib in self.files:
            yield self._count(
                f'--{self.boundary}\r\nContent-Disposition: form-data; name="files"; '
                f'filename="{name}"\r\nContent-Type: application/pdf\r\n\r\n'.encode()
            )
            for _ in range(mib):
                yield self._count(self.block)
            yield self._count(b"\r\n")
        yield self._count(f"--{self.boundary}--\r\n".encode())

    def _count(self, chunk: bytes) -> bytes:
        self.sent += len(chunk)
        return chunk


def post_stream(kd: Klikdok, body: Body, user: int = MANAGER) -> httpx.Response:
    headers = {"X-KlikDok-Session": kd.session(user, ("deal", 1)), "Content-Type": body.content_type}
    return httpx.post(f"{kd.url}/api/v1/documents", content=iter(body), headers=headers, timeout=300)


def spool_files(kd: Klikdok) -> list[Path]:
    root = kd.server.data_dir / "uploads"
    return sorted(root.iterdir()) if root.exists() else []


def stored_bytes(kd: Klikdok) -> int:
    cache = kd.server.data_dir / "cache"
    return sum(p.stat().st_size for p in cache.iterdir()) if cache.exists() else 0


def test_a_900_mb_upload_is_refused_while_it_streams_and_memory_stays_flat(kd: Klikdok) -> None:
    # Warm up every code path an upload takes (parser, hashing, Disk, cache) so imports do not count.
    kd.create(MANAGER, ("deal", 1), {"warm.pdf": PDF * 1000}, signers=[CHIEF_ACCOUNTANT])
    # Files reach Disk from the outbox after the commit: let that copy land before counting Disk files.
    wait_for(lambda: "warm.pdf" in {f["NAME"] for f in kd.emu.state.files.values()}, what="the warm-up file on Disk")
    docs_before = kd.query("SELECT count(*) FROM documents")[0][0]
    disk_before = len(kd.emu.state.files)
    cache_before = stored_bytes(kd)
    before = memory_kib(kd.server)

    body = Body([("огромный.pdf", 900)], {"title": "Огромный", "signers": str(CHIEF_ACCOUNTANT)})
    resp = post_stream(kd, body)

    after = memory_kib(kd.server)
    grown_mib = (after["VmHWM"] - before["VmHWM"]) / 1024
    assert grown_mib < 64, f"peak RSS grew by {grown_mib:.0f} MiB ({before} -> {after})"
    assert (after["VmRSS"] - before["VmRSS"]) / 1024 < 64
    assert resp.status_code == 413, resp.text
    problem = resp.json()
    assert problem["error"] == "too_large"
    assert problem["message"] == "Файл «огромный.pdf» больше 100 МБ, такие файлы не принимаются. Документ не создан."
    # The server stopped reading soon after the limit (it closed the connection; socket buffers are megabytes).
    assert body.sent < 200 * MIB, body.sent
    # Nothing stored anywhere: no document, no Disk file, nothing cached, no temporary file left behind.
    assert kd.query("SELECT count(*) FROM documents")[0][0] == docs_before
    assert len(kd.emu.state.files) == disk_before
    assert stored_bytes(kd) == cache_before
    assert spool_files(kd) == []
    # The server is fine afterwards.
    assert kd.create(MANAGER, ("deal", 1), {"после.pdf": PDF}, signers=[CHIEF_ACCOUNTANT]) > 0


def test_the_request_total_is_limited_and_a_file_over_the_limit_is_refused(
    tmp_path: Path, emulator: PortalEmulator, people: People
) -> None:
    env = server_env(people.pki, KLIKDOK_LIMITS_MAX_UPLOAD_MB="3", KLIKDOK_LIMITS_MAX_REQUEST_MB="5")
    # What a server killed in the middle of an upload leaves behind is swept at the next start.
    (tmp_path / "data" / "uploads").mkdir(parents=True)
    (tmp_path / "data" / "uploads" / "up-killed.part").write_bytes(b"half a file")
    srv = start_server(tmp_path / "data", env=env)
    try:
        kd = Klikdok(srv, emulator)
        assert spool_files(kd) == []
        kd.install()
        # Each file fits, together they do not (chunked: the server counts as it reads).
        three = Body([("a.pdf", 2), ("b.pdf", 2), ("c.pdf", 2)], {"signers": str(CHIEF_ACCOUNTANT)})
        resp = post_stream(kd, three)
        assert resp.status_code == 413, resp.text
        assert resp.json()["message"].startswith("Файлы вместе больше 5 МБ")
        # Announced up front: refused before any of it is read.
        announced = kd.api(
            "POST",
            "/documents",
            MANAGER,
            ("deal", 1),
            data={"signers": str(CHIEF_ACCOUNTANT)},
            files=[("files", ("big.pdf", os.urandom(6 * MIB), "application/pdf"))],
        )
        assert announced.status_code == 413 and "вместе больше 5 МБ" in announced.json()["message"]
        # One file over the per-file limit, though the request is within the total.
        one = Body([("четыре.pdf", 4)], {"signers": str(CHIEF_ACCOUNTANT)})
        resp = post_stream(kd, one)
        assert resp.status_code == 413 and "«четыре.pdf» больше 3 МБ" in resp.json()["message"]
        assert kd.query("SELECT count(*) FROM documents")[0][0] == 0
        assert emulator.state.files == {} or all(
            f["NAME"] not in ("a.pdf", "четыре.pdf", "big.pdf") for f in emulator.state.files.values()
        )
        assert spool_files(kd) == []
    finally:
        srv.stop()


def test_a_multi_file_upload_is_stored_with_the_right_digests(kd: Klikdok, people: People) -> None:
    rng = random.Random(11)
    files = {"договор.pdf": rng.randbytes(3 * MIB + 12345), "приложение.pdf": rng.randbytes(MIB - 1), "акт.pdf": PDF}
    doc = kd.create(MANAGER, ("deal", 1), files, signers=[CHIEF_ACCOUNTANT])
    wait_files_on_disk(kd, doc)
    rows = kd.query(
        "SELECT name, size, streebog256, streebog512, disk_file_id FROM document_files"
        " WHERE document_id = ? ORDER BY id",
        doc,
    )
    assert [r[0] for r in rows] == list(files)
    pki = people.pki.pki
    for name, size, d256, d512, disk_id in rows:
        data = files[name]
        assert size == len(data)
        # The oracle is openssl's own Streebog, not the server's code.
        assert d256 == pki.run("dgst", "-md_gost12_256", "-r", input=data).split()[0].decode()
        assert d512 == pki.run("dgst", "-md_gost12_512", "-r", input=data).split()[0].decode()
        assert kd.emu.state.file_bytes[int(disk_id)] == data
        file_id = kd.query("SELECT id FROM document_files WHERE document_id = ? AND name = ?", doc, name)[0][0]
        got = kd.api("GET", f"/documents/{doc}/files/{file_id}/content", MANAGER)
        assert got.status_code == 200 and got.content == data
    assert spool_files(kd) == []


def test_a_huge_signature_upload_is_refused_as_it_streams(kd: Klikdok) -> None:
    """The .sig upload of a signer (raw body, chunked) stops at ``max_signature_kb``, not at the whole body."""
    doc = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT])
    file_id = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0]
    sent = 0
    block = random.Random(3).randbytes(MIB)

    def body() -> Iterator[bytes]:
        nonlocal sent
        for _ in range(300):
            sent += len(block)
            yield block

    headers = {"X-KlikDok-Session": kd.session(CHIEF_ACCOUNTANT), "Content-Type": "application/pkcs7-signature"}
    resp = httpx.post(
        f"{kd.url}/api/v1/documents/{doc}/files/{file_id}/signatures", content=body(), headers=headers, timeout=120
    )
    assert resp.status_code == 413, resp.text
    assert resp.json() == {
        "error": "too_large",
        "message": "Файл подписи больше 1024 КБ: это не похоже на подпись. Подпись не принята.",
    }
    assert sent < 100 * MIB, sent
    assert kd.query("SELECT count(*) FROM signatures")[0][0] == 0
    assert spool_files(kd) == []
