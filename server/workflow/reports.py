"""The verification report of a document: every accepted signature's stored result, as JSON, as a page and as the
PDF «протокол проверки электронной подписи».

It changes when what the report says or how it looks changes. All three are rendered from one
:class:`server.paper.protocol.Protocol` through :func:`server.paper.protocol.protocol_view`, so they say the same:
the signatures numbered №1..N across the document (each stored ``.sig`` is its own result whose SignerInfo has
index 0, so a per-result number would repeat «Подпись № 1»), the file each belongs to, and every moment in the
portal's zone (``[portal] timezone``), named; the JSON gives ISO 8601 with the offset and a ``timezone`` field.
The page is rendered from ``server/templates/signature_report.html`` with autoescaping on, because document
titles and certificate names are chosen by people outside the company.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from pathlib import Path
from typing import Any

import jinja2
import msgspec

from cades.result import VerificationResult
from server.db import Database
from server.paper.protocol import (
    PROGRAM_NOTE,
    TITLE,
    Protocol,
    ProtocolFile,
    ProtocolNote,
    ProtocolView,
    protocol_json,
    protocol_view,
    zoned_builtins,
)
from server.text import DEFAULT_TIMEZONE, local_time, portal_zone

from . import poa_policy, poa_store, public_verdict_store, store
from .files import safe_name
from .model import DocumentRow
from .permissions import Viewer
from .public_verdicts import PublicVerdicts
from .queries import DocumentQueries

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = "signature_report.html"
# How many documents one selection protocol may hold: a PDF of a few hundred pages at most.
MAX_SELECTION = 200


def protocol_file_name(title: str) -> str:
    """«Протокол проверки ЭП — <title>.pdf», safe as a file name on every system."""
    return safe_name(f"Протокол проверки ЭП — {title}"[:170], "Протокол проверки ЭП") + ".pdf"


def poa_notes(poa: dict[str, Any] | None) -> list[ProtocolNote]:
    """The МЧД rows under a signature in every rendering of the report: the verdict, number, principal, validity,
    the powers the policy asked for, and each check that did not pass."""
    if poa is None:
        return []
    notes = [ProtocolNote(label="МЧД", lines=[poa["summary"]])]
    if poa["number"]:
        principal = poa["principal_name"] + (f", ИНН {poa['principal_inn']}" if poa["principal_inn"] else "")
        notes.append(ProtocolNote(label="Номер МЧД", lines=[poa["number"]]))
        notes.append(ProtocolNote(label="Доверитель", lines=[principal or "—"]))
        period = f"с {poa['valid_from_text'] or '—'} по {poa['valid_until_text'] or '—'}"
        notes.append(ProtocolNote(label="Срок действия МЧД", lines=[period]))
        powers = ", ".join(poa["required_powers"]) or "любые (политика не требует определённых)"
        notes.append(ProtocolNote(label="Требуемые полномочия", lines=[powers]))
        if not poa["registry_checked"]:
            notes.append(ProtocolNote(label="Реестр ФНС", lines=["статус в реестре ФНС не проверен"]))
    problems = [c["message"] for c in poa["checks"] if c["status"] != "ok"]
    if problems:
        notes.append(ProtocolNote(label="Проверка МЧД", lines=problems))
    return notes


class _Stored(msgspec.Struct, frozen=True):
    """A stored signature beside its decoded result: what the JSON adds to the protocol's entry."""

    signature_id: int
    signer: Any
    result: VerificationResult
    poa: dict[str, Any] | None = None  # issue 18: the МЧД verdict stored with it (poa_policy.shown)


