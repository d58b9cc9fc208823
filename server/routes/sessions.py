"""The page session every call from the portal pages carries (``X-KlikDok-Session``), checked once here.

The JSON API, the agents' page side and the CryptoARM transaction call all take it as the ``session``
dependency (:mod:`.dependencies`); the schema guard checks it from the connection (guards get no injection).
"""

from __future__ import annotations

from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.exceptions import NotAuthorizedException

from server.portal.service import PortalService
from server.portal.sessions import HEADER, InvalidSession, Session, SessionSigner


def verify_session(
    connection: ASGIConnection[Any, Any, Any, Any], signer: SessionSigner, portal: PortalService
) -> Session:
    """The session behind the header; 401 when it is missing, forged, expired or from before a reinstall."""
    token = connection.headers.get(HEADER, "")
    if not token:
        raise NotAuthorizedException("Нужна сессия страницы (заголовок X-KlikDok-Session).")
    try:
        session = signer.verify(token)
    except InvalidSession as exc:
        raise NotAuthorizedException(str(exc)) from None
    if not portal.session_current(session.member_id, session.generation):
        raise NotAuthorizedException(
            "Сессия больше не действует: приложение переустановлено или отключено — откройте вкладку заново."
        )
    return session


# Where the checked session is kept on the request, so a refusal can be audited against its user.
SESSION_KEY = "klikdok.session"


def current_session(request: Request[Any, Any, Any], signer: SessionSigner, portal: PortalService) -> Session:
    """The ``session`` dependency (it receives the signer and the portal as dependencies in turn)."""
    session = verify_session(request, signer, portal)
    request.scope.setdefault("state", {})[SESSION_KEY] = session
    return session
