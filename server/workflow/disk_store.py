"""SQL for Bitrix24.Disk bookkeeping: remembered folder ids, and which document files and signatures still wait for
their copy on Disk (and under which ids they got there).

The Disk copies are made by the outbox worker after the commit that recorded the file or signature, so a crash never
leaves a file on the portal that the database does not know about; everything the worker needs to look up or record
about them is here.
"""

from __future__ import annotations

import msgspec
from sqlite_utils import Database as SqliteDb

from server.db import Database


class SqliteFolderIndex:
    """The Disk folder ids of one portal and storage (``scope``), kept across restarts (a ``FolderIndex``)."""

    def __init__(self, db: Database, scope: str) -> None:
        self.db = db
        self.scope = scope

    async def get(self, parent_id: int, name: str) -> int | None:
        row = await self.db.read(
            lambda d: d.execute(
                "SELECT folder_id FROM disk_folders WHERE scope = ? AND parent_id = ? AND name = ?",
                [self.scope, parent_id, name],
            ).fetchone()
        )
        return int(row[0]) if row else None

    async def put(self, parent_id: int, name: str, folder_id: int) -> None:
        await self.db.write(
            lambda d: d.execute(
                "INSERT INTO disk_folders (scope, parent_id, name, folder_id) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (scope, parent_id, name) DO UPDATE SET folder_id = excluded.folder_id",
                [self.scope, parent_id, name, folder_id],
            )
        )

    async def forget(self) -> None:
        await self.db.write(lambda d: d.execute("DELETE FROM disk_folders WHERE scope = ?", [self.scope]))


class DiskTarget(msgspec.Struct, kw_only=True):
    """The document a Disk copy belongs to and its folder there: ``disk_folder_id`` is None until the worker has
    found (or made) the card's folder, and the worker fills it in so one upload looks the folder up once."""

    document_id: int
    disk_folder_id: int | None
    entity_type: str
    entity_id: int


class FileUpload(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker needs to copy one document file to Disk."""

    id: int
    name: str
    size: int
    content_type: str
    streebog256: str
    disk_file_id: int | None
    target: DiskTarget


class SignatureUpload(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker needs to copy one signature to Disk: its CMS, its file's Disk name, and its ordinal among
    the signatures of that file (the second one is ``<name>.2.sig``)."""

    cms: bytes
    disk_file_id: int | None
    file_id: int
    file_name: str
    file_disk_name: str | None
    file_disk_id: int | None
    ordinal: int
    target: DiskTarget


def file_upload(db: SqliteDb, file_id: int) -> FileUpload | None:
    """None if the file is gone."""
    row = db.execute(
        "SELECT f.id, f.name, f.size, f.content_type, f.streebog256, f.disk_file_id, d.id, d.disk_folder_id,"
        " d.entity_type, d.entity_id FROM document_files f JOIN documents d ON d.id = f.document_id WHERE f.id = ?",
        [file_id],
    ).fetchone()
    if row is None:
        return None
    target = DiskTarget(document_id=row[6], disk_folder_id=row[7], entity_type=row[8], entity_id=row[9])
    return FileUpload(
        id=row[0],
        name=row[1],
        size=row[2],
        content_type=row[3],
        streebog256=row[4],
        disk_file_id=row[5],
        target=target,
    )


def signature_upload(db: SqliteDb, signature_id: int) -> SignatureUpload | None:
    """None if the signature is gone."""
    row = db.execute(
        "SELECT s.cms, s.disk_file_id, f.id, f.name, f.disk_name, f.disk_file_id, d.id, d.disk_folder_id,"
        " d.entity_type, d.entity_id, (SELECT count(*) FROM signatures o WHERE o.file_id = s.file_id AND o.id <= s.id)"
        " FROM signatures s JOIN document_files f ON f.id = s.file_id JOIN documents d ON d.id = s.document_id"
        " WHERE s.id = ?",
        [signature_id],
    ).fetchone()
    if row is None:
        return None
    target = DiskTarget(document_id=row[6], disk_folder_id=row[7], entity_type=row[8], entity_id=row[9])
    return SignatureUpload(
        cms=bytes(row[0]),
        disk_file_id=row[1],
        file_id=row[2],
        file_name=row[3],
        file_disk_name=row[4],
        file_disk_id=row[5],
        ordinal=row[10],
        target=target,
    )


def document_target(db: SqliteDb, document_id: int) -> DiskTarget | None:
    """Where a document's own copies (its stamped copies and protocol) go: its folder. None if it is gone."""
    row = db.execute(
        "SELECT id, disk_folder_id, entity_type, entity_id FROM documents WHERE id = ?", [document_id]
    ).fetchone()
    if row is None:
        return None
    return DiskTarget(document_id=row[0], disk_folder_id=row[1], entity_type=row[2], entity_id=row[3])


def files_not_on_disk(db: SqliteDb, document_id: int) -> int:
    """How many of a document's files have no Disk copy yet."""
    row = db.execute(
        "SELECT count(*) FROM document_files WHERE document_id = ? AND disk_file_id IS NULL", [document_id]
    ).fetchone()
    return int(row[0])


def set_document_folder(db: SqliteDb, document_id: int, folder_id: int) -> None:
    db.execute("UPDATE documents SET disk_folder_id = ? WHERE id = ?", [folder_id, document_id])


def set_file_on_disk(db: SqliteDb, file_id: int, disk_file_id: int, disk_name: str) -> None:
    db.execute(
        "UPDATE document_files SET disk_file_id = ?, disk_name = ? WHERE id = ?", [disk_file_id, disk_name, file_id]
    )


def set_signature_on_disk(db: SqliteDb, signature_id: int, disk_file_id: int) -> None:
    db.execute("UPDATE signatures SET disk_file_id = ? WHERE id = ?", [disk_file_id, signature_id])


def known_disk_ids(db: SqliteDb, disk_ids: list[int]) -> set[int]:
    """Which of these Disk file ids a document file, a signature or a paper copy already owns."""
    if not disk_ids:
        return set()
    marks = ",".join("?" * len(disk_ids))
    rows = db.execute(
        f"SELECT disk_file_id FROM document_files WHERE disk_file_id IN ({marks})"
        f" UNION SELECT disk_file_id FROM signatures WHERE disk_file_id IN ({marks})"
        f" UNION SELECT disk_file_id FROM paper_copies WHERE disk_file_id IN ({marks})",
        [*disk_ids, *disk_ids, *disk_ids],
    ).fetchall()
    return {int(r[0]) for r in rows}


def spool_entries_in_use(db: SqliteDb) -> set[str]:
    """Spool entries named by a document-file message not delivered (yet): their bytes are the only copy."""
    rows = db.execute(
        "SELECT json_extract(payload, '$.spool') FROM outbox WHERE kind = 'disk.file'"
        " AND status IN ('pending', 'sending', 'failed')"
    ).fetchall()
    return {str(r[0]) for r in rows if r[0]}
