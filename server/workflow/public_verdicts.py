"""The address a stamped copy's QR code opens: ``<public_url>/v/<public_id>``, one per document.

The stamped copies (server.paper) print it, ``/v/<id>`` (server.routes.public_verify) resolves it back.
"""

from __future__ import annotations

from server.db import Database

from . import public_verdict_store


class PublicVerdicts:
    def __init__(self, db: Database, *, public_url: str) -> None:
        self.db = db
        self.public_url = public_url.rstrip("/")

    async def url_for(self, document_id: int) -> str:
        """The verification address of a document, its id made on first need."""
        public_id = await self.db.write(lambda d: public_verdict_store.id_for(d, document_id))
        return self.url(public_id)

    def url(self, public_id: str) -> str:
        return f"{self.public_url}/v/{public_id}"

    async def document_for(self, public_id: str) -> int | None:
        return await self.db.read(lambda d: public_verdict_store.document_for(d, public_id))
