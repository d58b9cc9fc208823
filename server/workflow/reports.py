"""The verification report of a document: every accepted signature's stored result, as JSON and as a page.

It changes when what the report says or how it looks changes (a new field, a PDF next to the HTML). The page is
rendered from ``server/templates/signature_report.html`` with autoescaping on, because document titles and
certificate names are chosen by people outside the company; each signature's protocol inside it is the
printable page :func:`cades.report.render_html` renders from its own autoescaped template.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jinja2
import msgspec
from markupsafe import Markup

from cades.report import render_html, report_builtins
from cades.result import VerificationResult
from cades.verdicts import document_headline
from server.db import Database
from server.text import DEFAULT_TIMEZONE, local_time

from . import store
from .model import DocumentRow
from .permissions import Viewer
from .queries import DocumentQueries

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
TEMPLATE = "signature_report.html"


class Reports:
    def __init__(self, db: Database, *, documents: DocumentQueries, timezone: str = DEFAULT_TIMEZONE) -> None:
        self.db = db
        self.documents = documents
        self.timezone = timezone
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

    async def of(self, doc: DocumentRow) -> tuple[dict[str, Any], str]:
        """The report of a document row the caller may already show (no viewer, no audit)."""
        document_id = doc.id
        signatures = await self.db.read(lambda d: store.stored_signatures(d, document_id))
        files = {f.id: f for f in await self.db.read(lambda d: store.files(d, document_id))}
        entries = []
        rendered: list[tuple[str, VerificationResult]] = []
        for sig in signatures:
            result = msgspec.json.decode(sig.verification, type=VerificationResult)
            f = files[sig.file_id]
            entries.append(
                {
                    "signature_id": sig.id,
                    "file": f.name,
                    "streebog256": f.streebog256,
                    "signer": json.loads(sig.signer),
                    "headline": report_builtins(result, accepted=True)["headline"],
                    "verification": msgspec.to_builtins(result),
                }
            )
            rendered.append((f.name, result))
        report = {
            "document_id": document_id,
            "title": doc.title,
            "state": doc.state.value,
            "warnings": json.loads(doc.warnings or "[]"),
            "signatures": entries,
        }
        html = self.render_page(doc.title, rendered)
        return report, html

    async def protocol_pdf(self, doc: DocumentRow) -> tuple[str, bytes]:
        """(file name, PDF): the verification protocol of a document row the caller may already show.
        CONTRACT (issue 16): built by the protocol part, from the same model as :meth:`of`."""
        raise NotImplementedError("issue 16 contract: built by the protocol part")

    def time_text(self, value: Any) -> str:
        """A moment of the report in the portal's zone, to the second, with the zone's name."""
        return local_time(value, self.timezone, seconds=True) or "—"

    def render_page(self, title: str, signatures: list[tuple[str, VerificationResult]]) -> str:
        """The report page of accepted signatures (file name, result): every headline on top, then protocols.

        Every stored signature was accepted by the workflow: one held back only by an unknown revocation status
        was accepted under ``[trust] revocation = "warn"``, and its headline says so (cades.verdicts).
        """
        headlines = [(name, document_headline(result, accepted=True)) for name, result in signatures]
        # cades renders each protocol from its own autoescaped template: trusted markup here.
        protocols = [
            Markup(render_html(result, document=name, accepted=True, time_text=self.time_text))
            for name, result in signatures
        ]
        return self._templates.get_template(TEMPLATE).render(title=title, protocols=protocols, headlines=headlines)
