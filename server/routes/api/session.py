"""``GET /api/v1/session``: what the page session header says, for the pages' own checks."""

from __future__ import annotations

from litestar import get

from server.portal.sessions import Session


@get("/api/v1/session", operation_id="session", summary="The page session behind X-KlikDok-Session")
async def session_info(session: Session) -> Session:
    return session
