"""The server loop's repeated log lines go out once per interval, with a count of what was left out.

The filter is a sliding window of one event per kind (:mod:`server.ratelimit`); these are its promises.
"""

from __future__ import annotations

import logging

from server.logs import RepeatLimiter


def record(name: str, msg: str) -> logging.LogRecord:
    return logging.makeLogRecord({"name": name, "msg": msg})


def test_a_kind_goes_out_once_per_interval_and_then_says_how_many_were_left_out() -> None:
    now = [0.0]
    limiter = RepeatLimiter(60.0, clock=lambda: now[0])
    assert limiter.filter(record("asyncio", "accept failed\ncontext 1"))
    assert not limiter.filter(record("asyncio", "accept failed\ncontext 2"))  # same first line: same kind
    assert not limiter.filter(record("asyncio", "accept failed"))
    assert limiter.filter(record("asyncio", "another kind"))
    now[0] = 59.9
    assert not limiter.filter(record("asyncio", "accept failed"))
    now[0] = 60.0
    out = record("asyncio", "accept failed")
    assert limiter.filter(out) and out.suppressed == 3
    now[0] = 200.0
    again = record("asyncio", "another kind")
    assert limiter.filter(again) and not hasattr(again, "suppressed")


def test_the_application_s_own_lines_are_never_held_back() -> None:
    limiter = RepeatLimiter(60.0, clock=lambda: 0.0)
    assert all(limiter.filter(record("klikdok.workflow", "same line")) for _ in range(5))
