"""What the create form adds (issue 15), over real HTTP: the signing deadline the author picks (a day in the
portal's zone, checked by the server), the message to the counterparty (plain text, in the invitation's body and
on their page, never in a header) and the CRM contact person the invitation is addressed to. A real server, the
portal emulator's deal 1 (contacts Орлов and Белова, company «Альфа-Поставка»), a real SMTP server."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx

from tests.counterparty.conftest import DEAL, PDF, Exchange, link_in, text_of
from tests.workflow.conftest import DIRECTOR, MANAGER

MOSCOW = ZoneInfo("Europe/Moscow")
BELOVA, BELOVA_HOME = 2, "anna.belova@mail.example"


def today() -> date:
    return datetime.now(UTC).astimezone(MOSCOW).date()


def create(ex: Exchange, send: bool = True, **fields: str) -> httpx.Response:
    data = {"title": "Договор поставки", "signers": str(DIRECTOR), "send": "1" if send else "0", **fields}
    return ex.kd.api(
        "POST", "/documents", MANAGER, DEAL, data=data, files=[("files", ("Договор №17.pdf", PDF, "application/pdf"))]
    )


def sign_company_part(ex: Exchange, doc_id: int) -> None:
    ex.kd.register_cert(DIRECTOR, ex.people.certs[DIRECTOR])
    for f in ex.kd.api("GET", f"/documents/{doc_id}", DIRECTOR).json()["files"]:
        r = ex.kd.api(
            "POST", f"/documents/{doc_id}/files/{f['id']}/signatures", DIRECTOR, content=ex.people.sign(DIRECTOR, PDF)
        )
        assert r.status_code == 201, r.text
    assert ex.state(doc_id) == "awaiting_counterparty"


def row(ex: Exchange, doc_id: int) -> dict[str, Any]:
    cols = ("deadline", "due_at", "message", "contact_id", "contact_name", "counterparty_email")
    values = ex.kd.query(f"SELECT {', '.join(cols)} FROM documents WHERE id = ?", doc_id)[0]
    return dict(zip(cols, values, strict=True))


def test_the_picked_day_message_and_contact_reach_the_invitation_and_the_page(exchange: Exchange) -> None:
    ex = exchange
    day = today() + timedelta(days=30)
    message = "Добрый день, Анна!\nПросим подписать до конца месяца.\r\n\r\n\r\nСпасибо.\x00"
    resp = create(ex, due_date=day.isoformat(), message=message, contact_id=str(BELOVA), contact_email=BELOVA_HOME)
    assert resp.status_code == 201, resp.text
    doc_id = resp.json()["id"]
    stored = row(ex, doc_id)
    # The end of the picked day in Moscow, as the UTC moment every deadline is; the document's deadline is it.
    end = datetime(day.year, day.month, day.day, 23, 59, 59, tzinfo=MOSCOW).astimezone(UTC)
    assert stored["due_at"] == stored["deadline"] == end.isoformat(timespec="seconds")
    assert stored["message"] == "Добрый день, Анна!\nПросим подписать до конца месяца.\n\nСпасибо."
    assert (stored["contact_id"], stored["contact_name"], stored["counterparty_email"]) == (
        BELOVA,
        "Белова Анна Игоревна",
        BELOVA_HOME,
    )
    detail = ex.kd.api("GET", f"/documents/{doc_id}", MANAGER).json()
    assert detail["message"] == stored["message"] and detail["contact_name"] == "Белова Анна Игоревна"

    sign_company_part(ex, doc_id)
    letter = ex.invitation(BELOVA_HOME)
    assert "Белова Анна Игоревна" in str(letter["To"])
    body = text_of(letter)
    assert "Сообщение от отправителя:\nДобрый день, Анна!\nПросим подписать до конца месяца.\n\nСпасибо." in body
    assert f"до {day:%d.%m.%Y} 23:59" in body
    html_part = letter.get_body(preferencelist=("html",))
    assert html_part is not None and "Добрый день, Анна!<br>Просим" in html_part.get_content()
    # Only our headers: the message is body text.
    assert "Спасибо" not in "".join(f"{k}: {v}" for k, v in letter.items())
    page = ex.page(link_in(letter))
    assert page.status_code == 200
    assert "Сообщение от отправителя" in page.text and "Просим подписать до конца месяца." in page.text


def test_a_message_with_markup_stays_text_everywhere(exchange: Exchange) -> None:
    ex = exchange
    resp = create(ex, message="<script>alert(1)</script> <b>жирный</b>\nSubject: injected\r\nBcc: x@evil.example")
    assert resp.status_code == 201, resp.text
    doc_id = resp.json()["id"]
    sign_company_part(ex, doc_id)
    letter = ex.invitation()
    assert letter["Bcc"] is None and "injected" not in str(letter["Subject"])
    html_part = letter.get_body(preferencelist=("html",))
    assert html_part is not None
    assert "<script>" not in html_part.get_content() and "&lt;script&gt;" in html_part.get_content()
    page = ex.page(link_in(letter))
    assert "<script>alert(1)</script>" not in page.text and "&lt;b&gt;жирный&lt;/b&gt;" in page.text


def test_without_a_pick_the_deadline_is_the_default_and_the_address_the_crm_one(exchange: Exchange) -> None:
    ex = exchange
    resp = create(ex)
    assert resp.status_code == 201, resp.text
    stored = row(ex, resp.json()["id"])
    assert stored["due_at"] is None and stored["message"] == "" and stored["contact_id"] is None
    deadline = datetime.fromisoformat(stored["deadline"])
    assert abs(deadline - (datetime.now(UTC) + timedelta(days=14))) < timedelta(minutes=5)
    assert stored["counterparty_email"] == "info@alfa-postavka.example"


def test_a_contact_person_gives_their_first_address_unless_one_is_typed(exchange: Exchange) -> None:
    ex = exchange
    first = create(ex, send=False, contact_id=str(BELOVA))
    assert first.status_code == 201, first.text
    assert row(ex, first.json()["id"])["counterparty_email"] == "a.belova@alfa-postavka.example"
    typed = create(ex, send=False, contact_id=str(BELOVA), counterparty_email="buh@alfa-postavka.example")
    assert typed.status_code == 201, typed.text
    stored = row(ex, typed.json()["id"])
    assert (stored["counterparty_email"], stored["contact_name"]) == (
        "buh@alfa-postavka.example",
        "Белова Анна Игоревна",
    )


def test_the_server_refuses_a_bad_day_or_someone_elses_contact_in_russian(exchange: Exchange) -> None:
    ex = exchange
    cases = {
        (today() - timedelta(days=1)).isoformat(): "уже прошёл",
        (today() + timedelta(days=400)).isoformat(): "не дальше чем через год",
        "31.12.2026": "выберите дату в календаре",
        "2026-02-30": "выберите дату в календаре",
    }
    for value, words in cases.items():
        resp = create(ex, due_date=value)
        assert resp.status_code == 400, (value, resp.text)
        assert words in resp.json()["message"], resp.json()
    resp = create(ex, message="Слово " * 200)
    assert resp.status_code == 400 and "длиннее 1000 символов" in resp.json()["message"]
    # 1000 characters with line breaks as a browser sends them (CRLF) are fine.
    assert create(ex, send=False, message=("я" * 99 + "\r\n") * 10).status_code == 201
    # Contact 3 is on deal 2, not on deal 1; Орлов's address is not Белова's.
    resp = create(ex, contact_id="3")
    assert resp.status_code == 400 and "нет в карточке" in resp.json()["message"]
    resp = create(ex, contact_id=str(BELOVA), contact_email="d.orlov@alfa-postavka.example")
    assert resp.status_code == 400 and "не принадлежит контакту" in resp.json()["message"]
    assert ex.kd.query("SELECT count(*) FROM documents") == [(1,)]
    # Today is fine (until its end in Moscow).
    assert create(ex, send=False, due_date=today().isoformat()).status_code == 201


def test_the_card_recipients_for_the_create_form(exchange: Exchange) -> None:
    resp = exchange.kd.api("GET", "/counterparty/recipients", MANAGER, DEAL)
    assert resp.status_code == 200, resp.text
    got = [(r["email"], r["contact_id"], r["source"]) for r in resp.json()]
    assert got == [
        ("d.orlov@alfa-postavka.example", 1, "contact"),
        ("a.belova@alfa-postavka.example", 2, "contact"),
        ("anna.belova@mail.example", 2, "contact"),
        ("info@alfa-postavka.example", 0, "company"),
    ]
    # Not from the app page: there is no card there.
    assert exchange.kd.api("GET", "/counterparty/recipients", MANAGER).status_code == 400


def slider_page(ex: Exchange, options: dict[str, Any]) -> httpx.Response:
    """What the portal posts to the app's handler for BX24.openApplication: PLACEMENT=DEFAULT, the params as
    PLACEMENT_OPTIONS."""
    form = ex.kd.emu.state.placement_form(MANAGER, "DEFAULT", options)
    return ex.kd._post_page("/b24/app", form)


def test_the_slider_page_is_the_create_form_alone_for_the_asked_card(exchange: Exchange) -> None:
    ex = exchange
    page = slider_page(ex, {"klikdok": "create", "entity_type": "deal", "entity_id": 1})
    assert page.status_code == 200, page.text
    assert 'id="kd-create-form"' in page.text and 'id="kd-new"' not in page.text and "<dialog" not in page.text
    assert "Поставка серверного оборудования" in page.text
    session = re.search(r'data-session="([^"]+)"', page.text)
    assert session
    resp = httpx.post(
        f"{ex.kd.url}/api/v1/documents",
        headers={"X-KlikDok-Session": session.group(1)},
        data={"title": "Из слайдера", "signers": str(DIRECTOR), "send": "0"},
        files=[("files", ("a.pdf", PDF, "application/pdf"))],
        timeout=30,
    )
    assert resp.status_code == 201, resp.text
    assert ex.kd.query("SELECT entity_type, entity_id, author_id FROM documents") == [("deal", 1, MANAGER)]
    # Anything else is the ordinary app page.
    for options in (
        {},
        {"klikdok": "other", "entity_type": "deal", "entity_id": 1},
        {"klikdok": "create", "entity_type": "lead", "entity_id": 1},
        {"klikdok": "create", "entity_type": "deal", "entity_id": "x"},
        {"klikdok": "create", "entity_type": "deal", "entity_id": -1},
    ):
        other = slider_page(ex, options)
        assert other.status_code == 200 and 'id="kd-nav"' in other.text and "kd-create-form" not in other.text, options
