"""The counterparty's forms run once per rendered page: each rendering puts a fresh key in its forms' action.

A plain HTML form cannot send the ``Idempotency-Key`` header, and a browser whose form is sent twice (a double
click, a reload of the POST) shows the second answer: that answer must be the first one's, and the document must
be signed or rejected once. Over real HTTP against ``klikdok serve``, plus Chromium for the busy button.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

import httpx

from server.routes.idempotency import KEY_PATTERN
from tests.browser import PageLog, chromium, open_settled, screenshot, wait_or_explain
from tests.counterparty.conftest import PDF, Counterparty, Exchange, link_in

ACTION = re.compile(r'action="(/c/[A-Za-z0-9_-]+/(sign|reject|cryptoarm))\?key=([^"]+)"')


def form_keys(exchange: Exchange, link: str) -> dict[str, str]:
    """The forms' actions on a fresh rendering of the page: {"sign": key, "reject": key}."""
    page = exchange.page(link)
    assert page.status_code == 200, page.text
    return {m.group(2): m.group(3) for m in ACTION.finditer(page.text)}


def audit_rows(exchange: Exchange, action: str, doc_id: int) -> int:
    return int(
        exchange.kd.query("SELECT count(*) FROM audit_log WHERE action = ? AND object_id = ?", action, str(doc_id))[0][
            0
        ]
    )


def reject(exchange: Exchange, link: str, key: str, reason: str, **kwargs: Any) -> httpx.Response:
    return exchange.http.post(f"{link}/reject", params={"key": key}, data={"reason": reason}, **kwargs)


def replayed(first: httpx.Response, second: httpx.Response) -> None:
    assert second.status_code == first.status_code == 303
    assert second.headers["location"] == first.headers["location"]
    assert second.headers.get("idempotent-replayed") == "true"
    assert "default-src 'none'" in second.headers["content-security-policy"]


def test_every_rendering_gives_the_forms_a_new_key(exchange: Exchange) -> None:
    exchange.company_signed()
    link = link_in(exchange.invitation())
    one, two = form_keys(exchange, link), form_keys(exchange, link)
    assert set(one) == {"sign", "reject", "cryptoarm"}
    assert len(set(one.values())) == 1 and one["sign"] != two["sign"]
    assert KEY_PATTERN.fullmatch(one["sign"])
    page = exchange.page(link)
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert '<script src="/c/public.js" defer></script>' in page.text
    script = exchange.http.get(link.split("/c/")[0] + "/c/public.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")


def test_a_signature_form_sent_twice_signs_once(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    key = form_keys(exchange, link)["sign"]
    file_id = exchange.file_ids(doc_id)["Договор №17.pdf"]
    sig = counterparty.sign(counterparty.director, PDF)

    def send() -> httpx.Response:
        return exchange.http.post(
            f"{link}/sign",
            params={"key": key},
            files=[(f"sig_{file_id}", ("Договор.sig", sig, "application/octet-stream"))],
        )

    first = send()
    assert first.status_code == 303 and first.headers["location"].endswith("?done=signed"), first.text
    replayed(first, send())
    assert exchange.state(doc_id) == "completed"
    assert exchange.kd.query("SELECT count(*) FROM signatures WHERE document_id = ?", doc_id) == [(2,)]
    assert audit_rows(exchange, "counterparty.signed", doc_id) == 1


def test_a_rejection_sent_twice_rejects_once_and_another_reason_is_refused(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    key = form_keys(exchange, link)["reject"]
    first = reject(exchange, link, key, "Сумма не совпадает со счётом")
    assert first.headers["location"].endswith("?done=rejected"), first.text
    replayed(first, reject(exchange, link, key, "Сумма не совпадает со счётом"))
    assert audit_rows(exchange, "document.rejected", doc_id) == 1
    # The header works as well as the form's parameter: it is the same key.
    by_header = exchange.http.post(
        f"{link}/reject", headers={"Idempotency-Key": key}, data={"reason": "Сумма не совпадает со счётом"}
    )
    replayed(first, by_header)

    other = reject(exchange, link, key, "Другая причина")
    assert other.status_code == 422
    assert "уже использован для другого запроса" in other.text and "<h1>Запрос не выполнен</h1>" in other.text
    assert "default-src 'none'" in other.headers["content-security-policy"]
    assert exchange.kd.query("SELECT reason FROM documents WHERE id = ?", doc_id) == [("Сумма не совпадает со счётом",)]


def test_another_links_same_key_is_its_own_request(exchange: Exchange) -> None:
    first_doc = exchange.company_signed(title="Договор поставки")
    second_doc = exchange.company_signed(title="Дополнительное соглашение")
    first_link = link_in(exchange.invitation(title="Договор поставки"))
    second_link = link_in(exchange.invitation(title="Дополнительное соглашение"))
    key = str(uuid.uuid4())
    assert reject(exchange, first_link, key, "Не наш договор").status_code == 303
    second = reject(exchange, second_link, key, "Не наш договор")
    assert second.status_code == 303 and "idempotent-replayed" not in second.headers
    assert exchange.state(first_doc) == exchange.state(second_doc) == "rejected_counterparty"


def test_a_malformed_key_is_refused_with_a_page(exchange: Exchange) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    for bad in ["short", "<script>alert(1)</script>", "k" * 300]:
        answer = reject(exchange, link, bad, "Сумма не совпадает со счётом")
        assert answer.status_code == 400, answer.text
        assert "Idempotency-Key" in answer.text and "<script>alert" not in answer.text
    two = exchange.http.post(
        f"{link}/reject?key={uuid.uuid4()}&key={uuid.uuid4()}", data={"reason": "Сумма не совпадает со счётом"}
    )
    assert two.status_code == 400
    assert exchange.state(doc_id) == "awaiting_counterparty"


def test_the_buttons_are_disabled_while_the_form_is_sent(exchange: Exchange) -> None:
    """First the look: the form's submission is stopped in the page (after public.js has seen it), so the busy
    button stays on screen for the check and the screenshots. Then for real: a double click rejects once."""
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())
    with chromium() as browser:
        for width, height in ((1280, 900), (390, 844)):
            context = browser.new_context(viewport={"width": width, "height": height}, locale="ru-RU")
            page = context.new_page()
            log = PageLog(page)
            open_settled(page, link)
            page.evaluate("document.addEventListener('submit', function (e) { e.preventDefault(); })")
            page.click("summary.cp-danger")
            page.fill("textarea[name=reason]", "Сумма в п. 3.1 не совпадает со счётом")
            page.click("[data-reject]")
            wait_or_explain(page, "[data-reject][disabled]", 30_000, log)
            button = page.locator("[data-reject]")
            assert button.get_attribute("aria-busy") == "true"
            assert button.inner_text() == "Отправляем…"
            assert page.locator("[data-reject-form]").get_attribute("data-sending") == "true"
            screenshot(page, f"counterparty-busy-{width}")
            context.close()
        assert exchange.state(doc_id) == "awaiting_counterparty"

        context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
        page = context.new_page()
        posts: list[str] = []
        page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
        open_settled(page, link)
        page.click("summary.cp-danger")
        page.fill("textarea[name=reason]", "Сумма в п. 3.1 не совпадает со счётом")
        page.dblclick("[data-reject]", no_wait_after=True)
        page.wait_for_selector("[data-message]", timeout=60_000)
        assert "Отказ отправлен" in page.locator("[data-message]").inner_text()
        context.close()
    assert len(posts) == 1 and "/reject?key=" in posts[0]
    assert exchange.state(doc_id) == "rejected_counterparty"
    assert audit_rows(exchange, "document.rejected", doc_id) == 1
