"""``/api/v1``: согласование (issue 17): the approver whose turn it is approves a document or returns it to its
author with a comment. Both are POSTs, so ``Idempotency-Key`` makes a double click one approval (docs/api.md); a
403 (not an approver, not their turn) is audited like every refusal of a document route."""

from __future__ import annotations

import msgspec
from litestar import post

from server.workflow.permissions import Viewer
from server.workflow.transitions import Transitions

from .documents import Done, audited


class CommentBody(msgspec.Struct):
    comment: str = ""


@post(
    "/api/v1/documents/{document_id:int}/approve",
    operation_id="approve_document",
    status_code=200,
    summary="Approve the document (the session's user is its current approver); the last approval starts signing",
    opt=audited("approve"),
)
async def approve(viewer: Viewer, transitions: Transitions, document_id: int) -> Done:
    await transitions.approve(viewer, document_id)
    return Done()


@post(
    "/api/v1/documents/{document_id:int}/return",
    operation_id="return_document",
    status_code=200,
    summary="Return the document to its author for changes, with a comment (required)",
    opt=audited("return"),
)
async def send_back(viewer: Viewer, transitions: Transitions, document_id: int, data: CommentBody) -> Done:
    await transitions.send_back(viewer, document_id, data.comment)
    return Done()


ROUTES = [approve, send_back]
