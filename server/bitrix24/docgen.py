"""The portal's document generator: templates for a CRM entity type, a document made from one, and its PDF.

Bitrix24 fills the document itself (its numerator gives the number, its CRM data provider the fields), so KlikDok
never renders a contract: it asks for one (``crm.documentgenerator.document.add``), reads where its PDF is
(``crm.documentgenerator.document.get`` → ``pdfUrlMachine``) and downloads it with the application's own token.
The PDF is made by the portal's converter after ``add`` answers, so a document may have no PDF address yet:
:class:`PdfNotReady` says "ask again later", not "failed".

Shapes: the vendored schemas' ``resultExample`` (template.list answers ``{"templates": {id: {...}}}`` with
``entityTypeId`` as provider strings like "2_category_0"; document.* answer ``{"document": {...}}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import msgspec

from .client import Bitrix24Client, DownloadTooLarge
from .convert import to_int, to_str
from .errors import BadResponse, Bitrix24Error, ExpiredToken

TEMPLATE_LIST = "crm.documentgenerator.template.list"
DOCUMENT_ADD = "crm.documentgenerator.document.add"
DOCUMENT_GET = "crm.documentgenerator.document.get"
DOCUMENT_LIST = "crm.documentgenerator.document.list"


class Template(msgspec.Struct, frozen=True):
    id: int
    name: str


class GeneratedDocument(msgspec.Struct, frozen=True):
    id: int
    title: str
    number: str
    template_id: int
    entity_type_id: int
    entity_id: int
    pdf_url: str  # the machine address (embeds a token: never log it); "" while the portal converts


class PdfNotReady(Bitrix24Error):
    """The portal has not made the document's PDF yet (its converter works after ``add`` answered)."""


PdfTooLarge = DownloadTooLarge  # the PDF is over the configured limit; nothing more is read


def _document(raw: Any, method: str) -> GeneratedDocument:
    doc = raw.get("document") if isinstance(raw, dict) else None
    if not isinstance(doc, dict) or not to_int(doc.get("id")):
        raise BadResponse(method, "BAD_RESPONSE", "no document in the answer")
    return GeneratedDocument(
        id=to_int(doc.get("id")) or 0,
        title=to_str(doc.get("title")),
        number=to_str(doc.get("number")),
        template_id=to_int(doc.get("templateId")) or 0,
        entity_type_id=to_int(doc.get("entityTypeId")) or 0,
        entity_id=to_int(doc.get("entityId")) or 0,
        pdf_url=to_str(doc.get("pdfUrlMachine")),
    )


class DocumentGenerator:
    """Typed document generator calls over a client. Stateless; cheap to create per use."""

    def __init__(self, client: Bitrix24Client) -> None:
        self.client = client

    async def templates(self, entity_type_id: int) -> list[Template]:
        """Active templates bound to ``entity_type_id`` (any of its categories), by name."""
        found: list[Template] = []
        start = 0
        while True:
            envelope = await self.client.call_raw(
                TEMPLATE_LIST,
                {
                    "select": ["id", "name", "active", "entityTypeId"],
                    "filter": {"entityTypeId": entity_type_id, "active": "Y"},
                    "order": {"sort": "ASC"},
                    "start": start,
                },
            )
            result = envelope.get("result")
            rows = result.get("templates") if isinstance(result, dict) else None
            items = list(rows.values()) if isinstance(rows, dict) else list(rows or [])
            for row in items:
                if isinstance(row, dict) and to_int(row.get("id")):
                    found.append(Template(id=to_int(row.get("id")) or 0, name=to_str(row.get("name"))))
            nxt = to_int(envelope.get("next"))
            if not nxt or nxt <= start:
                break
            start = nxt
        found.sort(key=lambda t: t.name.lower())
        return found

    async def add(self, template_id: int, entity_type_id: int, entity_id: int) -> GeneratedDocument:
        """A new document from the template, filled and numbered by the portal (a write: never retried blind)."""
        raw = await self.client.call(
            DOCUMENT_ADD, {"templateId": template_id, "entityTypeId": entity_type_id, "entityId": entity_id}
        )
        return _document(raw, DOCUMENT_ADD)

    async def get(self, document_id: int) -> GeneratedDocument:
        return _document(await self.client.call(DOCUMENT_GET, {"id": document_id}), DOCUMENT_GET)

    async def made_after(self, template_id: int, entity_type_id: int, entity_id: int, after_id: int) -> list[int]:
        """Ids of the documents of this template and record with an id above ``after_id``, oldest first: the ones a
        lost ``add`` answer may have made (see :mod:`server.workflow.templates`)."""
        result = await self.client.call(
            DOCUMENT_LIST,
            {
                "select": ["id"],
                "filter": {
                    "templateId": template_id,
                    "entityTypeId": entity_type_id,
                    "entityId": entity_id,
                    ">id": after_id,
                },
                "order": {"id": "ASC"},
            },
        )
        rows = result.get("documents") if isinstance(result, dict) else None
        return [i for i in (to_int(r.get("id")) for r in rows or [] if isinstance(r, dict)) if i]

    async def last_id(self, template_id: int, entity_type_id: int, entity_id: int) -> int:
        """The newest document of this template and record (0 if none)."""
        result = await self.client.call(
            DOCUMENT_LIST,
            {
                "select": ["id"],
                "filter": {"templateId": template_id, "entityTypeId": entity_type_id, "entityId": entity_id},
                "order": {"id": "DESC"},
            },
        )
        rows = result.get("documents") if isinstance(result, dict) else None
        ids = [i for i in (to_int(r.get("id")) for r in rows or [] if isinstance(r, dict)) if i]
        return max(ids, default=0)

    def _with_auth(self, url: str, token: str) -> str:
        """The machine URL with the application's current token in ``auth``; only on the portal's own origin (the
        token must never go to an address an answer could name)."""
        parts = urlsplit(url)
        base = urlsplit(self.client.portal_base)
        if (parts.scheme, parts.netloc) != (base.scheme, base.netloc):
            raise BadResponse(DOCUMENT_GET, "FOREIGN_URL", "the PDF address is not on the portal")
        if not token:
            return url
        query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != "auth"]
        return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode([("auth", token), *query]), ""))

    async def download_pdf(self, document_id: int, sink: Path, *, max_bytes: int) -> int:
        """The document's PDF streamed into ``sink`` (at most ``max_bytes``); its size. A fresh ``get`` gives the
        address each time (it embeds a short-lived token)."""
        refreshed = False
        while True:
            doc = await self.get(document_id)
            if not doc.pdf_url:
                raise PdfNotReady(DOCUMENT_GET, "PDF_NOT_READY", "the portal is still making the PDF")
            token = ""
            if self.client.settings.mode == "oauth":
                token = (await self.client.tokens()).access_token
            try:
                return await self.client.download_to(self._with_auth(doc.pdf_url, token), sink, max_bytes=max_bytes)
            except ExpiredToken:
                if refreshed or self.client.settings.mode != "oauth":
                    raise
                await self.client.refresh_tokens(token)
                refreshed = True