class Reports:
    def __init__(
        self,
        db: Database,
        *,
        documents: DocumentQueries,
        timezone: str = DEFAULT_TIMEZONE,
        public_verdicts: PublicVerdicts | None = None,
    ) -> None:
        self.db = db
        self.documents = documents
        self.timezone = timezone
        self.public_verdicts = public_verdicts
        self._templates = jinja2.Environment(
            loader=jinja2.FileSystemLoader(TEMPLATES),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
        )

    async def report(self, viewer: Viewer, document_id: int) -> tuple[dict[str, Any], str]:
        """The verification report of every accepted signature: (JSON-able dict, HTML page)."""
        return await self.of(await self.documents.visible_document(viewer, document_id))

    async def protocol(self, doc: DocumentRow) -> tuple[Protocol, list[list[_Stored]]]:
        """The document's protocol (every file in order, each with its accepted signatures in the order they
        were accepted) and, file by file, the stored rows behind its results."""
        document_id = doc.id
        signatures, files, public_id, poas = await self.db.read(
            lambda d: (
                store.stored_signatures(d, document_id),
                store.files(d, document_id),
                public_verdict_store.existing_id(d, document_id),
                poa_store.verdicts(d, document_id),
            )
        )
        stored: dict[int, list[_Stored]] = {f.id: [] for f in files}
        for sig in signatures:
            result = msgspec.json.decode(sig.verification, type=VerificationResult)
            poa = poa_policy.shown(poas.get(sig.id))
            stored.setdefault(sig.file_id, []).append(_Stored(sig.id, json.loads(sig.signer or "{}"), result, poa))
        # The public address once the document has one (its stamped copy's QR code made it): a report only reads.
        verify_url = self.public_verdicts.url(public_id) if self.public_verdicts and public_id else None
        protocol = Protocol(
            title=doc.title,
            files=[
                ProtocolFile(
                    name=f.name,
                    streebog256=f.streebog256,
                    size=f.size,
                    results=[s.result for s in stored[f.id]],
                    notes=[poa_notes(s.poa) for s in stored[f.id]],
                )
                for f in files
            ],
            generated=dt.datetime.now(dt.UTC),
            accepted=True,  # every stored signature was accepted by the workflow (cades.verdicts)
            verify_url=verify_url,
        )
        return protocol, [stored[f.id] for f in files]

    async def of(self, doc: DocumentRow) -> tuple[dict[str, Any], str]:
        """The report of a document row the caller may already show (no viewer, no audit): (JSON, HTML)."""
        protocol, stored = await self.protocol(doc)
        view = protocol_view(protocol, time_text=self.time_text)
        data = self.protocol_json(protocol, view=view)
        zone = portal_zone(self.timezone)
        for entry, sig in zip(data["signatures"], view.signatures, strict=True):
            row = stored[sig.file_index][sig.result_index]
            entry["signature_id"] = row.signature_id
            entry["signer"] = row.signer
            entry["streebog256"] = protocol.files[sig.file_index].streebog256
            entry["verification"] = zoned_builtins(row.result, zone)
            entry["poa"] = row.poa
        report = {
            "document_id": doc.id,
            "state": doc.state.value,
            "warnings": json.loads(doc.warnings or "[]"),
            **data,
        }
        return report, self.render_page(protocol, view=view)

    async def protocol_pdf(self, doc: DocumentRow) -> tuple[str, bytes]:
        """(file name, PDF): the verification protocol of a document row the caller may already show."""
        from server.paper.protocol_pdf import render_protocol_pdf  # fpdf2 loads on the first PDF, not at start

        protocol, _ = await self.protocol(doc)
        # Drawing takes a tenth of a second or more (0.4 s for 100 signatures): off the event loop.
        data = await asyncio.to_thread(render_protocol_pdf, protocol, time_text=self.time_text)
        return protocol_file_name(doc.title), data

    async def selection_pdf(self, viewer: Viewer, document_ids: list[int]) -> tuple[str, bytes]:
        """One protocol for several documents, a section each, in the order asked; every one must be visible
        to ``viewer`` (else the 403/404 of :meth:`DocumentQueries.visible_document`, nothing is made)."""
        from server.paper.protocol_pdf import render_protocols_pdf  # fpdf2 loads on the first PDF, not at start

        docs = [await self.documents.visible_document(viewer, i) for i in dict.fromkeys(document_ids)]
        protocols = [(await self.protocol(doc))[0] for doc in docs]
        title = f"выборка из {len(docs)} док."
        data = await asyncio.to_thread(
            render_protocols_pdf, protocols, title=f"Выборка: документов {len(docs)}",
            generated=dt.datetime.now(dt.UTC), time_text=self.time_text,
        )  # fmt: skip
        return protocol_file_name(title), data

    def protocol_json(self, protocol: Protocol, *, view: ProtocolView | None = None) -> dict[str, Any]:
        """The protocol as JSON in the portal's zone (ISO 8601 with the offset, the zone named)."""
        zone = portal_zone(self.timezone)
        return protocol_json(protocol, time_text=self.time_text, zone=zone, timezone=self.timezone, view=view)

    def time_text(self, value: Any) -> str:
        """A moment of the report in the portal's zone, to the second, with the zone's name."""
        return local_time(value, self.timezone, seconds=True) or "—"

    def render_page(self, protocol: Protocol, *, view: ProtocolView | None = None) -> str:
        """The report page: every signature's headline on top (numbered, with its file), then the protocol.

        Every stored signature was accepted by the workflow: one held back only by an unknown revocation status
        was accepted under ``[trust] revocation = "warn"``, and its headline says so (cades.verdicts).
        """
        view = view or protocol_view(protocol, time_text=self.time_text)
        return self._templates.get_template(TEMPLATE).render(view=view, heading=TITLE, note=PROGRAM_NOTE)
