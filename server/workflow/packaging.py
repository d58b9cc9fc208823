"""The signed package of a document: one ZIP with the files, every ``.sig``, the verification report, and, once the
document has a signature, each signed file's stamped copy and the verification protocol as PDF (issue 16).

It changes when what goes into the package changes (names inside the ZIP, another report format, a
manifest). Portal users get it through :meth:`Packaging.package` (visibility checked, the export audited);
the counterparty exchange and the confirmation e-mail take :meth:`Packaging.build_package`, whose caller has
already decided who may have it.
"""

from __future__ import annotations

import io
import json
import logging
import zipfile
from typing import Any

from server.db import Database, audit

from . import poa_store, store
from .docstate import DocState
from .downloads import Downloads
from .files import safe_name
from .paper_copies import PaperCopies, PaperCopy
from .permissions import Viewer
from .queries import DocumentQueries
from .reports import Reports
from .states import TransitionRefused

log = logging.getLogger(__name__)

REPORT_HTML = "отчёт-о-проверке.html"
REPORT_JSON = "отчёт-о-проверке.json"


SIGNER_FALLBACK = "подписант"
SURNAME_MAX = 60


def signer_surname(signer: dict[str, Any]) -> str:
    """The signer's surname from the certificate: its SN, else the first word of its CN (kept in Cyrillic)."""
    surname = str(signer.get("surname") or "").strip()
    if not surname:
        words = str(signer.get("common_name") or "").split()
        surname = words[0] if words else ""
    return safe_name(surname, SIGNER_FALLBACK)[:SURNAME_MAX]


def unique_entry(name: str, used: set[str]) -> str:
    """``name``, or ``stem.2.ext``, ``stem.3.ext``... when the archive already holds it (case-insensitively, as
    Windows unpacks it); the name is taken."""
    candidate, n = name, 1
    stem, dot, ext = name.rpartition(".")
    while candidate.lower() in used:
        n += 1
        candidate = f"{stem}.{n}.{ext}" if dot and stem else f"{name}.{n}"
    used.add(candidate.lower())
    return candidate


def poa_entries(file_name: str, used: set[str]) -> tuple[str, str]:
    """The МЧД's XML and its detached signature as a recipient takes them (the ФНС file ``ON_EMCHD_….xml`` and
    ``ON_EMCHD_….sig`` beside it, as the ФНС registry hands them out): the uploaded name, made safe, ``.xml``."""
    name = safe_name(file_name, "МЧД.xml")
    stem = name[:-4] if name.lower().endswith(".xml") else name
    xml = unique_entry(f"{stem}.xml", used)
    return xml, unique_entry(f"{xml[:-4]}.sig", used)


def signature_entry(file_name: str, signer: dict[str, Any], used: set[str]) -> str:
    """``<file>.<signer's surname>.sig``: whose signature on which file, readable without opening it; a second
    signature of the same surname on the same file gets ``.2.sig``. No part can leave the archive's root: the
    file name and the surname both went through :func:`safe_name` (no separators, no ``..``)."""
    return unique_entry(f"{file_name}.{signer_surname(signer)}.sig", used)


class Packaging:
    def __init__(
        self,
        db: Database,
        *,
        documents: DocumentQueries,
        downloads: Downloads,
        reports: Reports,
        paper: PaperCopies | None = None,
    ) -> None:
        self.db = db
        self.documents = documents
        self.downloads = downloads
        self.reports = reports
        self.paper = paper

    async def package(self, viewer: Viewer, document_id: int) -> tuple[str, bytes]:
        """The ZIP package for a portal user: visibility checked and the export audited."""
        await self.documents.visible_document(viewer, document_id)
        name, data = await self.build_package(document_id)
        await self.db.write(
            lambda d: audit.append(
                d,
                actor=f"user:{viewer.user_id}",
                action="document.exported",
                object_type="document",
                object_id=document_id,
            )
        )
        return name, data

    async def build_package(self, document_id: int) -> tuple[str, bytes]:
        """ZIP: the files, every ``.sig``, the verification report (HTML and JSON) and, when the document has a
        signature, the stamped copies and the protocol PDF; (file name, bytes).

        No viewer and no audit row: the caller decides who may have it and records why (``package`` for portal
        users; the counterparty exchange for the counterparty's page and the confirmation e-mail).
        """
        doc = await self.db.read(lambda d: store.document_row(d, document_id))
        if doc is None or doc.state == DocState.DELETED:
            raise TransitionRefused("not_found", "Документ не найден.")
        files = await self.db.read(lambda d: store.files(d, document_id))
        signatures = await self.db.read(lambda d: store.stored_signatures(d, document_id))
        poas = await self.db.read(lambda d: self._poa_files(d, document_id))
        report, html = await self.reports.of(doc)
        copies = await self._paper_copies(document_id) if signatures else []
        buf = io.BytesIO()
        used = {REPORT_HTML.lower(), REPORT_JSON.lower()}
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            by_id = {}
            for f in files:
                name, _, data = await self.downloads.file_bytes(document_id, f.id)
                name = unique_entry(safe_name(name), used)
                z.writestr(name, data)
                by_id[f.id] = name
            for sig in signatures:
                z.writestr(signature_entry(by_id[sig.file_id], json.loads(sig.signer or "{}"), used), sig.cms)
            # Issue 18: each МЧД a signature relied on, once, with its signature beside it.
            for file_name, xml, poa_sig in poas:
                xml_name, sig_name = poa_entries(file_name, used)
                z.writestr(xml_name, xml)
                z.writestr(sig_name, poa_sig)
            z.writestr(REPORT_HTML, html)
            z.writestr(REPORT_JSON, json.dumps(report, ensure_ascii=False, indent=2, default=str))
            for c in copies:
                z.writestr(unique_entry(safe_name(c.name, "копия.pdf"), used), c.data)
        return f"{safe_name(doc.title)}.zip", buf.getvalue()

    @staticmethod
    def _poa_files(d: Any, document_id: int) -> list[tuple[str, bytes, bytes]]:
        """(file name, XML, signature) of every МЧД the document's signatures were judged with, in order."""
        found: list[tuple[str, bytes, bytes]] = []
        seen: set[int] = set()
        for entry in sorted(poa_store.verdicts(d, document_id).values(), key=lambda e: e.signature_id):
            if entry.poa_id is None or entry.poa_id in seen:
                continue
            seen.add(entry.poa_id)
            files = poa_store.poa_bytes(d, entry.poa_id)
            if files is not None:
                found.append((entry.file_name, files[0], files[1]))
        return found

    async def _paper_copies(self, document_id: int) -> list[PaperCopy]:
        """The stamped copies and the protocol; none (logged) when they cannot be made, e.g. no Cyrillic font on
        the box: the signed files and their signatures are what the package is for, and the counterparty's
        confirmation e-mail must not wait for a font."""
        if self.paper is None:
            return []
        try:
            return await self.paper.all_for(document_id)
        except TransitionRefused as exc:
            log.warning("package without paper copies: %s", exc.message, extra={"document_id": document_id})
            return []
