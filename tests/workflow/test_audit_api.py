"""The audit log in words (issue 15): ``GET /api/v1/audit`` names people, says actions as phrases, gives a
document's title (and its id when the auditor may open it), filters by days in the portal's zone and pages past
200 rows. Before, it answered at most 200 raw rows (``user:7``, ``agent.paired``) and had no dates.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from server.db import Database, audit
from server.workflow.audit_log import AuditLog, day_bounds
from tests.workflow.conftest import AUDITOR, CHIEF_ACCOUNTANT, DIRECTOR, MANAGER, SALES_MANAGER, Klikdok

PDF = b"%PDF-1.4 audit log\n"
MOSCOW = ZoneInfo("Europe/Moscow")


def today_in_moscow() -> date:
    return datetime.now(MOSCOW).date()


def test_the_log_names_people_phrases_actions_and_links_titles(kd: Klikdok) -> None:
    sent = kd.create(MANAGER, ("deal", 1), {"a.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Договор с Альфой")
    draft = kd.create(DIRECTOR, ("deal", 2), {"b.pdf": PDF}, signers=[CHIEF_ACCOUNTANT], title="Черновик", send=False)
    resp = kd.api("GET", "/audit", AUDITOR)
    assert resp.status_code == 200, resp.text
    page = resp.json()
    assert page["total"] == len(page["items"]) and page["offset"] == 0
    by_action = {(r["action"], r["object_id"]): r for r in page["items"]}

    created = by_action[("document.created", str(sent))]
    assert created["actor"] == f"user:{MANAGER}" and created["actor_name"] == "Морозова Ольга Ивановна"
    assert created["action_label"] == "документ создан"
    assert created["object_label"] == "Договор с Альфой" and created["document_id"] == sent
    assert by_action[("document.sent", str(sent))]["action_label"] == "документ отправлен на подпись"
    # A draft is its author's alone: the auditor reads the title the log kept, without a link to a panel it
    # could not open.
    hidden = by_action[("document.created", str(draft))]
    assert hidden["object_label"] == "Черновик" and hidden["document_id"] is None
    assert hidden["actor_name"] == "Соколов Андрей Викторович"
    started = next(r for r in page["items"] if r["action"] == "server.start")
    assert started["actor_name"] == "Система" and started["action_label"] == "сервер KlikDok запущен"
    installed = next(r for r in page["items"] if r["action"] == "portal.installed")
    assert installed["action_label"] == "приложение установлено на портале"
    assert not [r for r in page["items"] if r["action_label"] == r["action"]], "every action has a phrase"

    # Filters: the action, a person by name, the document.
    only_sent = kd.api("GET", "/audit", AUDITOR, params={"action": "document.sent"}).json()
    assert [r["object_id"] for r in only_sent["items"]] == [str(sent)] and only_sent["total"] == 1
    by_name = kd.api("GET", "/audit", AUDITOR, params={"q": "морозова"}).json()
    assert by_name["items"] and {r["actor"] for r in by_name["items"]} == {f"user:{MANAGER}"}
    of_doc = kd.api("GET", "/audit", AUDITOR, params={"document_id": sent}).json()
    assert {r["action"] for r in of_doc["items"]} == {"document.created", "document.sent"}


def test_only_auditors_read_the_log_and_a_refusal_is_audited(kd: Klikdok) -> None:
    for user in (MANAGER, SALES_MANAGER, CHIEF_ACCOUNTANT):
        refused = kd.api("GET", "/audit", user)
        assert refused.status_code == 403 and refused.json()["error"] == "not_auditor"
        assert refused.json()["message"] == "Этот раздел доступен только аудиторам."
    log = kd.api("GET", "/audit", AUDITOR, params={"action": "access.denied"}).json()
    assert log["total"] == 3
    assert {r["actor_name"] for r in log["items"]} == {
        "Морозова Ольга Ивановна",
        "Попов Сергей Николаевич",
        "Новикова Елена Петровна",
    }
    assert all(r["action_label"] == "отказ в доступе" for r in log["items"])


def test_days_in_the_portals_zone_and_pages_past_200_rows(kd: Klikdok) -> None:
    # 230 refusals: each refused request writes one row (access.denied).
    for _ in range(230):
        assert kd.api("GET", "/audit", SALES_MANAGER).status_code == 403
    # Days are the portal's ([portal] timezone, Moscow by default): the server's zone, not one the page sends.
    denied = {"action": "access.denied"}
    first = kd.api("GET", "/audit", AUDITOR, params={**denied, "limit": 200}).json()
    assert first["total"] == 230 and len(first["items"]) == 200
    rest = kd.api("GET", "/audit", AUDITOR, params={**denied, "limit": 200, "offset": 200}).json()
    assert rest["total"] == 230 and len(rest["items"]) == 30 and rest["offset"] == 200
    ids = [r["id"] for r in first["items"] + rest["items"]]
    assert len(set(ids)) == 230 and ids == sorted(ids, reverse=True)

    today = today_in_moscow()
    inside = kd.api(
        "GET", "/audit", AUDITOR, params={**denied, "date_from": today.isoformat(), "date_to": today.isoformat()}
    ).json()
    assert inside["total"] == 230
    before = kd.api("GET", "/audit", AUDITOR, params={**denied, "date_to": (today - timedelta(days=1)).isoformat()})
    assert before.json()["total"] == 0
    after = kd.api("GET", "/audit", AUDITOR, params={**denied, "date_from": (today + timedelta(days=1)).isoformat()})
    assert after.json()["total"] == 0

    backwards = kd.api("GET", "/audit", AUDITOR, params={"date_from": today.isoformat(), "date_to": "2020-01-01"})
    assert backwards.status_code == 400 and "Начало периода" in backwards.json()["message"]
    too_many = kd.api("GET", "/audit", AUDITOR, params={"limit": 201})
    assert too_many.status_code == 400


def test_day_bounds_are_midnights_of_the_zone_in_utc() -> None:
    since, until = day_bounds(date(2026, 12, 7), date(2026, 12, 7), MOSCOW)
    assert (since, until) == ("2026-12-06T21:00:00", "2026-12-07T21:00:00")
    assert day_bounds(None, None, MOSCOW) == ("", "")
    vladivostok = day_bounds(date(2026, 1, 1), None, ZoneInfo("Asia/Vladivostok"))
    assert vladivostok == ("2025-12-31T14:00:00", "")


async def test_a_day_holds_the_rows_of_its_moscow_midnights_whatever_their_precision(db: Database) -> None:
    """Rows are written with microseconds (the log) or seconds (some callers give their own time)."""
    times = [
        "2026-12-06T20:59:59.999999+00:00",  # 23:59:59 on the 6th in Moscow
        "2026-12-06T21:00:00+00:00",  # midnight of the 7th, written in seconds
        "2026-12-07T12:00:00.000001+00:00",
        "2026-12-07T20:59:59+00:00",
        "2026-12-07T21:00:00.000000+00:00",  # midnight of the 8th
    ]
    for n, at in enumerate(times):
        await db.write(
            lambda d, at=at, n=n: audit.append(d, actor="system", action="server.start", at=at, details={"n": n})
        )
    since, until = day_bounds(date(2026, 12, 7), date(2026, 12, 7), MOSCOW)
    rows, total = await db.read(lambda d: audit.search(d, since=since, until=until))
    assert total == 3 and sorted(r.details["n"] for r in rows) == [1, 2, 3]
    rows, total = await db.read(lambda d: audit.search(d, since=since, limit=1, offset=1))
    assert total == 4 and len(rows) == 1


def test_actors_that_are_not_portal_users_are_named_by_role() -> None:
    name = AuditLog._actor_name
    assert name("user:4", {4: "Морозова Ольга Ивановна"}) == "Морозова Ольга Ивановна"
    assert name("user:99", {}) == "Сотрудник №99"
    assert name("counterparty:buh@alfa.example", {}) == "Контрагент buh@alfa.example"
    assert name("system", {}) == "Система"
    assert name("cryptoarm", {}) == "Система (КриптоАРМ ГОСТ)"
    assert name("agent:3", {}) == "Агент подписи №3"
    assert name("admin:cli", {}) == "Администратор сервера (командная строка)"
    assert name("ip:10.0.0.5", {}) == "Запрос с адреса 10.0.0.5"
