"""One time zone everywhere (issue 15): the portal's ([portal] timezone, Europe/Moscow by default), named.

The verification report said UTC while the e-mail and the counterparty's page said МСК. Now the e-mail, the
counterparty's page and the report show the same moment the same way, in the configured zone with its name,
and every page hands the zone to the scripts (<body data-timezone>).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest

from cades.result import VerificationResult
from server.config import ConfigError, load_settings
from server.text import local_time, zone_name
from tests.browser import browser_page
from tests.counterparty.conftest import Counterparty, Exchange, SmtpServer, exchange_on, link_in, text_of
from tests.counterparty.test_create_options import create
from tests.workflow.conftest import MANAGER, People


@pytest.fixture
def yekaterinburg(
    tmp_path: Path, emulator: Any, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> Iterator[Exchange]:
    with exchange_on(tmp_path / "data", emulator, people, smtp, KLIKDOK_PORTAL_TIMEZONE="Asia/Yekaterinburg") as ex:
        yield ex


def _shown(moment: str | datetime, zone: str, seconds: bool = False) -> str:
    value = moment if isinstance(moment, datetime) else datetime.fromisoformat(moment)
    local = value.astimezone(ZoneInfo(zone))
    return local.strftime("%d.%m.%Y %H:%M:%S" if seconds else "%d.%m.%Y %H:%M")


def _times_everywhere(exchange: Exchange, zone: str, name: str) -> None:
    doc_id = exchange.company_signed()
    mail = text_of(exchange.invitation())
    link = link_in(exchange.invitation())
    expires, deadline = exchange.kd.query(
        "SELECT l.expires_at, d.deadline FROM counterparty_links l JOIN documents d ON d.id = l.document_id"
        " WHERE d.id = ?",
        doc_id,
    )[0]
    due = f"{_shown(min(v for v in (expires, deadline) if v), zone)} ({name})"
    assert f"до {due}" in mail, mail

    page = exchange.page(link).text
    shown_deadline = re.search(r"<dd data-deadline>([^<]+)</dd>", page)
    assert shown_deadline and shown_deadline.group(1) == due

    (verification,) = exchange.kd.query("SELECT verification FROM signatures WHERE document_id = ?", doc_id)[0]
    signed = msgspec.json.decode(verification, type=VerificationResult).signatures[0].signing_time
    assert signed is not None
    assert f"<dt>Подписано</dt><dd>{_shown(signed, zone)} ({name})" in page

    report = exchange.kd.api("GET", f"/documents/{doc_id}/report", MANAGER, params={"format": "html"}).text
    assert f"{_shown(signed, zone, seconds=True)} ({name})" in report
    assert not re.search(r"\d\d:\d\d:\d\d UTC\b", report), "a moment of the report is still in UTC"

    home = httpx.get(exchange.kd.url + "/").text
    assert f'data-timezone="{zone}"' in home


def test_yekaterinburg_everywhere_with_its_name(yekaterinburg: Exchange) -> None:
    _times_everywhere(yekaterinburg, "Asia/Yekaterinburg", "UTC+5")
    # A deadline picked in the create form is the end of that day where the portal is, not in Moscow.
    zone = ZoneInfo("Asia/Yekaterinburg")
    day = datetime.now(UTC).astimezone(zone).date() + timedelta(days=10)
    created = create(yekaterinburg, send=False, due_date=day.isoformat())
    assert created.status_code == 201, created.text
    (due_at,) = yekaterinburg.kd.query("SELECT due_at FROM documents WHERE id = ?", created.json()["id"])[0]
    assert datetime.fromisoformat(due_at) == datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=zone)
    # The portal pages' scripts read the zone from <body data-timezone> and name it the same way.
    with browser_page() as page:
        page.goto(yekaterinburg.kd.url + "/")
        page.add_script_tag(url="/static/kd_core.js")
        shown = page.evaluate("KlikDok.util.date('2026-07-01T09:30:00Z')")
        assert shown == "01.07.2026, 14:30 UTC+5"


def test_moscow_by_default_named_msk(exchange: Exchange) -> None:
    _times_everywhere(exchange, "Europe/Moscow", "МСК")


def test_zone_names_and_the_config_check() -> None:
    moment = datetime(2026, 7, 1, 9, 30, tzinfo=UTC)
    assert local_time(moment) == "01.07.2026 12:30 (МСК)"
    assert local_time("2026-07-01T09:30:00+00:00", "Asia/Yekaterinburg", seconds=True) == "01.07.2026 14:30:00 (UTC+5)"
    assert local_time(moment, "Europe/Berlin") == "01.07.2026 11:30 (CEST)"
    assert local_time(moment, "UTC") == "01.07.2026 09:30 (UTC)"
    assert zone_name(moment.astimezone(ZoneInfo("Asia/Kolkata")), "Asia/Kolkata") == "IST"
    assert zone_name(moment.astimezone(ZoneInfo("America/St_Johns")), "America/St_Johns") == "NDT"
    assert zone_name(moment.astimezone(ZoneInfo("Asia/Kathmandu")), "Asia/Kathmandu") == "UTC+5:45"
    assert zone_name(moment.astimezone(ZoneInfo("America/Sao_Paulo")), "America/Sao_Paulo") == "UTC−3"
    assert load_settings(None, environ={}).portal.timezone == "Europe/Moscow"
    with pytest.raises(ConfigError, match="неизвестный часовой пояс 'Mars/Olympus'"):
        load_settings(None, environ={"KLIKDOK_PORTAL_TIMEZONE": "Mars/Olympus"})
