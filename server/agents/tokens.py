"""Secrets handed to devices and apps: device keys, pairing codes, CryptoARM transaction ids and tokens.

Only their SHA-256 is ever stored, so a copy of the database does not let anyone connect as an agent or
replay a transaction. All of them are high-entropy random values, so a plain (unsalted) hash is enough and
lets the server find the row by the hash in one indexed lookup.
"""

from __future__ import annotations

import hashlib
import secrets

# Pairing codes are typed by a person: no 0/O, 1/I/L look-alikes. 10 symbols of 31 ≈ 49 bits, more than
# enough for a code that lives 10 minutes and whose attempts are rate-limited.
_CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 10
DEVICE_KEY_PREFIX = "kda_"


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_device_key() -> str:
    """256 random bits, URL-safe; the prefix lets log scrubbers and people recognise one."""
    return DEVICE_KEY_PREFIX + secrets.token_urlsafe(32)


def new_pairing_code() -> str:
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return f"{raw[:4]}-{raw[4:8]}-{raw[8:]}"


def normalize_code(code: str) -> str:
    """What the person typed, made comparable: case, spaces and dashes do not matter."""
    return "".join(ch for ch in code.upper() if ch.isalnum())


def code_digest(code: str) -> str:
    return digest("pair:" + normalize_code(code))


def new_transaction_id() -> str:
    """A CryptoARM transaction id (it travels in the cryptoarm:// link): 256 random bits."""
    return secrets.token_urlsafe(32)


def new_access_token() -> str:
    return secrets.token_urlsafe(32)
