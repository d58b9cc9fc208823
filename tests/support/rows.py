"""Typed rows for tests that call a workflow function directly, without a document in a database.

Only the columns a test cares about are named; the rest take the values a fresh draft gets from the table's
defaults, so a test cannot forget a field :class:`~server.workflow.model.DocumentRow` requires.
"""

from __future__ import annotations

from typing import Any

import msgspec

from server.workflow.docstate import DocState
from server.workflow.model import DocumentRow

_DRAFT = DocumentRow(
    id=1,
    title="Документ",
    state=DocState.DRAFT,
    entity_type="deal",
    entity_id=1,
    company_id=None,
    author_id=1,
    author_name="",
    department_id=None,
    created_at="2026-01-01T00:00:00+00:00",
    updated_at="2026-01-01T00:00:00+00:00",
    sent_at=None,
    finished_at=None,
    deadline=None,
    current_step=0,
    reason="",
    counterparty_name="",
    counterparty_inn="",
    counterparty_ogrn="",
    counterparty_email="",
    disk_folder_id=None,
    search="",
    warnings="[]",
)


def document(**values: Any) -> DocumentRow:
    """A draft's row with ``values`` in place of the defaults (``state`` may be given as its string)."""
    if "state" in values:
        values["state"] = DocState(values["state"])
    return msgspec.structs.replace(_DRAFT, **values)
