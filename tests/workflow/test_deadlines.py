"""The picked signing deadline (server/workflow/deadlines.py) and how sending uses it: days are the portal's
(Moscow's) calendar days, the bounds are today and a year ahead, and a picked day that passed while the document
sat as a draft gives way to the default when it is sent."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from server.db import Database
from server.workflow import deadlines, states
from server.workflow.states import TransitionRefused
from server.workflow.store import document_row
from tests.workflow.conftest import DIRECTOR, MANAGER

# 22:30 UTC on 31 December is already 1 January in Moscow.
LATE_EVENING_UTC = datetime(2026, 12, 31, 22, 30, tzinfo=UTC)


def test_today_is_the_portals_calendar_day() -> None:
    assert deadlines.today(LATE_EVENING_UTC) == date(2027, 1, 1)
    assert deadlines.default_day(14, LATE_EVENING_UTC) == date(2027, 1, 15)
    assert deadlines.parse_day("2027-01-01", LATE_EVENING_UTC) == date(2027, 1, 1)
    with pytest.raises(TransitionRefused, match="31.12.2026 уже прошёл") as refused:
        deadlines.parse_day("2026-12-31", LATE_EVENING_UTC)
    assert refused.value.code == "deadline_in_past"


def test_the_bounds_and_the_shapes_refused() -> None:
    assert deadlines.parse_day("", LATE_EVENING_UTC) is None
    assert deadlines.parse_day("2028-01-01", LATE_EVENING_UTC) == date(2028, 1, 1)  # 365 days on
    with pytest.raises(TransitionRefused, match="не позже 01.01.2028") as refused:
        deadlines.parse_day("2028-01-02", LATE_EVENING_UTC)
    assert refused.value.code == "deadline_too_far"
    for bad in ("01.02.2027", "2027-1-5", "2027-02-30", "20270205", "2027-02-05T10:00", "x" * 10_000):
        with pytest.raises(TransitionRefused, match="выберите дату в календаре"):
            deadlines.parse_day(bad, LATE_EVENING_UTC)


def test_a_day_ends_at_its_last_second_in_moscow() -> None:
    assert deadlines.end_of_day(date(2027, 1, 15)) == "2027-01-15T20:59:59+00:00"
    assert deadlines.picker(14, LATE_EVENING_UTC) == {
        "default": "2027-01-15",
        "default_text": "15.01.2027",
        "min": "2027-01-01",
        "max": "2028-01-01",
        "max_text": "01.01.2028",
        "days": "14",
    }


def draft(d: Any, due_at: str | None) -> int:
    return states.create_draft(
        d,
        title="Акт",
        entity_type="deal",
        entity_id=1,
        company_id=2,
        author_id=MANAGER,
        author_name="Морозова",
        department_id=4,
        files=[
            {
                "name": "a.pdf",
                "size": 1,
                "content_type": "application/pdf",
                "streebog256": "0" * 64,
                "streebog512": "0" * 128,
            }
        ],
        signers=[(DIRECTOR, "Соколов")],
        counterparty={"name": "ООО «Альфа»", "email": "info@alfa.example"},
        disk_folder_id=None,
        due_at=due_at,
    )


async def test_sending_keeps_a_picked_day_and_replaces_one_that_passed(db: Database) -> None:
    picked = deadlines.end_of_day(deadlines.today() + timedelta(days=40))
    passed = deadlines.end_of_day(deadlines.today() - timedelta(days=1))

    def run(d: Any) -> tuple[str | None, str | None]:
        kept, replaced = draft(d, picked), draft(d, passed)
        for doc_id in (kept, replaced):
            states.send(d, doc_id, actor_id=MANAGER, counterparty_days=14)
        return document_row(d, kept).deadline, document_row(d, replaced).deadline  # type: ignore[union-attr]  # both exist

    kept, replaced = await db.write(run)
    assert kept == picked
    assert replaced is not None
    assert abs(datetime.fromisoformat(replaced) - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=5)
