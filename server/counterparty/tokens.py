"""Link tokens: 256 bits, never stored.

A link row keeps a random 256-bit nonce and the SHA-256 of the token; the token itself is
HMAC-SHA256(server link key, nonce). So the database alone (a backup, a leaked copy) does not reveal any
working link, yet the mail worker can still put the link into an invitation or a reminder long after the
link was issued, because it holds the key file (``link.key`` in the data directory, mode 0600).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from server.portal.sessions import load_or_create_key

KEY_FILE = "link.key"
# 32 bytes of HMAC output in unpadded base64url.
TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{43}$")


def new_nonce() -> str:
    return secrets.token_hex(32)


def derive(key: bytes, nonce: str) -> str:
    mac = hmac.new(key, b"klikdok-counterparty-link:" + nonce.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(mac).rstrip(b"=").decode()


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def well_formed(token: str) -> bool:
    """Cheap shape check before any database lookup (a malformed token is never looked up)."""
    return bool(TOKEN_RE.match(token))


def load_key(data_dir: Path) -> bytes:
    return load_or_create_key(data_dir / KEY_FILE)
