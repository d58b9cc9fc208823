"""A document's bytes for whoever may have them: the local cache first, then the spool, then the portal's Disk.

It changes when where a document's files live changes (cache, spool, Disk, some other storage later) or how
their integrity is checked: every file read from Disk is hashed again and refused if it no longer matches the
digest recorded when the document was created, because those are the bytes that get signed.
"""

from __future__ import annotations

import asyncio

from server.bitrix24 import Bitrix24Error
from server.db import Database

from . import store
from .directory import PortalDirectory, PortalMissing
from .files import FileCache, Spool, digests
from .permissions import Viewer
from .queries import DocumentQueries
from .states import TransitionRefused


class Downloads:
    def __init__(
        self, db: Database, *, directory: PortalDirectory, documents: DocumentQueries, spool: Spool, cache: FileCache
    ) -> None:
        self.db = db
        self.directory = directory
        self.documents = documents
        self.spool = spool
        self.cache = cache

    async def file_bytes(self, document_id: int, file_id: int) -> tuple[str, str, bytes]:
        """(name, content type, bytes) of a document file: cache first, then Disk, always checked by digest.

        No viewer: the caller has already decided who may have it (a portal user, a job's signer, a
        counterparty's link).
        """
        files = await self.db.read(lambda d: store.files(d, document_id))
        f = next((x for x in files if x.id == file_id), None)
        if f is None:
            raise TransitionRefused("not_found", "В документе нет такого файла.")
        data = await asyncio.to_thread(self.cache.get, f.streebog256)
        if data is None and not f.disk_file_id:
            data = await asyncio.to_thread(self.spool.find, f.streebog256)  # not on Disk yet: the spool has it
        if data is None:
            disk = await self.directory.disk()
            if not f.disk_file_id:
                raise PortalMissing("Файл не сохранён на Диске.")
            try:
                got = await disk.download(f.disk_file_id)
            except Bitrix24Error as exc:
                raise PortalMissing(f"Не удалось скачать файл с Диска ({exc.code}).") from None
            assert isinstance(got, bytes)
            if (await asyncio.to_thread(digests, got))[0] != f.streebog256:
                raise TransitionRefused(
                    "file_changed",
                    f"Файл «{f.name}» на Диске изменён после отправки: его хэш "
                    "не совпадает с зафиксированным. Подписывать его нельзя.",
                )
            await asyncio.to_thread(self.cache.put, f.streebog256, got)
            data = got
        return f.name, f.content_type, data

    async def download_file(self, viewer: Viewer, document_id: int, file_id: int) -> tuple[str, str, bytes]:
        await self.documents.visible_document(viewer, document_id)
        return await self.file_bytes(document_id, file_id)

    async def download_signature(self, viewer: Viewer, document_id: int, signature_id: int) -> tuple[str, bytes]:
        await self.documents.visible_document(viewer, document_id)
        found = await self.db.read(lambda d: store.signature_bytes(d, document_id, signature_id))
        if found is None:
            raise TransitionRefused("not_found", "Подпись не найдена.")
        cms, name, _ = found
        return f"{name}.{signature_id}.sig", cms
