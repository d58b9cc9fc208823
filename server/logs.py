"""Structured logging: JSON lines on stderr, or the systemd journal when running under systemd.

Messages never carry secrets or document contents; the formatter also masks values of keys that look
secret in structured ``extra`` data, as a second line of defence.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from server.ratelimit import SlidingWindow

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_SECRET_WORDS = ("token", "secret", "password", "auth", "key", "code")


def _mask(key: str, value: Any) -> Any:
    if any(word in key.lower() for word in _SECRET_WORDS) and value not in (None, ""):
        return "***"
    return value


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = _mask(key, value)
        if record.exc_info:
            entry["exc"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False, default=str)


class RepeatLimiter(logging.Filter):
    """The server loop's own lines (asyncio, uvicorn, the connection guard) at most once per ``interval``.

    Those fire once per connection or per failed accept: out of file descriptors, asyncio's accept loop
    logged a million lines a minute, and a flood of refused connections would do the same. The first line of
    a kind goes out, repeats within the interval are only counted, and the next line out says how many were
    left out (``suppressed``). Lines of the application itself are never touched.
    """

    LOGGERS = ("asyncio", "uvicorn", "klikdok.connections")
    MAX_KINDS = 1000

    def __init__(self, interval: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self._window = SlidingWindow(1, interval, clock=clock, max_keys=self.MAX_KINDS)
        self._suppressed: dict[str, int] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.name.startswith(self.LOGGERS):
            return True
        first_line = str(record.msg).split("\n", 1)[0]  # asyncio appends varying context lines
        key = f"{record.name}\n{first_line}"
        with self._lock:
            if self._window.hit(key) is not None:
                if len(self._suppressed) >= self.MAX_KINDS and key not in self._suppressed:
                    self._suppressed.clear()
                self._suppressed[key] = self._suppressed.get(key, 0) + 1
                return False
            suppressed = self._suppressed.pop(key, 0)
        if suppressed:
            record.suppressed = suppressed
        return True


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")


def _journal_handler() -> logging.Handler | None:
    try:
        from systemd.journal import JournalHandler
    except ImportError:
        return None
    return JournalHandler(SYSLOG_IDENTIFIER="klikdok")


def configure(level: str = "info", fmt: str = "json", target: str = "auto") -> str:
    """Install the root handler; returns where logs go ("stderr" or "journal")."""
    root = logging.getLogger()
    for previous in list(root.handlers):
        root.removeHandler(previous)
    handler: logging.Handler | None = None
    where = "stderr"
    under_systemd = bool(os.environ.get("JOURNAL_STREAM") or os.environ.get("INVOCATION_ID"))
    if target == "journal" or (target == "auto" and under_systemd):
        handler = _journal_handler()
        if handler is not None:
            where = "journal"
    if handler is None:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RepeatLimiter())
    root.addHandler(handler)
    root.setLevel(level.upper())
    # httpx logs full request URLs at INFO; webhook URLs carry a secret code.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    return where
