"""A document on paper: the stamped copy of each signed file and the verification protocol, as PDF.

It changes when what a copy is made from changes (which signatures, their numbering, the QR address, the time
zone) or who gets them. The drawing is :mod:`server.paper`'s; this service hands it the bytes and the stored
verification results, numbered across the document in the protocol's order (files in order, each file's
signatures in the order they were accepted), so «Подпись № 3» on a copy is «Подпись № 3» in the protocol.

Who asks: portal users (:meth:`PaperCopies.stamped_for`, :meth:`PaperCopies.protocol_for`: visibility checked and
the export audited), the counterparty's page, the ZIP package, and the outbox worker, which stores them on
Bitrix24.Disk beside the original when the document completes (:meth:`PaperCopies.all_for`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

import msgspec

from cades.result import VerificationResult
from server.db import Database, audit
from server.paper import PaperError
from server.paper.marks import marks_for

from . import store
from .docstate import DocState
from .downloads import Downloads
from .model import DocumentFile, DocumentRow
from .permissions import Viewer
from .public_verdicts import PublicVerdicts
from .queries import DocumentQueries
from .reports import Reports
from .states import TransitionRefused

PDF = "application/pdf"
STAMPED = "stamped"
PROTOCOL = "protocol"
NO_SIGNATURES = (
    "У документа ещё нет подписей: копия с отметками об электронной подписи и протокол проверки появятся после "
    "первой подписи."
)
FILE_UNSIGNED = "Этот файл ещё не подписан: копия с отметками об электронной подписи появится после его подписания."


class PaperCopy(msgspec.Struct, frozen=True, kw_only=True):
    """One PDF of a document: a file's stamped copy (``file_id`` set) or the document's protocol."""

    kind: str  # STAMPED | PROTOCOL
    file_id: int | None
    name: str
    data: bytes


class PaperCopies:
    def __init__(
        self,
        db: Database,
        *,
        documents: DocumentQueries,
        downloads: Downloads,
        reports: Reports,
        public_verdicts: PublicVerdicts,
    ) -> None:
        self.db = db
        self.documents = documents
        self.downloads = downloads
        self.reports = reports
        self.public_verdicts = public_verdicts

    # -- for whoever the caller has already let in (the counterparty's link, the package, the Disk copy) ----------

    async def stamped(self, document_id: int, file_id: int) -> tuple[str, bytes]:
        """(name, PDF): the stamped copy of one file (a signing sheet for a non-PDF original)."""
        doc = await self._document(document_id)
        files, results = await self._signed(doc.id)
        if not any(results.values()):
            raise TransitionRefused("not_available", NO_SIGNATURES)
        f = next((x for x in files if x.id == file_id), None)
        if f is None:
            raise TransitionRefused("not_found", "В документе нет такого файла.")
        if not results.get(file_id):
            raise TransitionRefused("not_available", FILE_UNSIGNED)
        verify_url = await self.public_verdicts.url_for(doc.id)
        return await self._stamp(doc.id, f, files, results, verify_url)

    async def protocol(self, document_id: int) -> tuple[str, bytes]:
        """(name, PDF): the verification protocol of every accepted signature of the document."""
        doc = await self._document(document_id)
        if not await self.db.read(lambda d: store.stored_signatures(d, document_id)):
            raise TransitionRefused("not_available", NO_SIGNATURES)
        try:
            return await self.reports.protocol_pdf(doc)
        except PaperError as exc:
            raise TransitionRefused("not_available", str(exc)) from None

    async def all_for(self, document_id: int) -> list[PaperCopy]:
        """The stamped copy of every signed file, in the files' order, then the protocol; [] before any signature."""
        doc = await self._document(document_id)
        files, results = await self._signed(doc.id)
        if not any(results.values()):
            return []
        verify_url = await self.public_verdicts.url_for(doc.id)
        copies = []
        for f in files:
            if results.get(f.id):
                name, data = await self._stamp(doc.id, f, files, results, verify_url)
                copies.append(PaperCopy(kind=STAMPED, file_id=f.id, name=name, data=data))
        name, data = await self.protocol(document_id)
        copies.append(PaperCopy(kind=PROTOCOL, file_id=None, name=name, data=data))
        return copies

    # -- for portal users -----------------------------------------------------------------------------------------

    async def stamped_for(self, viewer: Viewer, document_id: int, file_id: int) -> tuple[str, bytes]:
        await self.documents.visible_document(viewer, document_id)
        name, data = await self.stamped(document_id, file_id)
        await self.db.write(
            lambda d: audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="document.copy_exported",
                object_type="document",
                object_id=document_id,
                details={"file_id": file_id},
            )
        )
        return name, data

    async def protocol_for(self, viewer: Viewer, document_id: int) -> tuple[str, bytes]:
        """The protocol for a portal user, also before the first signature (it then says there is none)."""
        doc = await self.documents.visible_document(viewer, document_id)
        name, data = await self.reports.protocol_pdf(doc)
        await self.db.write(
            lambda d: audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="document.protocol_exported",
                object_type="document",
                object_id=document_id,
            )
        )
        return name, data

    # -- the parts ------------------------------------------------------------------------------------------------

    async def _document(self, document_id: int) -> DocumentRow:
        doc = await self.db.read(lambda d: store.document_row(d, document_id))
        if doc is None or doc.state == DocState.DELETED:
            raise TransitionRefused("not_found", "Документ не найден.")
        return doc

    async def _signed(self, document_id: int) -> tuple[list[DocumentFile], dict[int, list[VerificationResult]]]:
        """The files in order and each file's stored results in the order they were accepted."""

        def read(d: Any) -> tuple[list[DocumentFile], list[store.StoredSignature]]:
            return store.files(d, document_id), store.stored_signatures(d, document_id)

        files, signatures = await self.db.read(read)
        results: dict[int, list[VerificationResult]] = {f.id: [] for f in files}
        for sig in signatures:
            results.setdefault(sig.file_id, []).append(msgspec.json.decode(sig.verification, type=VerificationResult))
        return files, results

    async def _stamp(
        self,
        document_id: int,
        f: DocumentFile,
        files: Sequence[DocumentFile],
        results: dict[int, list[VerificationResult]],
        verify_url: str,
    ) -> tuple[str, bytes]:
        from server.paper.stamp import stamped_copy  # pypdf and fpdf2 load on the first copy, not at start

        # Numbered as the protocol numbers them (server.paper.protocol): every SignerInfo of the files before this
        # one comes first, each .sig counting as many as it holds.
        first = 1
        for other in files:
            if other.id == f.id:
                break
            first += sum(len(r.signatures) for r in results.get(other.id, []))
        marks = marks_for(f.name, results[f.id], first_number=first, accepted=True)
        name, _, data = await self.downloads.file_bytes(document_id, f.id)
        time_text = self.reports.time_text

        def make() -> tuple[str, bytes]:
            # A PDF that cannot take the marks unchanged (encrypted, broken) gets a signing sheet instead.
            return stamped_copy(name, data, f.streebog256, marks, verify_url=verify_url, time_text=time_text)

        try:
            return await asyncio.to_thread(make)
        except PaperError as exc:
            raise TransitionRefused("not_available", str(exc)) from None
