"""``POST /api/v1/documents/{id}/versions``: «Новая версия» of a rejected, withdrawn or expired document (issue 17).

Multipart with ``files`` (as when a document is created) replaces the files; without files (an empty body, a JSON
body or a multipart form with no ``files``) the new version reuses the old one's. ``due_date`` (``YYYY-MM-DD``,
optional) picks the new deadline. The new version is sent at once with the same route; 409 for a document that
is completed, still in progress or already has a newer version (:mod:`server.workflow.versions`).
"""

from __future__ import annotations

import msgspec
from litestar import Controller, Request, post

from server.config import Settings
from server.workflow.permissions import Viewer
from server.workflow.versions import Versions

from ..errors import ApiProblem
from ..uploads import receive_body, receive_form
from .documents import audited, document_limits, document_uploads


class NewVersion(msgspec.Struct):
    id: int
    version: int
    previous_id: int


class VersionOptions(msgspec.Struct):
    due_date: str = ""


class VersionsController(Controller):
    path = "/api/v1"
    tags = ["documents"]

    @post(
        "/documents/{document_id:int}/versions",
        operation_id="new_document_version",
        status_code=201,
        request_max_body_size=None,
        summary="Create and send the next version of a rejected, withdrawn or expired document (multipart 'files' "
        "replace the files; without them the old ones are reused; 'due_date' picks the deadline)",
        opt=audited("new-version"),
    )
    async def new_version(
        self,
        request: Request,
        viewer: Viewer,
        versions: Versions,
        settings: Settings,
        document_id: int,
    ) -> NewVersion:
        ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
        limits = document_limits(settings)
        if ctype == "multipart/form-data":
            async with receive_form(request, settings.storage.path, limits) as form:
                uploads = document_uploads(form)
                new_id = await versions.new_version(
                    viewer, document_id, uploads, due_date=str(form.get("due_date") or "")
                )
        else:
            async with receive_body(request, settings.storage.path, limits, name="options") as body:
                raw = body.read_bytes()
            try:
                options = msgspec.json.decode(raw, type=VersionOptions) if raw.strip() else VersionOptions()
            except msgspec.DecodeError:
                raise ApiProblem(400, "bad_request", "Неверный запрос: ожидается JSON или форма с файлами.") from None
            new_id = await versions.new_version(viewer, document_id, due_date=options.due_date)
        doc = await versions.documents.visible_document(viewer, new_id)
        return NewVersion(id=new_id, version=doc.version, previous_id=document_id)
