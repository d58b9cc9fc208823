"""Storage: the SQLite database, its migrations, the audit log and the outbox."""

from server.db.database import Database, DatabaseClosedError, inserted_id

__all__ = ["Database", "DatabaseClosedError", "inserted_id"]
