"""Issue 17: automatic reminders to the current internal signer the day before the deadline and on the day.

A real server on the portal emulator delivers the notifications (its outbox worker, over HTTP); the reminders'
clock is moved by the test: a :class:`Reminders` with an injected clock runs against the server's own database
file, as the server's loop does, and its messages go out through the server's outbox like any other. Days are
Moscow's (the portal's zone), not UTC's.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from server.config import Settings
from server.db import Database
from server.workflow.reminders import Reminders, which_reminder
from tests.support.server import start_server
from tests.workflow.conftest import (
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    server_env,
    wait_for,
)

MOSCOW = ZoneInfo("Europe/Moscow")
DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор аренды №9".encode() + b"\n%%EOF\n"


def at(day: date, hour: int, minute: int = 0) -> datetime:
    """That moment of the Moscow day, as the UTC time the clock gives."""
    return datetime.combine(day, time(hour, minute), tzinfo=MOSCOW).astimezone(UTC)


def test_which_reminder_counts_days_in_the_portal_zone() -> None:
    deadline = datetime.combine(date(2026, 12, 21), time(23, 59, 59), tzinfo=MOSCOW).astimezone(UTC).isoformat()
    both = ["day_before", "due_day"]
    # 00:30 on the 20th in Moscow is still the 19th in UTC: it is the day before all the same.
    assert which_reminder(deadline, at(date(2026, 12, 20), 0, 30), MOSCOW, both, 0) == "day_before"
    assert which_reminder(deadline, at(date(2026, 12, 20), 0, 30), MOSCOW, both, 9) is None  # not before 09:00
    assert which_reminder(deadline, at(date(2026, 12, 19), 23, 30), MOSCOW, both, 0) is None
    assert which_reminder(deadline, at(date(2026, 12, 21), 9, 0), MOSCOW, both, 9) == "due_day"
    assert which_reminder(deadline, at(date(2026, 12, 21), 9, 0), MOSCOW, ["day_before"], 9) is None
    assert which_reminder(deadline, at(date(2026, 12, 22), 9, 0), MOSCOW, both, 9) is None


def _reminders_to(kd: Klikdok, user_id: int, title: str) -> list[dict[str, Any]]:
    return [
        n
        for n in kd.emu.state.notifications
        if n["USER_ID"] == user_id and f"«{title}»" in n["MESSAGE"] and "срок" in n["MESSAGE"].lower()
    ]


def _sign(kd: Klikdok, people: People, user: int, doc_id: int) -> None:
    for f in kd.api("GET", f"/documents/{doc_id}", user).json()["files"]:
        r = kd.api("POST", f"/documents/{doc_id}/files/{f['id']}/signatures", user, content=people.sign(user, PDF))
        assert r.status_code == 201, r.text


def _create(kd: Klikdok, title: str, due: date) -> int:
    resp = kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        data={
            "title": title,
            "signers": f"{DIRECTOR},{CHIEF_ACCOUNTANT}",
            "send": "1",
            "due_date": due.isoformat(),
        },
        files=[("files", ("Договор.pdf", PDF, "application/pdf"))],
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


async def test_reminders_with_a_moving_clock(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    kd.register_cert(CHIEF_ACCOUNTANT, people.certs[CHIEF_ACCOUNTANT])
    due = (datetime.now(UTC).astimezone(MOSCOW) + timedelta(days=3)).date()
    doc = _create(kd, "Договор аренды", due)
    gone = _create(kd, "Договор хранения", due)  # withdrawn before its reminders would go
    assert kd.api("POST", f"/documents/{gone}/withdraw", MANAGER, json={"reason": "не нужен"}).status_code == 200
    # The deadline picked in the form holds for the company's signers too: the document carries it from sending.
    deadline = kd.query("SELECT deadline FROM documents WHERE id = ?", doc)[0][0]
    assert datetime.fromisoformat(deadline).astimezone(MOSCOW).date() == due

    clock = [at(due - timedelta(days=2), 23, 0)]
    settings = Settings()  # ["day_before", "due_day"] from 09:00, Moscow: the shipped defaults
    database = Database(kd.server.data_dir / "klikdok.db")
    database.open()
    made: list[Reminders] = []

    def reminders() -> Reminders:
        made.append(Reminders(settings, database, wake_outbox=lambda: None, clock=lambda: clock[0]))
        return made[-1]

    async def round_at(moment: datetime, expected: int, r: Callable[[], Reminders] | None = None) -> None:
        clock[0] = moment
        assert await (r or (lambda: made[-1]))().remind_once() == expected, moment

    try:
        reminders()
        await round_at(at(due - timedelta(days=2), 23, 0), 0)  # two days before: nothing
        await round_at(at(due - timedelta(days=1), 8, 30), 0)  # the day before, but before 09:00
        await round_at(at(due - timedelta(days=1), 9, 5), 1)  # the day before: the director's turn
        found = wait_for(lambda: _reminders_to(kd, DIRECTOR, "Договор аренды"), what="the day-before reminder")
        assert "завтра" in found[0]["MESSAGE"] and f"{due:%d.%m.%Y}" in found[0]["MESSAGE"]
        await round_at(at(due - timedelta(days=1), 15, 0), 0)  # once only
        # A restart of the server and of the reminders' loop sends nothing again.
        port = int(kd.url.rsplit(":", 1)[1])
        kd.server.stop()
        kd.server = start_server(kd.server.data_dir, env=server_env(people.pki), port=port)
        await round_at(at(due - timedelta(days=1), 18, 0), 0, reminders)
        # The director signs: the next signer is reminded (it is still the day before), the director never again.
        _sign(kd, people, DIRECTOR, doc)
        await round_at(at(due - timedelta(days=1), 20, 0), 1)
        await round_at(at(due, 0, 30), 0)  # the due day, before 09:00
        await round_at(at(due, 9, 0), 1)  # the due day: the chief accountant
        await round_at(at(due, 12, 0), 0, reminders)
        wait_for(lambda: len(_reminders_to(kd, CHIEF_ACCOUNTANT, "Договор аренды")) == 2, what="both reminders")
        # Signed by the company: no reminder for a finished step, whatever the clock says.
        _sign(kd, people, CHIEF_ACCOUNTANT, doc)
        assert kd.query("SELECT state FROM documents WHERE id = ?", doc)[0][0] == "awaiting_counterparty"
        await round_at(at(due, 18, 0), 0, reminders)
        # Let the outbox deliver anything (wrongly) left, then count: exactly one of each.
        wait_for(
            lambda: not kd.query("SELECT 1 FROM outbox WHERE kind = 'b24.notify' AND status IN ('pending', 'sending')"),
            what="every notification delivered",
        )
        director = _reminders_to(kd, DIRECTOR, "Договор аренды")
        chief = _reminders_to(kd, CHIEF_ACCOUNTANT, "Договор аренды")
        assert len(director) == 1 and "завтра" in director[0]["MESSAGE"]
        assert sorted("завтра" in n["MESSAGE"] for n in chief) == [False, True]
        assert any(f"сегодня, {due:%d.%m.%Y}" in n["MESSAGE"] for n in chief)
        assert _reminders_to(kd, DIRECTOR, "Договор хранения") == []
        rows = kd.query(
            "SELECT object_id, json_extract(details, '$.signer'), json_extract(details, '$.which') FROM audit_log"
            " WHERE action = 'document.auto_reminded' ORDER BY id"
        )
        assert rows == [
            (str(doc), DIRECTOR, "day_before"),
            (str(doc), CHIEF_ACCOUNTANT, "day_before"),
            (str(doc), CHIEF_ACCOUNTANT, "due_day"),
        ]
    finally:
        database.close()
