"""A transaction's secret, sealed under the link's own secrets so that the database never holds it in clear.

Some transactions offer a file that is itself a secret: a certificate registration challenge (its nonce is
stored elsewhere only as a hash, so a copy of the database cannot be used to learn it). The server must still
serve it to CryptoARM (which presents only the file access token) and check the returned signature over it
(when it has only the transaction id). So the secret is kept twice, each copy sealed under a key derived from
one of those two values; both are 256-bit random values of which the database keeps only SHA-256 digests
(with other prefixes), so neither copy opens without the link or the token.

Each key seals exactly one message (the values are random and single-use), so a SHAKE-256 keystream is
enough for secrecy; an HMAC-SHA256 tag refuses a copy that was tampered with or opened with the wrong key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac

TAG_BYTES = 32
MAX_SECRET_BYTES = 4096


class Unsealable(Exception):
    """The sealed value is damaged, or the key is not the one it was sealed under."""


def _key(purpose: str, secret: str) -> bytes:
    return hashlib.sha256(f"klikdok-cryptoarm-seal:{purpose}:{secret}".encode()).digest()


def _stream(key: bytes, size: int) -> bytes:
    return hashlib.shake_256(b"stream" + key).digest(size)


def seal(purpose: str, secret: str, data: bytes) -> str:
    """``data`` sealed under ``secret`` (the transaction id or the access token; ``purpose`` says which)."""
    if len(data) > MAX_SECRET_BYTES:
        raise ValueError("secret too large")
    key = _key(purpose, secret)
    body = bytes(a ^ b for a, b in zip(data, _stream(key, len(data)), strict=True))
    tag = hmac.new(key, body, hashlib.sha256).digest()
    return base64.b64encode(body + tag).decode()


def open_sealed(purpose: str, secret: str, sealed: str) -> bytes:
    try:
        raw = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError):
        raise Unsealable("not base64") from None
    if len(raw) < TAG_BYTES or len(raw) > MAX_SECRET_BYTES + TAG_BYTES:
        raise Unsealable("bad length")
    body, tag = raw[:-TAG_BYTES], raw[-TAG_BYTES:]
    key = _key(purpose, secret)
    if not hmac.compare_digest(tag, hmac.new(key, body, hashlib.sha256).digest()):
        raise Unsealable("wrong key or damaged")
    return bytes(a ^ b for a, b in zip(body, _stream(key, len(body)), strict=True))
