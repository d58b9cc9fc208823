"""The outbox worker in-process against the emulator: batching, per-message errors, retries with backoff."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
import sqlite_utils

from demo.portal_emulator import PortalEmulator
from demo.portal_state import EmulatorConfig
from server.bitrix24 import Bitrix24Client, PortalSettings
from server.db import Database, outbox
from server.workflow import effects, timeline_store
from server.workflow.outbox_worker import OutboxWorker, claim, timeline_marker
from tests.support.rows import document

DOC = document(id=1, entity_type="deal", entity_id=1)


@pytest.fixture
def slow_portal(portal_server: PortalEmulator) -> PortalEmulator:
    """A portal with the real default limit: 2 requests a second, and a small burst."""
    portal_server.state.reset(EmulatorConfig(rate_per_second=2.0, burst=5))
    return portal_server


@pytest.fixture
async def client(slow_portal: PortalEmulator) -> AsyncIterator[Bitrix24Client]:
    settings = PortalSettings(mode="webhook", webhook_url=slow_portal.state.webhook_url, rate_per_second=2.0, burst=5)
    async with Bitrix24Client(settings, backoff_base=0.05) as c:
        yield c


async def test_two_hundred_messages_go_as_batches_within_the_rate_limit(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    def fill(d: sqlite_utils.Database) -> None:
        for i in range(150):
            effects.notify(d, 2 + i % 5, f"Сообщение {i}", doc=DOC, key=f"n{i}")
        for i in range(50):
            effects.timeline(d, DOC, f"Комментарий {i}", key=f"t{i}")

    await db.write(fill)

    async def source() -> Bitrix24Client:
        return client

    worker = OutboxWorker(db, source, batch_size=50)
    started = time.monotonic()
    rounds = 0
    while await worker.deliver_once():
        rounds += 1
    elapsed = time.monotonic() - started
    assert rounds == 4
    assert len(slow_portal.state.notifications) == 150 and len(slow_portal.state.timeline_comments) == 50
    assert slow_portal.state.rejected == 0
    assert elapsed < 10, elapsed  # one request per message would take 100 s at 2 requests/s
    counts = await db.read(outbox.counts)
    assert counts == {"delivered": 200}
    # Each notification is tagged with its message id: a repeat after a crash replaces instead of adding.
    assert all(str(n["TAG"]).startswith("klikdok:") for n in slow_portal.state.notifications)
    # A comment reads as written: no technical marker; the comment the portal made is recorded per message.
    assert sorted(str(c["COMMENT"]) for c in slow_portal.state.timeline_comments) == sorted(
        f"Комментарий {i}" for i in range(50)
    )
    recorded = await db.read(lambda d: d.execute("SELECT count(DISTINCT comment_id) FROM timeline_comments").fetchone())
    assert recorded == (50,)


async def test_a_failing_command_is_retried_alone_with_backoff(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    def fill(d: sqlite_utils.Database) -> None:
        effects.notify(d, 2, "Хорошее", doc=DOC, key="ok")
        effects.timeline(d, document(id=1, entity_type="deal", entity_id=424242), "Сделки нет", key="bad")

    await db.write(fill)

    async def source() -> Bitrix24Client:
        return client

    worker = OutboxWorker(db, source)
    assert await worker.deliver_once() == 2
    rows = await db.read(
        lambda d: d.execute(
            "SELECT kind, status, attempts, last_error, next_attempt_at, created_at FROM outbox ORDER BY id"
        ).fetchall()
    )
    assert rows[0][:3] == ("b24.notify", "delivered", 1)
    assert rows[1][:3] == ("b24.timeline", "pending", 1) and "OWNER_NOT_FOUND" in rows[1][3]
    assert rows[1][4] > rows[1][5]  # rescheduled into the future
    assert await worker.deliver_once() == 0  # not due yet
    # Whole-request failures (portal down) reschedule every claimed message; nothing is lost.
    await db.write(lambda d: d.execute("UPDATE outbox SET next_attempt_at = created_at"))
    slow_portal.state.deals[424242] = dict(slow_portal.state.deals[1], ID="424242")
    slow_portal.state.inject("batch", status=500, times=100)
    assert await worker.deliver_once() == 1
    row = await db.read(
        lambda d: d.execute("SELECT status, attempts FROM outbox WHERE kind = 'b24.timeline'").fetchone()
    )
    assert row == ("pending", 2)
    slow_portal.state.faults.clear()
    await db.write(lambda d: d.execute("UPDATE outbox SET next_attempt_at = created_at"))
    assert await worker.deliver_once() == 1
    assert await db.read(outbox.counts) == {"delivered": 2}
    assert len(slow_portal.state.timeline_comments) == 1


async def test_without_a_portal_messages_wait_and_paused_holds_everything(db: Database) -> None:
    await db.write(lambda d: effects.notify(d, 2, "Ждёт портал", doc=DOC, key="x"))

    async def none() -> None:
        return None

    paused = OutboxWorker(db, none, paused=True)
    assert await paused.deliver_once() == 0
    worker = OutboxWorker(db, none, max_attempts=1)
    assert await worker.deliver_once() == 1
    row = await db.read(lambda d: d.execute("SELECT status, last_error FROM outbox").fetchone())
    assert row == ("failed", "портал Битрикс24 не подключён")


async def test_a_timeline_comment_the_portal_already_took_is_not_posted_again(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """The portal added comment A, but the process died before recording it: after the restart's recovery the
    worker finds A's text on the card and records it as delivered; B, never sent, is posted once — even though a
    comment with B's very text is on the card: another message posted that one (it is recorded as that one's)."""
    await db.write(lambda d: effects.timeline(d, DOC, "Документ отправлен", key="a"))
    await db.write(lambda d: effects.timeline(d, DOC, "Документ подписан", key="b"))
    slow_portal.state.timeline_comments.append(
        {"ID": 1, "ENTITY_TYPE": "deal", "ENTITY_ID": 1, "COMMENT": "Документ подписан", "AUTHOR_ID": 1}
    )
    await db.write(lambda d: timeline_store.record(d, {999: 1}))

    async def source() -> Bitrix24Client:
        return client

    worker = OutboxWorker(db, source)
    claimed = await db.write(lambda d: claim(d, [effects.TIMELINE], 50))
    assert [m.attempts for m in claimed] == [1, 1]
    assert await worker.handlers[effects.TIMELINE](claimed[:1]) == {claimed[0].id: None}  # A reaches the portal...
    assert await db.write(outbox.recover) == 2  # ...and the process dies: the restart puts both back
    assert await worker.deliver_once() == 2
    texts = [str(c["COMMENT"]) for c in slow_portal.state.timeline_comments if c["ID"] != 1]
    assert texts == ["Документ отправлен", "Документ подписан"]  # as the reader sees them: no marker
    assert await db.read(outbox.counts) == {"delivered": 2}
    assert slow_portal.state.calls.count("crm.timeline.comment.list") == 2
    owned = await db.read(lambda d: d.execute("SELECT outbox_id, comment_id FROM timeline_comments").fetchall())
    assert len({comment for _, comment in owned}) == 3 and {m for m, _ in owned} == {999, *(m.id for m in claimed)}


async def test_a_comment_an_older_version_posted_with_its_marker_is_found(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """A message enqueued before the marker went away, whose comment (with the marker) reached the portal: the
    retry after the upgrade recognises it and posts nothing."""
    await db.write(lambda d: effects.timeline(d, DOC, "Документ отправлен", key="a"))
    claimed = await db.write(lambda d: claim(d, [effects.TIMELINE], 50))
    slow_portal.state.timeline_comments.append(
        {
            "ID": 7,
            "ENTITY_TYPE": "deal",
            "ENTITY_ID": 1,
            "COMMENT": f"Документ отправлен {timeline_marker(claimed[0])}",
            "AUTHOR_ID": 1,
        }
    )
    await db.write(outbox.recover)

    async def source() -> Bitrix24Client:
        return client

    assert await OutboxWorker(db, source).deliver_once() == 1
    assert await db.read(outbox.counts) == {"delivered": 1}
    assert slow_portal.state.calls.count("crm.timeline.comment.add") == 0


async def test_a_repeated_timeline_message_waits_when_the_card_cannot_be_checked(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    await db.write(
        lambda d: effects.timeline(d, document(id=1, entity_type="deal", entity_id=424242), "Сделки нет", key="gone")
    )

    async def source() -> Bitrix24Client:
        return client

    worker = OutboxWorker(db, source)
    assert await worker.deliver_once() == 1  # first attempt: OWNER_NOT_FOUND
    await db.write(lambda d: d.execute("UPDATE outbox SET next_attempt_at = created_at"))
    assert await worker.deliver_once() == 1  # second attempt: the check itself is refused, so nothing is posted
    row = await db.read(lambda d: d.execute("SELECT status, attempts, last_error FROM outbox").fetchone())
    assert row[:2] == ("pending", 2) and "проверка комментария" in row[2]
    assert slow_portal.state.calls.count("crm.timeline.comment.add") == 1


async def test_a_repeated_timeline_message_finds_its_comment_behind_a_busy_card(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """The portal took comment A, the process died, and by the restart 120 more comments were added to the card.
    ``crm.timeline.comment.list`` filters only by the card, so the worker pages back, newest first, until it finds
    A's marker (page three); A is recorded as delivered, not posted again."""
    await db.write(lambda d: effects.timeline(d, DOC, "Документ подписан", key="a"))

    async def source() -> Bitrix24Client:
        return client

    worker = OutboxWorker(db, source)
    claimed = await db.write(lambda d: claim(d, [effects.TIMELINE], 50))
    assert await worker.handlers[effects.TIMELINE](claimed) == {claimed[0].id: None}  # A reaches the portal...
    for n in range(120):  # ...managers keep commenting on the deal...
        slow_portal.state.timeline_comments.append(
            {"ID": 2000 + n, "ENTITY_TYPE": "deal", "ENTITY_ID": 1, "COMMENT": f"Звонок клиенту {n}", "AUTHOR_ID": 4}
        )
    assert await db.write(outbox.recover) == 1  # ...and the process died before recording A
    assert await worker.deliver_once() == 1
    assert await db.read(outbox.counts) == {"delivered": 1}
    ours = [c for c in slow_portal.state.timeline_comments if "Документ подписан" in str(c["COMMENT"])]
    assert len(ours) == 1
    assert slow_portal.state.calls.count("crm.timeline.comment.list") == 3
    assert slow_portal.state.calls.count("crm.timeline.comment.add") == 1


