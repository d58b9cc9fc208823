"""Keeping OAuth tokens, client secrets and webhook codes out of reprs and log lines.

Tokens travel inside URLs Bitrix hands us (`DOWNLOAD_URL`, `uploadUrl`, refresh requests with query params),
and httpx logs every request URL at INFO. Rather than trusting every caller to be careful, the client masks its
own output and installs a redacting filter on httpx's loggers.
"""

from __future__ import annotations

import hashlib
import logging
import re

_SECRET_QUERY = re.compile(
    r"(?i)\b(auth|access_token|refresh_token|client_secret|token|code|application_token|auth_id|refresh_id)"
    r"=([^&\s\"'#]+)"
)
# `/rest/<user_id>/<code>/...` is a webhook URL; the code is the whole credential.
_WEBHOOK_PATH = re.compile(r"(/rest/\d+/)([A-Za-z0-9_\-]{4,})(/|\b)")


def fingerprint(secret: str | None) -> str:
    """A short stable tag that tells two secrets apart in logs without revealing any character of them."""
    if not secret:
        return "<none>"
    return "<secret#" + hashlib.sha256(secret.encode()).hexdigest()[:8] + ">"


def redact(text: str) -> str:
    """Replace credentials in URLs or free text with fingerprints."""
    text = _SECRET_QUERY.sub(lambda m: f"{m.group(1)}={fingerprint(m.group(2))}", text)
    return _WEBHOOK_PATH.sub(lambda m: f"{m.group(1)}{fingerprint(m.group(2))}{m.group(3)}", text)


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with `redact` before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix; let logging report it
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg = cleaned
            record.args = None
        return True


_LIBRARY_LOGGERS = ("httpx", "httpcore", "httpcore.http11", "httpcore.http2", "httpcore.connection", "httpcore.proxy")
_installed = False


def install_log_redaction() -> None:
    """Attach the filter to the HTTP libraries' loggers once per process.

    Filters on a logger only see records created on that exact logger, hence the explicit list.
    """
    global _installed
    if _installed:
        return
    for name in _LIBRARY_LOGGERS:
        logging.getLogger(name).addFilter(RedactingFilter())
    _installed = True
