"""Named crash points, so a crash-safety test can SIGKILL the server at an exact moment between two steps.

"One transition, one transaction" (DESIGN) is only proven by a crash in the window it closes, and that window
is microseconds wide: no test can hit it from outside the process. ``KLIKDOK_TEST_CRASH_AT`` names the points
(comma-separated) at which the server kills itself with SIGKILL, as abruptly as a power cut. It is read once,
at the first point reached; it is not a configuration key and never set outside tests, and an unnamed point
costs one set lookup.
"""

from __future__ import annotations

import functools
import logging
import os
import signal

log = logging.getLogger(__name__)

ENV = "KLIKDOK_TEST_CRASH_AT"


@functools.cache
def _armed() -> frozenset[str]:
    return frozenset(p.strip() for p in os.environ.get(ENV, "").split(",") if p.strip())


def reached(point: str) -> None:
    """Die here, at once, if a test armed ``point``."""
    if point in _armed():
        log.warning("crash point %s reached: the server kills itself (%s)", point, ENV)
        os.kill(os.getpid(), signal.SIGKILL)
