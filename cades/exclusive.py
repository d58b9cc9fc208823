"""One process-wide lock for the work on parsed ASN.1: asn1crypto objects are not safe to share between threads.

asn1crypto parses lazily: a SEQUENCE fills its list of children on first access (it empties the list, then
appends), a certificate reads its extensions on the first property asked. The verifier shares parsed objects
between verifications on purpose (the context's anchors and intermediates, fetched CRLs) and memoises verdicts
computed from them (a certificate's facts, the issuer's signature on it, a CRL's index). Two threads reading one
object for the first time saw a half-filled list, and the verdict made from it ("malformed",
"bad_certificate_signature") was memoised for the life of the process: the agent refused every later signature
of that signer as "not one the server trusts". The server verifies in worker threads (uploads, the public page,
archive checks) and the agent checks its signatures in threads, so the structural part of every verification
runs under this lock. Hashing a document and the network (CRL, OCSP, caIssuers) run outside it; under the GIL
that is where threads gain anything anyway.

The lock is reentrant within a thread (the public functions call each other) and :func:`released` gives it up
around a network call, so one slow OCSP responder does not stall the other verifications.
"""

from __future__ import annotations

import contextlib
import functools
import threading
from collections.abc import Callable, Iterator
from typing import ParamSpec, TypeVar

__all__ = ["exclusive", "exclusively", "released"]

P = ParamSpec("P")
R = TypeVar("R")

_lock = threading.Lock()
_held = threading.local()  # .depth: how many exclusive sections this thread is inside (0: the lock is not ours)


def _depth() -> int:
    depth: int = getattr(_held, "depth", 0)
    return depth


@contextlib.contextmanager
def exclusive() -> Iterator[None]:
    """Hold the lock for the block (at once if this thread holds it already)."""
    depth = _depth()
    if depth:
        _held.depth = depth + 1
        try:
            yield
        finally:
            _held.depth = depth
        return
    with _lock:
        _held.depth = 1
        try:
            yield
        finally:
            _held.depth = 0


def exclusively(fn: Callable[P, R]) -> Callable[P, R]:
    """The function runs under the lock (a decorator for the entry points that read parsed objects)."""

    @functools.wraps(fn)
    def run(*args: P.args, **kwargs: P.kwargs) -> R:
        depth = _depth()
        if depth:  # already ours: the common case inside a verification, kept to one attribute read
            return fn(*args, **kwargs)
        with _lock:
            _held.depth = 1
            try:
                return fn(*args, **kwargs)
            finally:
                _held.depth = 0

    return run


@contextlib.contextmanager
def released() -> Iterator[None]:
    """Give the lock up for a block that touches no parsed object (a network call), then take it back."""
    depth = _depth()
    if not depth:
        yield
        return
    _held.depth = 0
    _lock.release()
    try:
        yield
    finally:
        _lock.acquire()
        _held.depth = depth
