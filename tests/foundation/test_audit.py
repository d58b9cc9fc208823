"""The audit log's hash chain: intact logs pass; any edit, deletion or truncation is caught and named."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.db import Database, audit, migrations
from tests.support.server import clean_env, run_cli


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    path = tmp_path / "data" / "klikdok.db"
    with Database(path) as db:
        db.write_sync(migrations.apply, transaction=False)
        for i in range(10):
            db.write_sync(
                lambda d, i=i: audit.append(
                    d,
                    actor=f"user:{i}",
                    action="document.sent",
                    object_type="document",
                    object_id=i,
                    details={"title": f"Договор №{i}"},
                )
            )
    return path


def verify_cli(path: Path) -> tuple[int, str]:
    result = run_cli("audit", "verify", "--database", str(path), env=clean_env())
    return result.returncode, result.stdout + result.stderr


def tamper(path: Path, *sql: str) -> None:
    """What someone with sqlite3 and bad intentions would do: drop the guard triggers, then edit."""
    conn = sqlite3.connect(path)
    conn.execute("DROP TRIGGER audit_log_no_update")
    conn.execute("DROP TRIGGER audit_log_no_delete")
    for statement in sql:
        conn.execute(statement)
    conn.commit()
    conn.close()


def test_intact_log_verifies(db_path: Path) -> None:
    code, out = verify_cli(db_path)
    assert code == 0 and "10 записей" in out


def test_triggers_refuse_updates_and_deletes(db_path: Path) -> None:
    conn = sqlite3.connect(db_path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("UPDATE audit_log SET actor = 'x' WHERE id = 3")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        conn.execute("DELETE FROM audit_log WHERE id = 3")
    conn.close()


@pytest.mark.parametrize(
    ("sql", "row"),
    [
        (["UPDATE audit_log SET actor = 'user:99' WHERE id = 4"], 4),
        (['UPDATE audit_log SET details = \'{"title":"Подмена"}\' WHERE id = 7'], 7),
        (["DELETE FROM audit_log WHERE id = 5"], 5),
        (["DELETE FROM audit_log WHERE id = 10"], 10),
    ],
)
def test_any_edit_or_deletion_fails_and_names_the_first_broken_row(db_path: Path, sql: list[str], row: int) -> None:
    tamper(db_path, *sql)
    code, out = verify_cli(db_path)
    assert code == 1, out
    assert f"запись {row}:" in out


def test_chain_continues_across_reopen(db_path: Path) -> None:
    with Database(db_path) as db:
        db.write_sync(lambda d: audit.append(d, actor="system", action="x"))
        report = db.read_sync(audit.verify)
    assert report.ok and report.rows == 11


def test_verify_against_a_log_that_keeps_growing_never_cries_tamper(tmp_path: Path) -> None:
    """The on-call runs ``klikdok audit verify`` on a live server: rows keep arriving while it reads.

    The log and its head must come from one snapshot; read separately, a commit landing between the two
    reads looks exactly like a log cut short. The command runs 200 times through its own entry point (the
    same code as the console script, without 200 interpreter start-ups) and a few times as a real process.
    """
    import contextlib
    import io
    import subprocess
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from server.cli import main as klikdok
    from tests.support.server import REPO

    path = tmp_path / "klikdok.db"
    # Four writers, each committing about every 10 ms: a few hundred rows a second, as a busy server.
    writer = subprocess.Popen(
        [sys.executable, "-m", "tests.foundation.audit_writer", str(path), "0.01"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    results: list[tuple[int, str]] = []
    try:
        assert writer.stdout is not None
        for _ in range(50):  # the writer is up and committing
            writer.stdout.readline()
        drain = ThreadPoolExecutor(1)
        drain.submit(lambda: [None for _ in writer.stdout])  # type: ignore[union-attr]  # closed by kill below
        for _ in range(200):
            out = io.StringIO()
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
                code = klikdok(["audit", "verify", "--database", str(path)])
            results.append((code, out.getvalue()))
        results.extend(verify_cli(path) for _ in range(5))
        assert writer.poll() is None, "the writer must still be appending when the last check runs"
    finally:
        writer.kill()
        writer.wait()
    drain.shutdown()
    alarms = [out for code, out in results if code != 0]
    assert not alarms, f"{len(alarms)} of {len(results)} runs reported tampering, e.g.: {alarms[0]}"
    assert all("цепочка хешей не нарушена" in out for _, out in results)
