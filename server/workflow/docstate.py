"""The vocabulary of document states: the one place a state is named, labelled and connected to others.

```
draft ──send──▶ awaiting_internal ──all internal signed──▶ awaiting_counterparty ──cp signs──▶ completed
  │                 │ reject (reason)                           │ reject (reason)
  │                 ▼                                           ▼
  └──delete     rejected_internal                          rejected_counterparty
 any open state ──withdraw (author)──▶ withdrawn ;  awaiting_counterparty ──deadline passed──▶ expired

With approvers (issue 17, server/workflow/approval.py), «send» goes through согласование first:
draft/returned ──submit_for_approval──▶ in_approval ──last approver approves (approved)──▶ awaiting_internal
                                           │ an approver sends it back with a comment (return)
                                           ▼
                                        returned ──(author edits, sends again)──▶ approval
```

The values are what the database and the API carry, so they never change. Adding a state means one member here,
its :data:`_INFO` entry and the transitions that lead to it; the database does not check the value (migration
0009 dropped that CHECK), the transitions do. The pages get labels and flags from :func:`for_pages`, never their
own copies. This module imports nothing of ours, so every layer may use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Literal

Actor = Literal["author", "approver", "internal", "counterparty"]
Tone = Literal["neutral", "waiting", "counterparty", "ok", "bad", "muted"]
CounterpartyPanel = Literal["", "always", "with_links"]


class DocState(StrEnum):
    DRAFT = "draft"
    APPROVAL = "in_approval"
    RETURNED = "returned"
    AWAITING_INTERNAL = "awaiting_internal"
    AWAITING_COUNTERPARTY = "awaiting_counterparty"
    COMPLETED = "completed"
    REJECTED_INTERNAL = "rejected_internal"
    REJECTED_COUNTERPARTY = "rejected_counterparty"
    WITHDRAWN = "withdrawn"
    EXPIRED = "expired"
    DELETED = "deleted"

    @property
    def info(self) -> StateInfo:
        return _INFO[self]

    @property
    def label(self) -> str:
        return _INFO[self].label

    @property
    def is_open(self) -> bool:
        return _INFO[self].open

    @property
    def is_final(self) -> bool:
        return not _INFO[self].open

    @property
    def awaits_signature(self) -> bool:
        """A signer (a company employee or the counterparty) is expected to act: signatures are accepted."""
        return _INFO[self].actor in ("internal", "counterparty")


@dataclass(frozen=True)
class StateInfo:
    """What the rest of the code asks about a state.

    ``actor`` is who moves the document on; ``author_actions`` and ``signer_actions`` are what the pages may offer
    the author and the current internal signer (the transitions check again); ``approver_actions`` what a current
    approver may do (согласование, issue 17). ``author_only``: nobody else sees the
    document. ``counterparty_headline``/``counterparty_panel``: the counterparty block under a document (shown
    always, only when links were sent, or not at all) and its headline when the state alone decides it.
    """

    label: str
    open: bool
    actor: Actor | None
    tone: Tone
    author_actions: tuple[str, ...] = ()
    signer_actions: tuple[str, ...] = ()
    approver_actions: tuple[str, ...] = ()
    author_only: bool = False
    rejection: bool = False
    counterparty_panel: CounterpartyPanel = ""
    counterparty_headline: str = ""


_INFO: dict[DocState, StateInfo] = {
    DocState.DRAFT: StateInfo(
        "Черновик", True, "author", "neutral", author_actions=("route", "send", "delete", "withdraw"), author_only=True
    ),
    DocState.APPROVAL: StateInfo(
        "На согласовании",
        True,
        "approver",
        "waiting",
        author_actions=("withdraw",),
        approver_actions=("approve", "return"),
    ),
    # Sent back by an approver: the author corrects the route and sends it again (approval restarts), or corrects
    # the files as a new version (this one is withdrawn in its favour); the approvers keep seeing it (not
    # author_only: they have read it already).
    DocState.RETURNED: StateInfo(
        "На доработке", True, "author", "bad", author_actions=("route", "send", "withdraw", "new_version")
    ),
    DocState.AWAITING_INTERNAL: StateInfo(
        "На подписи",
        True,
        "internal",
        "waiting",
        author_actions=("remind", "withdraw"),
        signer_actions=("sign", "reject"),
    ),
    DocState.AWAITING_COUNTERPARTY: StateInfo(
        "Ожидает контрагента",
        True,
        "counterparty",
        "counterparty",
        author_actions=("withdraw",),
        counterparty_panel="always",
    ),
    DocState.COMPLETED: StateInfo(
        "Подписан", False, None, "ok", counterparty_panel="always", counterparty_headline="Подписан контрагентом"
    ),
    DocState.REJECTED_INTERNAL: StateInfo(
        "Отклонён", False, None, "bad", rejection=True, author_actions=("new_version",)
    ),
    DocState.REJECTED_COUNTERPARTY: StateInfo(
        "Отклонён контрагентом",
        False,
        None,
        "bad",
        author_actions=("new_version",),
        rejection=True,
        counterparty_panel="always",
        counterparty_headline="Отклонён контрагентом",
    ),
    DocState.WITHDRAWN: StateInfo(
        "Отозван",
        False,
        None,
        "muted",
        author_actions=("new_version",),
        counterparty_panel="with_links",
        counterparty_headline="Документ отозван",
    ),
    DocState.EXPIRED: StateInfo(
        "Срок истёк",
        False,
        None,
        "bad",
        author_actions=("new_version",),
        counterparty_panel="always",
        counterparty_headline="Контрагент не ответил в срок",
    ),
    DocState.DELETED: StateInfo("Удалён", False, None, "muted"),
}
assert set(_INFO) == set(DocState), "every state has its entry"

OPEN_STATES: frozenset[DocState] = frozenset(s for s in DocState if s.is_open)
FINAL_STATES: frozenset[DocState] = frozenset(s for s in DocState if s.is_final)
# States a signature may arrive in (the current step's signer acts).
SIGNING_STATES: frozenset[DocState] = frozenset(s for s in DocState if s.awaits_signature)
# States the lists and filters offer (a deleted document is gone for everyone).
LISTED_STATES: tuple[DocState, ...] = tuple(s for s in DocState if s is not DocState.DELETED)

# (from states, to state) of every named transition; checked before anything is written.
TRANSITIONS: dict[str, tuple[frozenset[DocState], DocState]] = {
    "send": (frozenset({DocState.DRAFT, DocState.RETURNED}), DocState.AWAITING_INTERNAL),
    "submit_for_approval": (frozenset({DocState.DRAFT, DocState.RETURNED}), DocState.APPROVAL),
    "approved": (frozenset({DocState.APPROVAL}), DocState.AWAITING_INTERNAL),
    "return": (frozenset({DocState.APPROVAL}), DocState.RETURNED),
    "internal_signed": (frozenset({DocState.AWAITING_INTERNAL}), DocState.AWAITING_COUNTERPARTY),
    "internal_rejected": (frozenset({DocState.AWAITING_INTERNAL}), DocState.REJECTED_INTERNAL),
    "counterparty_signed": (frozenset({DocState.AWAITING_COUNTERPARTY}), DocState.COMPLETED),
    "counterparty_rejected": (frozenset({DocState.AWAITING_COUNTERPARTY}), DocState.REJECTED_COUNTERPARTY),
    "withdraw": (OPEN_STATES, DocState.WITHDRAWN),
    "expire": (frozenset({DocState.AWAITING_COUNTERPARTY}), DocState.EXPIRED),
    "delete": (frozenset({DocState.DRAFT}), DocState.DELETED),
}


def label(value: object) -> str:
    """The Russian label of a stored value (the value itself if it is not a state, so a list still renders)."""
    try:
        return DocState(str(value)).label
    except ValueError:
        return str(value)


def sql_in(states: frozenset[DocState] | tuple[DocState, ...]) -> tuple[str, list[str]]:
    """``(?, ?)`` and its parameters for ``state IN`` in a store query."""
    ordered = sorted(states)
    return "(" + ",".join("?" * len(ordered)) + ")", [s.value for s in ordered]


def for_pages() -> list[dict[str, Any]]:
    """What the pages' scripts and templates know about states (rendered into the page as JSON)."""
    return [
        {
            "value": s.value,
            "label": s.label,
            "open": s.is_open,
            "actor": s.info.actor,
            "tone": s.info.tone,
            "listed": s in LISTED_STATES,
            "rejection": s.info.rejection,
            "counterparty_panel": s.info.counterparty_panel,
            "counterparty_headline": s.info.counterparty_headline,
        }
        for s in DocState
    ]
