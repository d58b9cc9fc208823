"""The door of the automation robots: the portal POSTs each robot call to ``/b24/robot``.

What the portal sends (the robot handler's fields, apidocs.bitrix24.com api-reference/bizproc/bizproc-robot/
index.md): ``workflow_id``, ``code`` (the robot's CODE), ``document_id`` (``["crm", "CCrmDocumentDeal",
"DEAL_5"]``), ``document_type``, ``event_token`` (what ``bizproc.event.send`` answers with), ``properties[...]``
(the values the automation rule set), ``use_subscription``, ``timeout_duration``, ``ts`` and ``auth[...]``
(``access_token``, ``member_id``, ``application_token``, ``user_id``, ``domain``...), as a PHP-style form.

Trust: the call must carry the member_id and the application token the install stored, as every event does
(:func:`server.portal.robots.verify_call`); anything else is refused with 403 and audited. The portal waits for
the HTTP answer only briefly, so the door records the call and answers at once; the work runs in the outbox
(:mod:`server.workflow.robots`). The same EVENT_TOKEN posted again (the portal retries a call it timed out on)
is answered the same way and does nothing.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, Response, post
from litestar.status_codes import HTTP_400_BAD_REQUEST, HTTP_403_FORBIDDEN

from server.portal import robots as defs
from server.portal.service import PortalRejected
from server.workflow.robots import card_of

from .dependencies import Services
from .errors import BadForm
from .portal_pages import client_ip, read_form

CODES = (defs.SEND, defs.WAIT)
MAX_TOKEN = 512


def _error(status: int, error: str) -> Response[dict[str, str]]:
    return Response({"status": "error", "error": error}, status_code=status)


@post(defs.HANDLER_PATH, status_code=200, include_in_schema=False)
async def robot_call(request: Request[Any, Any, Any], services: Services) -> Response[dict[str, str]]:
    try:
        form = await read_form(request)
    except (BadForm, PortalRejected):
        return _error(HTTP_400_BAD_REQUEST, "malformed_request")
    if not await defs.verify_call(services.db, form, client_ip=client_ip(request)):
        return _error(HTTP_403_FORBIDDEN, "invalid_application_token")
    code = str(form.get("code") or "")
    token = str(form.get("event_token") or "")
    card = card_of(form.get("document_id"))
    if code not in CODES:
        return _error(HTTP_400_BAD_REQUEST, "unknown_robot")
    if not token or len(token) > MAX_TOKEN:
        return _error(HTTP_400_BAD_REQUEST, "no_event_token")
    if card is None:
        return _error(HTTP_400_BAD_REQUEST, "unsupported_document")
    given = form.get("properties")
    properties: dict[str, Any] = given if isinstance(given, dict) else {}
    auth = form.get("auth")
    raw_user = str(auth.get("user_id") or "") if isinstance(auth, dict) else ""
    user_id = int(raw_user) if raw_user.isdigit() else None
    assert services.robots is not None
    new = await services.robots.accept(event_token=token, code=code, card=card, user_id=user_id, properties=properties)
    return Response({"status": "ok", "message": "accepted" if new else "already accepted"})


ROUTES = [robot_call]
