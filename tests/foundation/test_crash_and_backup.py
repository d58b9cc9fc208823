"""Durability: SIGKILL mid-stream loses no committed row; an online backup is consistent."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import sqlite_utils

from server.db import Database, audit, migrations
from tests.support.server import REPO, clean_env, run_cli, start_server


def test_sigkill_during_audited_writes_loses_nothing_committed(tmp_path: Path) -> None:
    path = tmp_path / "klikdok.db"
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.foundation.audit_writer", str(path)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    assert proc.stdout is not None
    acked: list[int] = []
    for line in proc.stdout:
        acked.append(int(line))
        if len(acked) >= 300:
            break
    proc.send_signal(signal.SIGKILL)  # while the four writers are still going
    rest = proc.stdout.read()
    proc.wait()
    acked.extend(int(x) for x in rest.split())
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    ids = {row[0] for row in conn.execute("SELECT id FROM audit_log")}
    conn.close()
    assert set(acked) <= ids  # every acknowledged commit survived
    assert max(ids) >= max(acked)
    result = run_cli("audit", "verify", "--database", str(path))
    assert result.returncode == 0, result.stdout + result.stderr


def test_backup_while_the_server_is_writing_is_consistent(tmp_path: Path) -> None:
    data = tmp_path / "data"
    with Database(data / "klikdok.db") as db:
        db.write_sync(migrations.apply, transaction=False)
    stop = threading.Event()
    written = [0]

    def keep_writing() -> None:
        with Database(data / "klikdok.db") as writer_db:
            while not stop.is_set():
                writer_db.write_sync(
                    lambda d: audit.append(d, actor="load", action="test.write", details={"blob": "y" * 2000})
                )
                written[0] += 1

    thread = threading.Thread(target=keep_writing)
    thread.start()
    try:
        while written[0] < 200:
            time.sleep(0.01)
        env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(data))
        before = written[0]
        result = run_cli("backup", str(tmp_path / "backup.db"), env=env)
        after = written[0]
    finally:
        stop.set()
        thread.join()
    assert result.returncode == 0, result.stderr
    conn = sqlite3.connect(tmp_path / "backup.db")
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    rows = conn.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    report = audit.verify(sqlite_utils.Database(conn))
    conn.close()
    assert report.ok, report
    assert before <= rows <= after + 1
    # refuses to overwrite without --force
    again = run_cli("backup", str(tmp_path / "backup.db"), env=env)
    assert again.returncode == 2 and "--force" in again.stderr


def test_backup_of_the_running_server(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "data")
    try:
        env = clean_env(KLIKDOK_STORAGE_DATA_DIR=str(srv.data_dir))
        result = run_cli("backup", str(tmp_path / "b"), env=env)  # a directory that does not exist yet
    finally:
        srv.stop()
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "b").is_file()


def test_sigkill_of_the_server_mid_stream_loses_no_acknowledged_audit_row(tmp_path: Path) -> None:
    """Every refused placement POST is audited before the 403 goes out; kill the server among them."""
    import concurrent.futures

    import httpx

    srv = start_server(tmp_path / "data")
    form = {
        "member_id": "not-installed",
        "AUTH_ID": "x",
        "PLACEMENT": "CRM_DEAL_DETAIL_TAB",
        "PLACEMENT_OPTIONS": '{"ID": "1"}',
    }
    acked = [0]
    stop = threading.Event()

    def hammer() -> None:
        with httpx.Client(timeout=5) as client:
            while not stop.is_set():
                try:
                    if client.post(f"{srv.url}/b24/tab", data=form).status_code == 403:
                        acked[0] += 1
                except httpx.HTTPError:
                    return

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        for _ in range(4):
            pool.submit(hammer)
        while acked[0] < 150:
            time.sleep(0.01)
        srv.stop(signal.SIGKILL)
        stop.set()
    conn = sqlite3.connect(srv.data_dir / "klikdok.db")
    rejected = conn.execute("SELECT count(*) FROM audit_log WHERE action = 'placement.rejected'").fetchone()[0]
    conn.close()
    assert rejected >= acked[0] >= 150
    result = run_cli("audit", "verify", "--database", str(srv.data_dir / "klikdok.db"))
    assert result.returncode == 0, result.stdout
