"""SQL for ``timeline_comments``: which CRM timeline comment each outbox message posted.

A timeline comment is posted as the reader sees it, with no technical marker; a repeated delivery recognises its
comment on the card by the exact text (:mod:`.outbox_worker`). Comments claimed here by another message are not
candidates, so a second message with the same text (the same mail failing twice) still gets its own comment.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlite_utils import Database


def record(db: Database, posted: dict[int, int]) -> None:
    """``posted``: outbox message id -> comment id. A message keeps the first comment recorded for it."""
    for outbox_id, comment_id in posted.items():
        db.execute(
            "INSERT INTO timeline_comments (outbox_id, comment_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
            [outbox_id, comment_id],
        )


def owners(db: Database, comment_ids: Iterable[int]) -> dict[int, int]:
    """comment id -> the outbox message that posted it, for those of ``comment_ids`` that are recorded."""
    ids = list(dict.fromkeys(comment_ids))
    if not ids:
        return {}
    marks = ",".join("?" * len(ids))
    return {
        int(r[0]): int(r[1])
        for r in db.execute(
            f"SELECT comment_id, outbox_id FROM timeline_comments WHERE comment_id IN ({marks})", ids
        ).fetchall()
    }
