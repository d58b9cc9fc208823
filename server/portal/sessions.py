"""Short-lived page session tokens.

A placement or app page is trusted once its POST is checked; the page then gets a signed token that its
scripts send in the ``X-KlikDok-Session`` header. No cookies are involved, so nothing depends on
third-party cookies inside the portal's iframe. The signing key lives in the data directory, readable
by the server's user only. A session names the portal install it was issued in (member_id and generation),
so the caller can refuse it once that install is gone (see ``server.portal.generation``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from pathlib import Path

import msgspec

HEADER = "X-KlikDok-Session"


class Session(msgspec.Struct, frozen=True):
    member_id: str
    user_id: int
    expires: int
    placement: str = ""
    entity_type: str = ""
    entity_id: int = 0
    admin: bool = False
    generation: int = 0


class InvalidSession(Exception):
    pass


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> bytes:
    """The HMAC key; created with mode 0600 on first start."""
    try:
        key = path.read_bytes()
        if len(key) >= 32:
            return key
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = secrets.token_bytes(32)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(key)
    tmp.replace(path)
    return key


class SessionSigner:
    def __init__(self, key: bytes, ttl_seconds: int) -> None:
        self._key = key
        self.ttl = ttl_seconds

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())

    def seal(self, purpose: str, text: str) -> str:
        """An HMAC of ``purpose|text`` under the session key, for a value a page must hand back unchanged (the deals
        a bulk send may use). It can never pass as a session: a session's body is base64, which has no «|»."""
        return self._mac(f"{purpose}|{text}")

    def sealed(self, purpose: str, text: str, mac: str) -> bool:
        return hmac.compare_digest(self.seal(purpose, text), mac)

    def issue(
        self,
        *,
        member_id: str,
        user_id: int,
        placement: str = "",
        entity_type: str = "",
        entity_id: int = 0,
        admin: bool = False,
        generation: int = 0,
        now: float | None = None,
    ) -> str:
        session = Session(
            member_id=member_id,
            user_id=user_id,
            expires=int((now or time.time()) + self.ttl),
            placement=placement,
            entity_type=entity_type,
            entity_id=entity_id,
            admin=admin,
            generation=generation,
        )
        body = _b64(msgspec.json.encode(session))
        return f"{body}.{self._mac(body)}"

    def verify(self, token: str, *, now: float | None = None) -> Session:
        body, _, mac = token.partition(".")
        # compare_digest refuses non-ASCII str with a TypeError; a header can carry any latin-1 character.
        if not body or not mac or not token.isascii() or not hmac.compare_digest(mac, self._mac(body)):
            raise InvalidSession("подпись сессии неверна")
        try:
            session = msgspec.json.decode(_unb64(body), type=Session)
        except (msgspec.DecodeError, ValueError):
            raise InvalidSession("сессия повреждена") from None
        if session.expires < (now or time.time()):
            raise InvalidSession("сессия истекла — откройте вкладку заново")
        return session
