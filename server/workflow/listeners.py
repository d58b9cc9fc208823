"""Explicit extension points of the workflow, registered once at start-up by the packages that need them.

Why listeners and not polling: some consequences of a transition belong to it. When the company's last signer
signs, the counterparty must be invited; if the invitation were left to a later scan, a crash or a slow scan
would leave a document "waiting for the counterparty" that nobody outside was ever told about. So
:mod:`server.workflow.states` calls the listeners registered for a transition inside that transition's
transaction, after it has written the new state: whatever they write (a counterparty link, its e-mail in the
outbox, an audit row) commits together with the transition or not at all.

Rules for an in-transaction listener ``fn(db, doc)``: ``db`` is the writer's connection (no other I/O, no
awaiting), ``doc`` the document row as the transition left it. It must not raise for situations it can handle
(a missing e-mail address is a notification, not an exception): an exception rolls the whole transition back.

After a transition commits, :meth:`TransitionListeners.committed` runs the ``on_commit`` callbacks: they wake the
workers that deliver the outbox messages the transition and its listeners enqueued (the Bitrix24 outbox
worker, the mail worker). ``on_jobs_opened`` callbacks are told when new signing jobs exist, so the agents hub
pushes them at once instead of at its next poll.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable

from sqlite_utils import Database

from .model import DocumentRow

log = logging.getLogger(__name__)

InTransaction = Callable[[Database, DocumentRow], None]
Wake = Callable[[], None]


class TransitionListeners:
    """Who is told about what. ``known`` (the state machine's transition names) catches misspelt registrations."""

    def __init__(self, known: Iterable[str] | None = None) -> None:
        self.known = frozenset(known) if known is not None else None
        self._in_transaction: dict[str, list[InTransaction]] = {}
        self._on_commit: list[Wake] = []
        self._on_jobs_opened: list[Wake] = []

    # -- registration ---------------------------------------------------------------------------------------

    def on(self, transition: str, fn: InTransaction) -> None:
        """Run ``fn(db, doc)`` inside every ``transition`` (a name from ``states.TRANSITIONS``)."""
        if self.known is not None and transition not in self.known:
            raise ValueError(f"unknown transition: {transition}")
        self._in_transaction.setdefault(transition, []).append(fn)

    def on_commit(self, wake: Wake) -> None:
        """Call ``wake()`` after any transition commits (it may have enqueued messages for this worker)."""
        self._on_commit.append(wake)

    def on_jobs_opened(self, wake: Wake) -> None:
        """Call ``wake()`` after new signing jobs were committed."""
        self._on_jobs_opened.append(wake)

    # -- firing ---------------------------------------------------------------------------------------------

    def fire(self, transition: str, db: Database, doc: DocumentRow) -> None:
        """Inside the transaction: every listener of ``transition``, in registration order."""
        for fn in self._in_transaction.get(transition, ()):
            fn(db, doc)

    def committed(self) -> None:
        """After the commit. A failing wake-up must not turn a committed transition into an error answer."""
        _call_all(self._on_commit)

    def jobs_opened(self) -> None:
        _call_all(self._on_jobs_opened)


def _call_all(callbacks: Iterable[Wake]) -> None:
    for wake in callbacks:
        try:
            wake()
        except Exception:  # the work is committed; the worker's own poll picks it up anyway
            log.exception("wake-up callback failed")


# For callers that run a transition without a running server (tests, the CLI): nothing registered.
NO_LISTENERS = TransitionListeners()
