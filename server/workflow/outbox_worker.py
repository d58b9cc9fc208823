"""Delivers the workflow's outbox after commit: Bitrix24 notifications and timeline comments (grouped into
``batch`` requests of up to 50 commands) and Disk copies of document files and accepted signatures.

Two lanes, each its own loop: ``messages`` (notifications, timeline comments, and kinds other issues register) and
``disk`` (bulk uploads). The disk lane makes its REST calls inside ``bulk_lane()``, so the client's limiter gives
every notification the next free slot of the portal's budget, however many uploads are queued.

Delivery protocol, per message: claimed (``sending``) in its own transaction, sent, then ``delivered`` or
rescheduled with exponential backoff (``server.db.outbox.mark_failed``). A crash between claim and mark leaves
``sending``, which the lifespan puts back to ``pending`` at start-up, so a message whose transition committed is
always delivered. A message can reach the portal and still come back as ``pending`` (the server died, or the
answer was lost, after the portal acted), so every kind is made safe to repeat:
- notifications carry ``TAG = klikdok:<message id>``: the portal replaces the first instead of showing two;
- timeline comments are posted exactly as the reader sees them (no technical marker) and the comment id the
  portal answers is recorded (:mod:`.timeline_store`); before a repeated attempt the worker pages through the
  card's comments, newest first, back to the message's creation, and a comment with exactly the message's text
  that no other message has recorded is taken as this one's: the message is recorded as delivered instead of
  posted again (a comment an older version posted, ending with :func:`timeline_marker`, counts too);
- Disk copies record the new file's id the moment the portal answers; a repeated attempt first looks in the
  folder for a file of that name (or the portal's unique variant of it) with the same bytes that no row owns yet.
- a completed document's stamped copies and protocol (``disk.paper``) are made once and kept with their bytes
  (:mod:`.paper_copy_store`) before the first upload, so a repeated attempt has the same bytes to look for.
Folder ids are remembered in SQLite (:mod:`.disk_store`), so a copy costs two requests, not a folder listing.

Other issues add their own kinds with :meth:`OutboxWorker.register`; the worker claims only kinds it handles.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

from sqlite_utils import Database as SqliteDb

from server import crashpoints
from server.bitrix24 import (
    AlreadyExists,
    ApplicationService,
    Bitrix24Client,
    Bitrix24Error,
    DiskFile,
    DiskService,
    NotFound,
    TransportError,
    app_page_path,
    bulk_lane,
    notify_command,
    timeline_comment_command,
)
from server.db import Database, outbox
from server.db.outbox import OutboxMessage
from server.foreground import Foreground
from server.paper import PaperError
from server.worker_loop import run_rounds

from . import disk_store, effects, paper_copy_store, timeline_store
from .disk_store import DiskTarget
from .files import Spool, digests
from .states import TransitionRefused

if TYPE_CHECKING:
    from .paper_copies import PaperCopy

log = logging.getLogger(__name__)

Outcome = dict[int, str | None]  # message id -> None (delivered) or the error text
PaperMaker = Callable[[int], Awaitable[list["PaperCopy"]]]  # a document's stamped copies and protocol
Handler = Callable[[Sequence[OutboxMessage]], Awaitable[Outcome]]
# Runs inside the claim's own transaction with the messages of its kind that were just claimed: a kind that must
# never repeat a call (an automation trigger) records "sent" there, atomically with the claim.
ClaimHook = Callable[[SqliteDb, Sequence[OutboxMessage]], None]
ClientSource = Callable[[], Awaitable[Bitrix24Client | None]]


def claim(db: SqliteDb, kinds: Sequence[str], limit: int) -> list[OutboxMessage]:
    """``outbox.claim_due`` restricted to the kinds this worker handles (same claim semantics)."""
    return outbox.claim_due(db, limit, kinds=kinds)


MESSAGES = "messages"
DISK = "disk"
PDF = "application/pdf"
DISK_BATCH = 10  # uploads claimed at once: each is recorded as soon as it lands, the claim only bounds a round
# How far back a repeated timeline message looks for its comment: the portal's clock may differ from ours.
CLOCK_SKEW = timedelta(hours=1)
# What a notification's link says when it opens a view of the application's page (effects.notify_signer).
VIEW_TITLES = {effects.QUEUE_VIEW: "На подпись"}
MAX_COMMENT_PAGES = 40  # 2,000 comments on one card since the message was made: past that, post again


class FileNotReady(Exception):
    """A signature's document file has no copy on Disk yet: its ``.sig`` is named after that copy."""


