"""«Проверка архива» (issue 19): an auditor uploads a ZIP of signed documents and the server checks every signature
in it with its own trust, showing progress; a server killed mid-check goes on after the restart without checking
a signature twice. Real ``klikdok serve`` over HTTP, signatures made by ``openssl cms``."""

from __future__ import annotations

import io
import signal
import zipfile
from pathlib import Path
from typing import Any

import httpx

from tests.support.server import start_server
from tests.workflow.conftest import AUDITOR, DIRECTOR, MANAGER, Klikdok, People, server_env, wait_for

DOC = "Акт сверки взаимных расчётов\n".encode() * 3000


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return buf.getvalue()


def _upload(kd: Klikdok, user: int, data: bytes, key: str, name: str = "архив.zip") -> httpx.Response:
    return kd.api(
        "POST",
        "/archive-checks",
        user,
        files=[("archive", (name, data, "application/zip"))],
        headers={"Idempotency-Key": key},
    )


def _finished(kd: Klikdok, check_id: int) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        body = kd.api("GET", f"/archive-checks/{check_id}", AUDITOR).json()
        return body if body["state"] in ("done", "failed") else None

    return wait_for(done, 120, what=f"archive check {check_id} to end")


def test_an_auditor_checks_an_archive_and_reads_each_verdict(kd: Klikdok, people: People) -> None:
    archive = _zip(
        {
            "Договор.pdf": DOC,
            "Договор.pdf.Соколов.sig": people.sign(DIRECTOR, DOC),
            "2026/Акт.pdf": DOC,
            "2026/Акт.pdf.sig": people.sign(MANAGER, DOC),
            "Изменённый.pdf": DOC + b"!",
            "Изменённый.pdf.sig": people.sign(DIRECTOR, DOC),
            "Повреждённый.pdf": DOC,
            "Повреждённый.pdf.sig": b"\x30\x82 not a signature",
            "заметки.txt": "без подписи".encode(),
        }
    )
    started = _upload(kd, AUDITOR, archive, "archive-check-0001")
    assert started.status_code == 201, started.text
    check_id = started.json()["id"]
    body = _finished(kd, check_id)
    assert body["state"] == "done" and body["total"] == body["checked"] == 4
    assert body["counts"] == {"valid": 2, "invalid": 1, "unusable": 1}
    assert body["unsigned"] == ["заметки.txt"]
    verdicts = {i["signature"]: (i["document"], i["verdict"]) for i in body["items"]}
    assert verdicts["2026/Акт.pdf.sig"] == ("2026/Акт.pdf", "valid")
    assert verdicts["Изменённый.pdf.sig"] == ("Изменённый.pdf", "invalid")
    changed = next(i for i in body["items"] if i["signature"] == "Изменённый.pdf.sig")
    assert "ДОКУМЕНТ ИЗМЕНЁН ПОСЛЕ ПОДПИСАНИЯ" in changed["headline"]
    assert body["next"] == 4
    assert kd.api("GET", f"/archive-checks/{check_id}?after=4", AUDITOR).json()["items"] == []
    assert [c["id"] for c in kd.api("GET", "/archive-checks", AUDITOR).json()] == [check_id]
    # The ZIP is gone once its check ended; the verdicts stay, and both ends are in the audit log.
    assert not (kd.server.data_dir / "archive-checks" / f"{check_id}.zip").exists()
    actions = kd.query("SELECT action FROM audit_log WHERE object_type = 'archive_check' ORDER BY id")
    assert actions == [("archive_check.started",), ("archive_check.finished",)]


def test_only_auditors_and_only_zips(kd: Klikdok) -> None:
    refused = _upload(kd, MANAGER, _zip({"a.txt": b"x"}), "archive-check-0002")
    assert refused.status_code == 403, refused.text
    not_zip = _upload(kd, AUDITOR, b"%PDF-1.4 not a zip", "archive-check-0003", name="архив.pdf")
    assert not_zip.status_code == 400 and not_zip.json()["error"] == "not_a_zip"
    assert "Это не ZIP-архив" in not_zip.json()["message"]
    assert kd.api("GET", "/archive-checks/999", AUDITOR).status_code == 404
    assert kd.query("SELECT count(*) FROM archive_checks") == [(0,)]


def test_a_check_killed_midway_goes_on_after_the_restart(kd: Klikdok, people: People, tmp_path: Path) -> None:
    signature = people.sign(DIRECTOR, DOC)
    entries: dict[str, bytes] = {}
    for n in range(60):
        entries[f"{n:03d}.pdf"] = DOC
        entries[f"{n:03d}.pdf.sig"] = signature
    data_dir = kd.server.data_dir
    kd.server.stop()
    env = server_env(people.pki)
    kd.server = start_server(data_dir, env={**env, "KLIKDOK_TEST_CRASH_AT": "archive_check.flushed"})
    started = _upload(kd, AUDITOR, _zip(entries), "archive-check-0004")
    assert started.status_code == 201, started.text
    check_id = started.json()["id"]
    wait_for(lambda: kd.server.proc.poll() is not None, 60, what="the server killing itself after the first batch")
    assert kd.server.proc.returncode == -signal.SIGKILL
    [(state, recorded)] = kd.query(
        "SELECT state, (SELECT count(*) FROM archive_check_items WHERE check_id = c.id) FROM archive_checks c"
    )
    assert state == "running" and 0 < recorded < 60

    kd.server = start_server(data_dir, env=env)
    body = _finished(kd, check_id)
    assert body["state"] == "done" and body["counts"] == {"valid": 60}
    positions = kd.query("SELECT position FROM archive_check_items WHERE check_id = ? ORDER BY position", check_id)
    assert [p for (p,) in positions] == list(range(60))
