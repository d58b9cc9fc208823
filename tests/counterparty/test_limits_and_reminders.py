"""Guessing links is futile and throttled; reminders go out once per threshold before the deadline."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlite_utils

from server.config import Settings
from server.counterparty import links, tokens
from server.counterparty.invitations import Invitations
from server.counterparty.limiter import PublicLimiter, client_ip
from server.counterparty.scheduler import CounterpartyScheduler
from server.db import Database, inserted_id, migrations
from server.ratelimit import SlidingWindow
from server.workflow import store
from tests.counterparty.conftest import Exchange, link_in


def random_token() -> str:
    return tokens.derive(secrets.token_bytes(32), tokens.new_nonce())


def test_guessing_tokens_is_throttled_per_address(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    base = link.rsplit("/", 1)[0]
    attacker = {"X-Forwarded-For": "203.0.113.7"}
    for _ in range(10):
        assert exchange.http.get(f"{base}/{random_token()}", headers=attacker).status_code == 404
    for bad in ("short", "x" * 44, "a.b", "A" * 42 + "="):
        assert exchange.http.get(f"{base}/{bad}", headers=attacker).status_code == 404
    for _ in range(6):
        assert exchange.http.get(f"{base}/{random_token()}", headers=attacker).status_code == 404
    blocked = exchange.http.get(f"{base}/{random_token()}", headers=attacker)
    assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 0
    # Once blocked, even a real link does not help that address; everyone else is unaffected.
    assert exchange.http.get(link, headers=attacker).status_code == 429
    assert exchange.http.get(link, headers={"X-Forwarded-For": "198.51.100.2"}).status_code == 200
    assert exchange.state(doc_id) == "awaiting_counterparty"
    # A forged X-Forwarded-For prefix does not move the attacker: only the proxy's last entry counts.
    forged = exchange.http.get(f"{base}/{random_token()}", headers={"X-Forwarded-For": "1.2.3.4, 203.0.113.7"})
    assert forged.status_code == 429


def test_sliding_window_and_client_ip() -> None:
    now = [1000.0]
    window = SlidingWindow(3, 60.0, clock=lambda: now[0], max_keys=10)
    assert [window.hit("a") for _ in range(3)] == [None, None, None]
    assert window.hit("a") == pytest.approx(60.0)
    now[0] += 30
    assert window.hit("a") == pytest.approx(30.0) and window.hit("b") is None
    now[0] += 30.5
    assert window.hit("a") is None
    for i in range(50):  # memory stays bounded whatever the number of keys
        window.hit(f"k{i}")
    assert len(window._events) <= 10
    limiter = PublicLimiter(per_ip_per_minute=100, per_link_per_minute=100, bad_links_per_hour=2, clock=lambda: now[0])
    limiter.bad_link("ip")
    limiter.bad_link("ip")
    assert limiter.admit("ip", "t:x") is not None and limiter.admit("other", "t:x") is None
    assert client_ip("10.0.0.5", "6.6.6.6", ["127.0.0.1"]) == "10.0.0.5"  # not a trusted proxy
    assert client_ip("127.0.0.1", "6.6.6.6, 7.7.7.7", ["127.0.0.1"]) == "7.7.7.7"
    assert client_ip("127.0.0.1", "garbage", ["127.0.0.1"]) == "127.0.0.1"


def test_tokens_are_256_bit_distinct_and_stored_only_as_hashes() -> None:
    key = secrets.token_bytes(32)
    made = {tokens.derive(key, tokens.new_nonce()) for _ in range(2000)}
    assert len(made) == 2000 and all(tokens.well_formed(t) for t in made)
    sample = next(iter(made))
    import base64

    assert len(base64.urlsafe_b64decode(sample + "=")) == 32
    assert tokens.token_hash(sample) != sample and len(tokens.token_hash(sample)) == 64
    # Without the server's key the nonce does not give the token.
    nonce = tokens.new_nonce()
    assert tokens.derive(key, nonce) != tokens.derive(secrets.token_bytes(32), nonce)


# -- reminders, with a real database and a clock we move ------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Database:
    database = Database(tmp_path / "klikdok.db")
    database.open()
    database.write_sync(migrations.apply, transaction=False)
    yield database
    database.close()


def add_document(db: Database, deadline: datetime, email: str = "cp@example.org") -> int:
    def write(d: sqlite_utils.Database) -> int:
        cur = d.execute(
            "INSERT INTO documents (title, state, entity_type, entity_id, author_id, created_at, updated_at, deadline,"
            " counterparty_email, counterparty_name) VALUES ('Договор', 'awaiting_counterparty', 'deal', 1, 4, ?, ?, ?,"
            " ?, 'ООО «Альфа»')",
            [links.now_iso(), links.now_iso(), links.now_iso(deadline), email],
        )
        doc_id = inserted_id(cur)
        d.execute(
            "INSERT INTO route_steps (document_id, position, kind, state) VALUES (?, 2, 'counterparty', 'current')",
            [doc_id],
        )
        return doc_id

    return db.write_sync(write)


async def test_reminders_once_per_threshold(db: Database, tmp_path: Path) -> None:
    start = datetime.now(UTC)
    clock = [start]
    settings = Settings()  # reminders 3 and 1 days before; links live 30 days
    scheduler = CounterpartyScheduler(settings, db, wake_mail=lambda: None, clock=lambda: clock[0])
    invitations = Invitations(link_key=b"k" * 32, ttl_days=settings.policy.link_ttl_days, clock=lambda: clock[0])
    doc_id = add_document(db, start + timedelta(days=10))
    late = add_document(db, start + timedelta(days=2), email="late@example.org")
    no_mail = add_document(db, start + timedelta(days=10), email="")

    def mails(kind: str) -> list[tuple[str]]:
        return db.read_sync(
            lambda d: d.execute("SELECT payload FROM outbox WHERE kind = ? ORDER BY id", [kind]).fetchall()
        )

    # What the workflow's internal_signed listener does for each document when its company part completes.
    outcomes = [
        await db.write(lambda d, i=i: invitations.invite(d, store.document_row(d, i)))  # type: ignore[misc]  # the lambda binds the loop variable by default
        for i in (doc_id, late, no_mail)
    ]
    assert outcomes == ["invited", "invited", "no_email"]
    assert len(mails(links.MAIL_INVITATION)) == 2
    assert await db.write(lambda d: invitations.invite(d, store.document_row(d, doc_id))) == "skipped"
    assert len(mails(links.MAIL_INVITATION)) == 2  # never a second link for the same step
    assert (await scheduler.scan_once())["reminders"] == 0
    assert mails(links.MAIL_REMINDER) == []

    def reminders_for(document_id: int) -> list[str]:
        return [p for (p,) in mails(links.MAIL_REMINDER) if f'"document_id": {document_id},' in p]

    # One day before the late document's deadline: its link was issued two days before that deadline, so it
    # never gets the "3 days left" reminder, only this one.
    clock[0] = start + timedelta(days=1, minutes=1)
    assert (await scheduler.scan_once())["reminders"] == 1
    assert ['"days": 1' in p for p in reminders_for(late)] == [True]
    clock[0] = start + timedelta(days=7, minutes=1)  # 3 days before the first deadline
    assert (await scheduler.scan_once())["reminders"] == 1
    assert (await scheduler.scan_once())["reminders"] == 0  # once per threshold
    clock[0] = start + timedelta(days=9, minutes=1)
    assert (await scheduler.scan_once())["reminders"] == 1
    assert ['"days": 3' in p for p in reminders_for(doc_id)] == [True, False]
    assert len(reminders_for(late)) == 1  # nothing after its deadline
    # The document with no address: the author is told once.
    notes = db.read_sync(lambda d: d.execute("SELECT count(*) FROM outbox WHERE kind = 'b24.notify'").fetchone()[0])
    assert notes == 1 and db.read_sync(lambda d: links.active_link(d, no_mail)) is None
    # After the deadline nothing more is sent.
    clock[0] = start + timedelta(days=11)
    assert (await scheduler.scan_once())["reminders"] == 0
