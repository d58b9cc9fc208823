"""The signing deadline an author picks in the create form: a calendar day in the portal's time zone.

A person picks a date, not a moment, so the document is due at the end of that day where the portal is (the
deadline then reads «до 21.12.2026 23:59 МСК» in the e-mail and on the counterparty's page). Without a pick the
old rule stays: ``[workflow] counterparty_days`` from the moment the document is sent. The bounds keep a typo
(«2062» for «2026») from creating a document nobody will ever chase.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from server.text import DEFAULT_TIMEZONE, portal_zone

from .states import TransitionRefused

# The default zone for a picked day; callers pass the configured one ([portal] timezone), in which the pages show
# dates too (<body data-timezone>).
PORTAL_ZONE = portal_zone(DEFAULT_TIMEZONE)
# How far ahead a deadline may be picked.
MAX_DAYS_AHEAD = 365


def today(now: datetime | None = None, zone: ZoneInfo = PORTAL_ZONE) -> date:
    """The portal's calendar day now (at 01:00 in Moscow it is already tomorrow in UTC terms, and vice versa)."""
    return (now or datetime.now(UTC)).astimezone(zone).date()


def default_day(days: int, now: datetime | None = None, zone: ZoneInfo = PORTAL_ZONE) -> date:
    """What the picker shows first: today plus ``[workflow] counterparty_days``."""
    return today(now, zone) + timedelta(days=days)


def latest_day(now: datetime | None = None, zone: ZoneInfo = PORTAL_ZONE) -> date:
    return today(now, zone) + timedelta(days=MAX_DAYS_AHEAD)


def parse_day(value: str, now: datetime | None = None, zone: ZoneInfo = PORTAL_ZONE) -> date | None:
    """The form's ``due_date`` (``YYYY-MM-DD``, what <input type=date> sends); None when the field is empty.

    Refused with a Russian message when it is not a date, in the past, or too far ahead."""
    value = (value or "").strip()
    if not value:
        return None
    try:
        if len(value) != 10:
            raise ValueError(value)
        day = date.fromisoformat(value)
    except ValueError:
        raise TransitionRefused("bad_deadline", "Срок подписания указан неверно: выберите дату в календаре.") from None
    first, last = today(now, zone), latest_day(now, zone)
    if day < first:
        raise TransitionRefused(
            "deadline_in_past",
            f"Срок подписания {day:%d.%m.%Y} уже прошёл: выберите сегодняшнюю или более позднюю дату.",
        )
    if day > last:
        raise TransitionRefused(
            "deadline_too_far",
            f"Срок подписания — не дальше чем через год: выберите дату не позже {last:%d.%m.%Y}.",
        )
    return day


def end_of_day(day: date, zone: ZoneInfo = PORTAL_ZONE) -> str:
    """The last second of ``day`` in the portal's zone, as the UTC moment every stored deadline is."""
    moment = datetime.combine(day, time(23, 59, 59), tzinfo=zone)
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def picker(days: int, now: datetime | None = None, zone: ZoneInfo = PORTAL_ZONE) -> dict[str, str]:
    """What the create form's date input needs from the server: its first value, its bounds (the same ones
    :func:`parse_day` enforces) and the words for its hint."""
    first, last, usual = today(now, zone), latest_day(now, zone), default_day(days, now, zone)
    return {
        "default": usual.isoformat(),
        "default_text": f"{usual:%d.%m.%Y}",
        "min": first.isoformat(),
        "max": last.isoformat(),
        "max_text": f"{last:%d.%m.%Y}",
        "days": str(days),
    }