async def test_a_repeated_timeline_message_stops_reading_at_comments_older_than_itself(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """A message that never reached the portal: the worker reads back only to the message's own creation (less an
    allowance for clock skew), not the card's whole history, then posts it."""
    for n in range(200):  # a long history, two days old
        slow_portal.state.timeline_comments.append(
            {"ID": 100 + n, "ENTITY_TYPE": "deal", "ENTITY_ID": 1, "COMMENT": f"Старый комментарий {n}", "AUTHOR_ID": 4}
        )
        slow_portal.state.timeline_created[100 + n] = "2026-01-01T10:00:00+03:00"
    await db.write(lambda d: effects.timeline(d, DOC, "Документ отправлен", key="b"))
    await db.write(lambda d: claim(d, [effects.TIMELINE], 50))
    await db.write(outbox.recover)  # a first attempt died before sending anything

    async def source() -> Bitrix24Client:
        return client

    assert await OutboxWorker(db, source).deliver_once() == 1
    assert slow_portal.state.calls.count("crm.timeline.comment.list") == 1
    assert len([c for c in slow_portal.state.timeline_comments if "Документ отправлен" in str(c["COMMENT"])]) == 1


@pytest.fixture
async def app_webhook_client(slow_portal: PortalEmulator) -> AsyncIterator[Bitrix24Client]:
    settings = PortalSettings(mode="webhook", webhook_url=slow_portal.state.webhook_url, client_id="local.5f1e2d.7")
    async with Bitrix24Client(settings) as c:
        yield c


async def test_through_a_webhook_the_link_names_the_application_by_its_client_id(
    db: Database, app_webhook_client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """A webhook has no application context (``app.info`` refuses it): the configured client_id names the app,
    which the portal accepts in the same place."""
    await db.write(lambda d: effects.notify_signer(d, 2, "Документ ждёт", doc=document(id=1), key="s"))

    async def source() -> Bitrix24Client:
        return app_webhook_client

    assert await OutboxWorker(db, source).deliver_once() == 1
    assert await db.read(outbox.counts) == {"delivered": 1}
    [sent] = slow_portal.state.notifications
    assert str(sent["MESSAGE"]).endswith("[URL=/marketplace/app/local.5f1e2d.7/?view=queue]На подпись[/URL]")


async def test_a_signer_notification_links_the_card_when_the_application_cannot_be_named(
    db: Database, client: Bitrix24Client, slow_portal: PortalEmulator
) -> None:
    """A webhook without a configured client_id: nothing names the application, so the link stays the card's."""
    await db.write(lambda d: effects.notify_signer(d, 2, "Документ ждёт", doc=DOC, key="s"))

    async def source() -> Bitrix24Client:
        return client

    assert await OutboxWorker(db, source).deliver_once() == 1
    [sent] = slow_portal.state.notifications
    assert str(sent["MESSAGE"]).endswith("[URL=/crm/deal/details/1/]Открыть[/URL]")
