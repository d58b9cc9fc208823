"""Health probes of the database itself: the watchdog's and the health endpoint's ping, and doctor's checks.

They read nothing of any table, so they belong to no table's store; they live beside the connection code.
"""

from __future__ import annotations

import sqlite3

from sqlite_utils import Database


def ping(db: Database) -> None:
    """One trivial query: raises when the connection or the file is broken, blocks while it is stuck."""
    db.execute("SELECT 1").fetchone()


def quick_check(conn: sqlite3.Connection) -> tuple[str, str]:
    """(``PRAGMA quick_check`` answer, journal mode): "ok" and "wal" on a healthy server database."""
    ok = conn.execute("PRAGMA quick_check").fetchone()[0]
    mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    return str(ok), str(mode)
