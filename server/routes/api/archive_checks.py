"""``/api/v1/archive-checks``: the auditor's «Проверка архива» — upload a ZIP, watch every signature in it checked.

``POST`` takes a multipart form with one file ``archive`` (streamed to disk, refused with 413 past ``[limits]
archive_check_max_mb``) and answers 201 with the check's id; ``GET /archive-checks/{id}?after=N`` answers the
progress and the verdicts recorded from the ``N``-th on (the page asks for what is new every second);
``GET /archive-checks`` lists the auditor's recent checks. Auditors only (403 otherwise, audited).
"""

from __future__ import annotations

from typing import Any

import msgspec
from litestar import Controller, Request, get, post

from server.config import Settings
from server.workflow.archive_checks import ArchiveChecks
from server.workflow.permissions import Viewer

from ..errors import ApiProblem
from ..uploads import Limits, receive_form
from .documents import MIB, audited


class CheckStarted(msgspec.Struct):
    id: int


def archive_limits(settings: Settings) -> Limits:
    most = settings.limits.archive_check_max_mb
    return Limits(
        file_bytes=most * MIB,
        total_bytes=most * MIB + MIB,
        file_too_large=lambda name: f"Архив больше {most} МБ, такие не принимаются. Разделите его на несколько.",
        total_too_large=f"Архив больше {most} МБ, такие не принимаются. Разделите его на несколько.",
    )


class ArchiveChecksController(Controller):
    path = "/api/v1/archive-checks"
    tags = ["audit"]

    @post(
        "/",
        operation_id="start_archive_check",
        status_code=201,
        request_max_body_size=None,
        summary="Check every signature of an uploaded ZIP (multipart 'archive'); auditors only",
        opt=audited("archive-check"),
    )
    async def start(
        self, request: Request[Any, Any, Any], viewer: Viewer, checks: ArchiveChecks, settings: Settings
    ) -> CheckStarted:
        viewer.require_auditor()  # before reading a byte of a large upload
        async with receive_form(request, settings.storage.path, archive_limits(settings)) as form:
            archives = [f for f in form.files if f.field == "archive"]
            if len(archives) != 1 or archives[0].size == 0:
                raise ApiProblem(400, "no_file", "Выберите один ZIP-архив с документами и подписями.")
            received = archives[0]
            check_id = await checks.submit(viewer, received.path, received.filename or "архив.zip", received.size)
        return CheckStarted(id=check_id)

    @get(
        "/{check_id:int}",
        operation_id="archive_check_progress",
        summary="A check's progress, and the verdicts recorded from the 'after'-th on",
        opt=audited("archive-check"),
    )
    async def progress(self, viewer: Viewer, checks: ArchiveChecks, check_id: int, after: int = 0) -> dict[str, Any]:
        return (await checks.progress(viewer, check_id, after)).as_json()

    @get(
        "/", operation_id="archive_checks", summary="The auditor's recent archive checks", opt=audited("archive-check")
    )
    async def recent(self, viewer: Viewer, checks: ArchiveChecks) -> list[dict[str, Any]]:
        return [
            {"id": c.id, "file_name": c.file_name, "state": c.state, "total": c.total, "created_at": c.created_at}
            for c in await checks.recent(viewer)
        ]


ROUTES = [ArchiveChecksController]
