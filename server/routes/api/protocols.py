"""``/api/v1``: the verification protocol as PDF («протокол проверки электронной подписи»), per document and for a
selection of documents (the «Аудит» section of the app page).

Both are what :class:`server.workflow.reports.Reports` renders from the documents' stored results; who may have one
is the report's rule (the document is visible to the viewer), and a 403 is audited like the report's. The
selection is a POST (a list of ids in the body), so it goes through ``Idempotency-Key`` like every POST: a double
click on «Протокол проверки (PDF)» makes one PDF.
"""

from __future__ import annotations

from typing import Annotated

import msgspec
from litestar import Request, Response, get, post

from server import jsonbody
from server.workflow.paper_copies import PaperCopies
from server.workflow.permissions import Viewer
from server.workflow.reports import MAX_SELECTION, Reports

from ..errors import ApiProblem
from .documents import attachment, audited


@get(
    "/api/v1/documents/{document_id:int}/protocol.pdf",
    operation_id="verification_protocol",
    summary="The verification protocol of a document as PDF: files, digests, every signature's verdict",
    opt=audited("report"),
)
async def document_protocol(viewer: Viewer, paper: PaperCopies, document_id: int) -> Response[bytes]:
    """The document's protocol (also before its first signature: it then says there is none), the download
    audited like the package's (``document.protocol_exported``)."""
    name, data = await paper.protocol_for(viewer, document_id)
    return attachment(name, data, "application/pdf")


@post(
    "/api/v1/reports/protocol.pdf",
    operation_id="selection_protocol",
    status_code=200,
    summary=f"One verification protocol PDF for a JSON list of document ids (at most {MAX_SELECTION})",
    opt=audited("report"),
)
async def selection_protocol(request: Request, viewer: Viewer, reports: Reports) -> Response[bytes]:
    try:
        body = jsonbody.decode(await request.body(), type=list[Annotated[int, msgspec.Meta(gt=0)]])
    except msgspec.DecodeError:
        raise ApiProblem(400, "bad_request", "Нужен список номеров документов, например [12, 15].") from None
    ids = list(dict.fromkeys(body))
    if not ids:
        raise ApiProblem(400, "bad_request", "Не выбрано ни одного документа.")
    if len(ids) > MAX_SELECTION:
        raise ApiProblem(
            400,
            "too_many_documents",
            f"В один протокол входит не больше {MAX_SELECTION} документов, выбрано {len(ids)}.",
        )
    name, data = await reports.selection_pdf(viewer, ids)
    return attachment(name, data, "application/pdf")


ROUTES = [document_protocol, selection_protocol]