class OutboxWorker:
    def __init__(
        self,
        db: Database,
        client: ClientSource,
        *,
        batch_size: int = 50,
        poll_seconds: float = 1.0,
        max_attempts: int = 20,
        paused: bool = False,
        spool: Spool | None = None,
        foreground: Foreground | None = None,
    ) -> None:
        self.db = db
        self.foreground = foreground
        self.client = client
        self.batch_size = max(1, min(50, batch_size))
        self.poll_seconds = poll_seconds
        self.max_attempts = max_attempts
        self.paused = paused
        self.spool = spool
        self._events = {MESSAGES: asyncio.Event(), DISK: asyncio.Event()}
        self._disk: tuple[Bitrix24Client, DiskService] | None = None
        self._app: tuple[Bitrix24Client, int | str | None] | None = None  # the client, where the app's page is
        self.handlers: dict[str, Handler] = {}
        self.lanes: dict[str, str] = {}
        self.claim_hooks: dict[str, ClaimHook] = {}
        self.register(effects.NOTIFY, self._deliver_b24)
        self.register(effects.TIMELINE, self._deliver_b24)
        self.register(effects.DISK_FILE, self._deliver_disk, lane=DISK)
        self.register(effects.DISK_SIGNATURE, self._deliver_disk, lane=DISK)
        self.register(effects.DISK_PAPER, self._deliver_disk, lane=DISK)
        # Makes a completed document's paper copies (server.workflow.paper_copies), set where it is built.
        self.paper: PaperMaker | None = None

    def register(self, kind: str, handler: Handler, *, lane: str = MESSAGES, on_claim: ClaimHook | None = None) -> None:
        if lane not in self._events:
            raise ValueError(f"unknown outbox lane {lane!r}")
        self.handlers[kind] = handler
        self.lanes[kind] = lane
        if on_claim is not None:
            self.claim_hooks[kind] = on_claim

    def _claim(self, db: SqliteDb, kinds: Sequence[str], limit: int) -> list[OutboxMessage]:
        messages = claim(db, kinds, limit)
        for kind, hook in self.claim_hooks.items():
            mine = [m for m in messages if m.kind == kind]
            if mine:
                hook(db, mine)
        return messages

    def wake(self) -> None:
        """Called after a transition commits: deliver now instead of at the next poll."""
        for event in self._events.values():
            event.set()

    async def run(self, stop: asyncio.Event) -> None:
        if self.spool is not None:
            try:
                await self.sweep_spool()
            except Exception:  # leftovers only cost disk space; delivery must start anyway
                log.exception("spool sweep failed")

        def round_of(lane: str) -> Callable[[], Awaitable[int]]:
            return lambda: self.deliver_once(lane)

        await asyncio.gather(
            *(
                run_rounds(
                    round_of(lane),
                    wake=event,
                    stop=stop,
                    poll_seconds=self.poll_seconds,
                    log=log,
                    what=f"outbox {lane}",
                    foreground=self.foreground,
                )
                for lane, event in self._events.items()
            )
        )

    async def sweep_spool(self) -> int:
        """Drop spool entries of documents whose creation never committed (a crash between spool and commit)."""
        assert self.spool is not None
        keep = await self.db.read(disk_store.spool_entries_in_use)
        removed = await asyncio.to_thread(self.spool.sweep, keep)
        if removed:
            log.info("spool entries without a document removed", extra={"count": removed})
        return removed

    async def deliver_once(self, lane: str | None = None) -> int:
        """One round of one lane (or of each lane in turn): claim due messages, deliver them, record the outcome.
        Returns how many were claimed."""
        if self.paused:
            return 0
        if lane is None:
            return sum([await self.deliver_once(name) for name in self._events])
        kinds = [k for k, lane_of in self.lanes.items() if lane_of == lane]
        if not kinds:
            return 0
        limit = DISK_BATCH if lane == DISK else self.batch_size
        messages = await self.db.write(lambda d: self._claim(d, kinds, limit))
        if not messages:
            return 0
        outcome: Outcome = {}
        by_handler: dict[Handler, list[OutboxMessage]] = {}
        for m in messages:
            by_handler.setdefault(self.handlers[m.kind], []).append(m)
        for handler, group in by_handler.items():
            try:
                if lane == DISK:
                    with bulk_lane():
                        outcome.update(await handler(group))
                else:
                    outcome.update(await handler(group))
            except Exception as exc:  # any failure means "try again later"
                log.warning("outbox delivery failed: %s", type(exc).__name__)
                outcome.update({m.id: f"{type(exc).__name__}: {exc}"[:300] for m in group})
        attempts = {m.id: m.attempts for m in messages}

        def record(d: SqliteDb) -> None:
            for message_id in attempts:
                error = outcome.get(message_id, "no outcome")
                if error is None:
                    outbox.mark_delivered(d, message_id)
                else:
                    outbox.mark_failed(
                        d, message_id, error, attempts=attempts[message_id], max_attempts=self.max_attempts
                    )

        await self.db.write(record)
        return len(messages)

    # -- notifications and timeline -----------------------------------------------------------------------

    async def _deliver_b24(self, messages: Sequence[OutboxMessage]) -> Outcome:
        client = await self.client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        # A timeline comment tried before may already be on the card: look before posting it again.
        outcome: Outcome = await self._posted_before(
            client, [m for m in messages if m.kind == effects.TIMELINE and m.attempts > 1]
        )
        pending = [m for m in messages if m.id not in outcome]
        if not pending:
            return outcome
        commands = []
        for m in pending:
            p = m.payload
            if m.kind == effects.NOTIFY:
                view = str(p.get("view") or "")
                app = await self._app_id(client) if view else None
                commands.append(
                    notify_command(
                        int(p["user_id"]),
                        str(p["message"]),
                        link_url=app_page_path(app, view=view) if app is not None else (p.get("link") or None),
                        link_title=VIEW_TITLES.get(view, "Открыть") if app is not None else "Открыть",
                        tag=f"klikdok:{m.id}",
                        client_id=client.notify_client_id,
                    )
                )
            else:
                commands.append(timeline_comment_command(p["entity_type"], int(p["entity_id"]), str(p["comment"])))
        result = await client.batch(commands)
        posted: dict[int, int] = {}
        for index, m in enumerate(pending):
            error = result.errors.get(str(index))
            outcome[m.id] = None if error is None else f"{error.code}: {error.description}"[:300]
            comment_id = _int(result.results.get(str(index)))
            if error is None and m.kind == effects.TIMELINE and comment_id:
                posted[m.id] = comment_id
        if posted:
            await self.db.write(lambda d: timeline_store.record(d, posted))
        return outcome

    async def _posted_before(self, client: Bitrix24Client, retried: Sequence[OutboxMessage]) -> Outcome:
        """Of timeline messages on a repeated attempt, those whose comment is already on the card (delivered), and
        those the portal would not let us check (failed this round: posting blind could double the comment).

        ``crm.timeline.comment.list`` filters only by the card (ENTITY_TYPE, ENTITY_ID), so the text is compared
        here: the card's comments are read newest first, 50 a page, one ``batch`` per page for all the messages,
        until a comment with the message's exact text that no other message owns is found, or the comments are
        older than the message (less the clock skew allowance).
        """
        if not retried:
            return {}
        ids = [m.id for m in retried]
        created = await self.db.read(lambda d: outbox.created_at(d, ids))
        since = {m.id: created[m.id] - CLOCK_SKEW for m in retried if m.id in created}
        found: Outcome = {}
        open_: dict[int, int] = {m.id: 0 for m in retried}  # message id -> next start
        by_id = {m.id: m for m in retried}
        for _ in range(MAX_COMMENT_PAGES):
            if not open_:
                break
            order = list(open_)
            commands = [
                (
                    "crm.timeline.comment.list",
                    {
                        "filter": {
                            "ENTITY_TYPE": by_id[i].payload["entity_type"],
                            "ENTITY_ID": int(by_id[i].payload["entity_id"]),
                        },
                        "order": {"ID": "DESC"},
                        "select": ["ID", "COMMENT", "CREATED"],
                        "start": open_[i],
                    },
                )
                for i in order
            ]
            result = await client.batch(commands)
            for index, message_id in enumerate(order):
                m = by_id[message_id]
                error = result.errors.get(str(index))
                if error is not None:
                    found[m.id] = f"проверка комментария: {error.code}: {error.description}"[:300]
                    del open_[message_id]
                    continue
                rows = [r for r in (result.results.get(str(index)) or []) if isinstance(r, dict)]
                mine = await self._own_comment(m, rows)
                if mine is not None:
                    log.info("timeline comment already on the card; not posting it again", extra={"outbox_id": m.id})
                    await self.db.write(partial(timeline_store.record, posted={m.id: mine}))
                    found[m.id] = None
                    del open_[message_id]
                    continue
                next_start = result.nexts.get(str(index))
                older = m.id in since and any(_before(r.get("CREATED"), since[m.id]) for r in rows)
                if next_start is None or older or not rows:
                    del open_[message_id]  # read back to the message's creation: the comment is not there
                else:
                    open_[message_id] = int(next_start)
        if open_:
            log.warning("timeline check stopped after %d pages; posting", MAX_COMMENT_PAGES)
        return found

    async def _own_comment(self, message: OutboxMessage, rows: Sequence[dict[str, Any]]) -> int | None:
        """The id of the comment among ``rows`` that is this message's: its exact text (or the text an older version
        posted, with the marker), and not recorded as another message's."""
        text = str(message.payload["comment"]).strip()
        legacy = f"{text} {timeline_marker(message)}"
        same = [
            i for i in (_int(r.get("ID")) for r in rows if str(r.get("COMMENT") or "").strip() in (text, legacy)) if i
        ]
        if not same:
            return None
        owners = await self.db.read(lambda d: timeline_store.owners(d, same))
        return next((i for i in same if owners.get(i, message.id) == message.id), None)

    async def _app_id(self, client: Bitrix24Client) -> int | str | None:
        """How the portal names this application in a link to its page, asked once per client: ``app.info``'s ID
        with the application's own token; through a webhook (no application context) the configured client_id.
        None when neither is known: the notification then links the CRM card, as before. A lost connection is
        not remembered (the next notification asks again)."""
        if self._app is not None and self._app[0] is client:
            return self._app[1]
        found: int | str | None = None
        try:
            found = (await ApplicationService(client).info()).id
        except TransportError:
            return client.settings.client_id or None
        except Bitrix24Error:
            found = None
        found = found or client.settings.client_id or None
        self._app = (client, found)
        return found

    # -- Disk copies ----------------------------------------------------------------------------------------

    async def _disk_service(self, client: Bitrix24Client) -> DiskService:
        if self._disk is None or self._disk[0] is not client:
            scope = f"{client.portal_base}|{client.settings.disk_storage_id or 'app'}"
            self._disk = (client, DiskService(client, index=disk_store.SqliteFolderIndex(self.db, scope)))
        return self._disk[1]

    async def _deliver_disk(self, messages: Sequence[OutboxMessage]) -> Outcome:
        client = await self.client()
        if client is None:
            return {m.id: "портал Битрикс24 не подключён" for m in messages}
        disk = await self._disk_service(client)
        outcome: Outcome = {}
        for m in messages:
            try:
                if m.kind == effects.DISK_FILE:
                    await self._upload_file(disk, m)
                elif m.kind == effects.DISK_PAPER:
                    await self._upload_paper(disk, int(m.payload["document_id"]), m.attempts)
                else:
                    await self._upload_signature(disk, int(m.payload["signature_id"]), m.attempts)
                outcome[m.id] = None
            except (FileNotReady, PaperError) as exc:
                outcome[m.id] = str(exc)
            except TransitionRefused as exc:
                outcome[m.id] = exc.message
            except Bitrix24Error as exc:
                outcome[m.id] = f"{exc.code}: {exc.description}"[:300]
        return outcome

    async def _folder(self, disk: DiskService, target: DiskTarget, *, fresh: bool = False) -> int:
        """The document's folder on Disk (the card's folder), found once and kept on the document."""
        if target.disk_folder_id and not fresh:
            return target.disk_folder_id
        if fresh:
            await disk.forget_folders()
        folder_id = await disk.entity_folder(target.entity_type, target.entity_id)
        await self.db.write(lambda d: disk_store.set_document_folder(d, target.document_id, folder_id))
        target.disk_folder_id = folder_id
        return folder_id

    async def _upload(
        self, disk: DiskService, target: DiskTarget, name: str, data: bytes, *, unique: bool, content_type: str
    ) -> DiskFile:
        """Upload into the document's folder; a folder deleted on the portal is looked up (or made) again once."""
        folder_id = await self._folder(disk, target)
        try:
            return await disk.upload(folder_id, name, data, unique_name=unique, content_type=content_type)
        except NotFound:
            folder_id = await self._folder(disk, target, fresh=True)
            return await disk.upload(folder_id, name, data, unique_name=unique, content_type=content_type)

    async def _adopt(self, disk: DiskService, target: DiskTarget, name: str, digest: str, size: int) -> DiskFile | None:
        """A file an earlier attempt put on Disk before the server could record it: same name (or the portal's
        unique variant), same size and Streebog-256 digest, and owned by no row yet."""
        candidates = [f for f in await disk.find_files(await self._folder(disk, target), name) if f.size == size]
        if not candidates:
            return None
        owned = await self.db.read(lambda d: disk_store.known_disk_ids(d, [f.id for f in candidates]))
        for f in candidates:
            if f.id in owned:
                continue
            got = await disk.download(f.id)
            assert isinstance(got, bytes)
            if (await asyncio.to_thread(digests, got))[0] == digest:
                return f
        return None

    async def _upload_file(self, disk: DiskService, message: OutboxMessage) -> None:
        file_id = int(message.payload["file_id"])
        spool_name = str(message.payload.get("spool") or "")
        row = await self.db.read(lambda d: disk_store.file_upload(d, file_id))
        if row is None or row.disk_file_id:
            self._drop_spool(spool_name)
            return
        stored = None
        if message.attempts > 1:
            stored = await self._adopt(disk, row.target, row.name, row.streebog256, row.size)
        if stored is None:
            data = await asyncio.to_thread(self.spool.get, spool_name) if self.spool and spool_name else None
            if data is None:
                raise FileNotReady("байты файла не найдены в локальной очереди: загрузите документ заново")
            stored = await self._upload(disk, row.target, row.name, data, unique=True, content_type=row.content_type)
        await self.db.write(lambda d: disk_store.set_file_on_disk(d, file_id, stored.id, stored.name or row.name))
        self._drop_spool(spool_name)

    def _drop_spool(self, name: str) -> None:
        if self.spool is not None and name:
            try:
                self.spool.remove(name)
            except ValueError:
                pass

    async def _upload_signature(self, disk: DiskService, signature_id: int, attempts: int) -> None:
        row = await self.db.read(lambda d: disk_store.signature_upload(d, signature_id))
        if row is None or row.disk_file_id:
            return  # gone, or already stored
        if not row.file_disk_id:
            raise FileNotReady("файл документа ещё не сохранён на Диске")
        cms = row.cms
        sig_name = signature_file_name(row.file_disk_name or row.file_name, row.ordinal)
        digest = digests(cms)[0]
        stored = await self._adopt(disk, row.target, sig_name, digest, len(cms)) if attempts > 1 else None
        if stored is None:
            try:
                stored = await self._upload(
                    disk, row.target, sig_name, cms, unique=False, content_type="application/pkcs7-signature"
                )
            except AlreadyExists:
                # Someone's file holds the name: ours if an earlier attempt got there, else keep both.
                stored = await self._adopt(disk, row.target, sig_name, digest, len(cms)) or await self._upload(
                    disk, row.target, sig_name, cms, unique=True, content_type="application/pkcs7-signature"
                )
        await self.db.write(lambda d: disk_store.set_signature_on_disk(d, signature_id, stored.id))

    async def _upload_paper(self, disk: DiskService, document_id: int, attempts: int) -> None:
        """A completed document's stamped copies and protocol, into its folder beside the original.

        Made once, after the originals are on Disk, and recorded with their bytes before the first upload; each
        copy's Disk id is recorded the moment the portal answers. A repeated attempt (the server died between the
        portal's answer and the record) first looks for a file of that name with exactly those bytes that no row
        owns, as the originals' copies do: the portal never ends with a second one.
        """
        target = await self.db.read(lambda d: disk_store.document_target(d, document_id))
        if target is None:
            return
        if not await self.db.read(lambda d: paper_copy_store.made(d, document_id)):
            if await self.db.read(lambda d: disk_store.files_not_on_disk(d, document_id)):
                raise FileNotReady("файлы документа ещё не сохранены на Диске")
            if self.paper is None:
                raise FileNotReady("копии с отметками об ЭП здесь не делаются")
            copies = await self.paper(document_id)
            made = [
                paper_copy_store.MadeCopy(
                    kind=c.kind,
                    file_id=c.file_id,
                    name=c.name,
                    data=c.data,
                    streebog256=(await asyncio.to_thread(digests, c.data))[0],
                )
                for c in copies
            ]
            await self.db.write(lambda d: paper_copy_store.record(d, document_id, made))
        for copy in await self.db.read(lambda d: paper_copy_store.pending(d, document_id)):
            stored = None
            if attempts > 1:
                stored = await self._adopt(disk, target, copy.name, copy.streebog256, copy.size)
            if stored is None:
                stored = await self._upload(disk, target, copy.name, copy.data, unique=True, content_type=PDF)
            crashpoints.reached("disk.paper.uploaded")
            await self.db.write(partial(paper_copy_store.set_on_disk, copy_id=copy.id, disk_file_id=stored.id))


def _before(created: Any, since: datetime) -> bool:
    """Whether a comment's CREATED (ISO 8601 with an offset) is older than ``since``; unreadable counts as not."""
    try:
        value = datetime.fromisoformat(str(created))
    except ValueError:
        return False
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value < since


def _int(value: Any) -> int | None:
    """A portal id as the portal may spell it (``"901"``, ``901``); None for anything else."""
    try:
        number = int(str(value))
    except ValueError:
        return None
    return number if number > 0 else None


def timeline_marker(message: OutboxMessage) -> str:
    """What ended a timeline comment before issue 15 (the outbox id plus the random ``ref`` the message got when it
    was enqueued): a message enqueued by an older version may have such a comment on the card already."""
    ref = str(message.payload.get("ref") or "")
    return f"(KlikDok {message.id}.{ref})" if ref else f"(KlikDok {message.id})"


def signature_file_name(file_name: str, ordinal: int) -> str:
    """``<name>.sig`` next to the document for its first signature; ``<name>.<n>.sig`` for the n-th (n ≥ 2) when a
    route of several signers puts more than one signature on the same file."""
    return f"{file_name}.sig" if ordinal <= 1 else f"{file_name}.{ordinal}.sig"
