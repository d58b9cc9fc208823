"""A logging filter that removes anything shaped like a device key or a bearer token from every record."""

from __future__ import annotations

import logging
import re

_SECRET = re.compile(r"(kda_)[A-Za-z0-9_\-]{8,}|(Bearer\s+)[A-Za-z0-9_\-.~+/=]{8,}", re.I)


def scrub(text: str) -> str:
    return _SECRET.sub(lambda m: (m.group(1) or m.group(2)) + "***", text)


class RedactSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        return True


def configure(level: str) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
