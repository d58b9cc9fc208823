"""Delivers the workflow's outbox after commit: Bitrix24 notifications and timeline comments (grouped into
``batch`` requests of up to 50 commands) and Disk copies of accepted signatures.

Delivery protocol, per message: claimed (``sending``) in its own transaction, sent, then ``delivered`` or
rescheduled with exponential backoff (``server.db.outbox.mark_failed``). A crash between claim and mark leaves
``sending``, which the lifespan puts back to ``pending`` at start-up, so a message whose transition committed is
always delivered. A message can reach the portal and still come back as ``pending`` (the server died, or the
answer was lost, after the portal acted), so every kind is made safe to repeat:
- notifications carry ``TAG = klikdok:<message id>``: the portal replaces the first instead of showing two;
- timeline comments end with a marker naming the message (:func:`timeline_marker`); before a repeated attempt
  the worker asks ``crm.timeline.comment.list`` for a comment with that marker on the same card and, if one is
  there, records the message as delivered instead of posting it again;
- Disk copies check for the file by name before uploading again.

Other issues add their own kinds with :meth:`OutboxWorker.register`; the worker claims only kinds it handles.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlite_utils import Database as SqliteDb

from server.bitrix24 import Bitrix24Client, Bitrix24Error, DiskService, notify_command, timeline_comment_command
from server.db import Database, outbox
from server.db.outbox import OutboxMessage
from server.worker_loop import run_rounds

from . import effects

log = logging.getLogger(__name__)

Outcome = dict[int, str | None]  # message id -> None (delivered) or the error text
Handler = Callable[[Sequence[OutboxMessage]], Awaitable[Outcome]]
ClientSource = Callable[[], Awaitable[Bitrix24Client | None]]


def claim(db: SqliteDb, kinds: Sequence[str], limit: int) -> list[OutboxMessage]:
    """``outbox.claim_due`` restricted to the kinds this worker handles (same claim semantics)."""
    now = datetime.now(UTC).isoformat(timespec="microseconds")
    rows = db.execute(
        f"SELECT id, kind, payload, attempts FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?"
        f" AND kind IN ({','.join('?' * len(kinds))}) ORDER BY id LIMIT ?", [now, *kinds, limit]).fetchall()
    if rows:
        db.execute(f"UPDATE outbox SET status = 'sending', attempts = attempts + 1 WHERE id IN "
                   f"({','.join('?' * len(rows))})", [r[0] for r in rows])
    return [OutboxMessage(r[0], r[1], json.loads(r[2]), r[3] + 1) for r in rows]


class OutboxWorker:
    def __init__(self, db: Database, client: ClientSource, *, batch_size: int = 50, poll_seconds: float = 1.0,
                 max_attempts: int = 20, paused: bool = False) -> None:
        self.db = db
        self.client = client
        self.batch_size = max(1, min(50, batch_size))
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.paused = paused
        self._event = asyncio.Event()
        self._disk: tuple[Bitrix24Client, DiskService] | None = None
        self.handlers: dict[str, Handler] = {}
        self.register(effects.NOTIFY, self._deliver_b24)
        self.register(effects.TIMELINE, self._deliver_b24)
        self.register(effects.DISK_SIGNATURE, self._deliver_disk)

    def register(self, kind: str, handler: Handler) -> None:
        self.handlers[kind] = handler

    def wake(self) -> None:
        """Called after a transition commits: deliver now instead of at the next poll."""
        self._event.set()

    async def run(self, stop: asyncio.Event) -> None:
        await run_rounds(self.deliver_once, wake=self._event, stop=stop, poll_seconds=self.poll_seconds,
                         log=log, what="outbox")

    async def deliver_once(self) -> int:
        """One round: claim due messages, deliver them, record the outcome. Returns how many were claimed."""
        if self.paused:
            return 0
        kinds = list(self.handlers)
        messages = await self.db.write(lambda d: claim(d, kinds, self.batch_size))
        if not messages:
            return 0
        outcome: Outcome = {}
        by_handler: dict[Handler, list[OutboxMessage]] = {}
        for m in messages:
            by_handler.setdefault(self.handlers[m.kind], []).append(m)
        for handler, group in by_handler.items():
            try:
                outcome.update(await handler(group))
            except Exception as exc:  # noqa: BLE001 - any failure means "try again later"
                log.warning("outbox delivery failed: %s", type(exc).__name__)
                outcome.update({m.id: f"{type(exc).__name__}: {exc}"[:300] for m in group})
        attempts = {m.id: m.attempts for m in messages}

        def record(d: SqliteDb) -> None:
            for message_id in attempts:
                error = outcome.get(message_id, "no outcome")
                if error is None:
                    outbox.mark_delivered(d, message_id)
                else:
                    outbox.mark_failed(d, message_id, error, attempts=attempts[message_id],
                                       max_attempts=self.max_attempts)

        await self.db.write(record)
        return len(messages)

    # -- handlers ---------------------------------------------------------------------------------------

    async def _deliver_b24(self, messages: Sequence[OutboxMessage]) -> Outcome:
        client = await self.client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        # A timeline comment tried before may already be on the card: look before posting it again.
        outcome: Outcome = await self._posted_before(client, [m for m in messages
                                                               if m.kind == effects.TIMELINE and m.attempts > 1])
        pending = [m for m in messages if m.id not in outcome]
        if not pending:
            return outcome
        commands = []
        for m in pending:
            p = m.payload
            if m.kind == effects.NOTIFY:
                commands.append(notify_command(int(p["user_id"]), str(p["message"]), link_url=p.get("link") or None,
                                               link_title="Открыть", tag=f"klikdok:{m.id}"))
            else:
                commands.append(timeline_comment_command(p["entity_type"], int(p["entity_id"]),
                                                         f"{p['comment']} {timeline_marker(m)}"))
        result = await client.batch(commands)
        for index, m in enumerate(pending):
            error = result.errors.get(str(index))
            outcome[m.id] = None if error is None else f"{error.code}: {error.description}"[:300]
        return outcome

    async def _posted_before(self, client: Bitrix24Client, retried: Sequence[OutboxMessage]) -> Outcome:
        """Of timeline messages on a repeated attempt, those whose comment is already on the card (delivered), and
        those the portal would not let us check (failed this round: posting blind could double the comment).

        One ``batch`` of ``crm.timeline.comment.list`` calls, newest first, filtered by the marker; the marker is
        also checked here, so a portal that ignores the ``%COMMENT`` filter only costs a larger page.
        """
        if not retried:
            return {}
        commands = [("crm.timeline.comment.list", {
            "filter": {"ENTITY_TYPE": m.payload["entity_type"], "ENTITY_ID": int(m.payload["entity_id"]),
                       "%COMMENT": timeline_marker(m)},
            "order": {"ID": "DESC"}, "select": ["ID", "COMMENT"]}) for m in retried]
        result = await client.batch(commands)
        found: Outcome = {}
        for index, m in enumerate(retried):
            error = result.errors.get(str(index))
            if error is not None:
                found[m.id] = f"проверка комментария: {error.code}: {error.description}"[:300]
                continue
            rows = result.results.get(str(index)) or []
            marker = timeline_marker(m)
            if any(isinstance(r, dict) and marker in str(r.get("COMMENT") or "") for r in rows):
                log.info("timeline comment already on the card; not posting it again", extra={"outbox_id": m.id})
                found[m.id] = None
        return found

    async def _disk_service(self, client: Bitrix24Client) -> DiskService:
        if self._disk is None or self._disk[0] is not client:
            self._disk = (client, DiskService(client))
        return self._disk[1]

    async def _deliver_disk(self, messages: Sequence[OutboxMessage]) -> Outcome:
        client = await self.client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        disk = await self._disk_service(client)
        outcome: Outcome = {}
        for m in messages:
            try:
                await self._upload_signature(disk, int(m.payload["signature_id"]))
                outcome[m.id] = None
            except Bitrix24Error as exc:
                outcome[m.id] = f"{exc.code}: {exc.description}"[:300]
        return outcome

    async def _upload_signature(self, disk: DiskService, signature_id: int) -> None:
        row: Any = await self.db.read(lambda d: d.execute(
            "SELECT s.cms, s.disk_file_id, f.name, d.disk_folder_id, d.entity_type, d.entity_id,"
            " (SELECT count(*) FROM signatures o WHERE o.file_id = s.file_id AND o.id <= s.id)"
            " FROM signatures s JOIN document_files f ON f.id = s.file_id JOIN documents d ON d.id = s.document_id"
            " WHERE s.id = ?", [signature_id]).fetchone())
        if row is None or row[1]:
            return  # gone, or already stored
        cms, _, name, folder_id, entity_type, entity_id, ordinal = row
        if not folder_id:
            folder_id = await disk.entity_folder(entity_type, int(entity_id))
        sig_name = signature_file_name(name, ordinal)
        existing = next((f for f in await disk.list_files(int(folder_id)) if f.name == sig_name), None)
        stored = existing or await disk.upload(int(folder_id), sig_name, bytes(cms), unique_name=False,
                                               content_type="application/pkcs7-signature")
        await self.db.write(lambda d: d.execute("UPDATE signatures SET disk_file_id = ? WHERE id = ?",
                                                [stored.id, signature_id]))


def timeline_marker(message: OutboxMessage) -> str:
    """What ends a timeline comment so a repeated delivery can find it: the outbox id plus the random ``ref`` the
    message got when it was enqueued (ids start again at 1 in a new database; the portal keeps old comments)."""
    ref = str(message.payload.get("ref") or "")
    return f"(KlikDok {message.id}.{ref})" if ref else f"(KlikDok {message.id})"


def signature_file_name(file_name: str, ordinal: int) -> str:
    """``<name>.sig`` next to the document for its first signature; ``<name>.<n>.sig`` for the n-th (n ≥ 2) when a
    route of several signers puts more than one signature on the same file."""
    return f"{file_name}.sig" if ordinal <= 1 else f"{file_name}.{ordinal}.sig"
