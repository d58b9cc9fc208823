"""Issue 15: the counterparty's actions are counted, not the requests a page view makes; a visit counts once.

A page view costs several requests (the page, its style sheet, each PDF preview, which a browser's viewer may
fetch twice) and every failed upload shows the page again with its previews: counted against 30 requests a
minute, the counterparty was locked out («Слишком много запросов») after two to four attempts.
"""

from __future__ import annotations

import asyncio
import re
import secrets
from typing import Any, cast

from server.counterparty import tokens
from server.counterparty.exchange import VISIT_SECONDS, CounterpartyExchange, LinkContext
from server.counterparty.limiter import PublicLimiter
from server.ratelimit import SlidingWindow
from tests.counterparty.conftest import PDF, Counterparty, Exchange, link_in

BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120 Safari/537.36", "Accept": "text/html,*/*"}
TWO_FILES = {"Договор №17.pdf": PDF, "Спецификация.pdf": PDF.replace(b"17", b"18")}


def view(exchange: Exchange, link: str, page_html: str, headers: dict[str, str]) -> None:
    """What a browser fetches for a shown page: the style sheet and each preview, twice (the PDF viewer)."""
    assert exchange.http.get(link.rsplit("/", 1)[0] + "/public.css", headers=headers).status_code == 200
    for preview in re.findall(r'<iframe[^>]* src="([^"]+)"', page_html):
        for _ in range(2):
            got = exchange.http.get(link.rsplit("/c/", 1)[0] + preview.replace("&amp;", "&"), headers=headers)
            assert got.status_code == 200, got.text[:300]


def test_viewing_and_four_failed_uploads_do_not_lock_the_counterparty_out(
    exchange: Exchange, counterparty: Counterparty
) -> None:
    doc_id = exchange.company_signed(files=TWO_FILES)
    link = link_in(exchange.invitation())
    ids = exchange.file_ids(doc_id)
    for _ in range(4):  # opened from the e-mail, reloaded, opened again later
        page = exchange.http.get(link, headers=BROWSER)
        assert page.status_code == 200
        view(exchange, link, page.text, BROWSER)
    for _ in range(4):  # a wrong file four times: each answer is the page again, with its previews
        answer = exchange.http.post(
            f"{link}/sign",
            headers=BROWSER,
            files=[(f"sig_{fid}", ("x.sig", b"not a signature", "application/octet-stream")) for fid in ids.values()],
        )
        assert answer.status_code == 422, answer.text[:500]
        assert "Файл не похож на подпись" in answer.text
        view(exchange, link, answer.text, BROWSER)
    # The fifth try is the right one, and it is taken.
    signatures = {fid: counterparty.sign(counterparty.director, TWO_FILES[name]) for name, fid in ids.items()}
    done = exchange.http.post(
        f"{link}/sign",
        headers=BROWSER,
        files=[(f"sig_{fid}", (f"{fid}.sig", sig, "application/octet-stream")) for fid, sig in signatures.items()],
    )
    assert done.status_code == 303, done.text[:500]
    assert exchange.state(doc_id) == "completed"


def test_actions_on_one_link_are_limited_from_any_number_of_addresses_and_reads_are_not_actions(
    exchange: Exchange,
) -> None:
    """``public_requests_per_link_per_minute`` (60) counts actions: uploads from 61 addresses, the 61st refused.
    Reading the page from 61 addresses counts against the reads' own, larger limit (it was the same 60)."""
    exchange.company_signed()
    link = link_in(exchange.invitation())
    reads = [exchange.http.get(link, headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code for i in range(1, 62)]
    assert reads == [200] * 61
    codes = [
        exchange.http.post(f"{link}/sign", headers={"X-Forwarded-For": f"203.0.113.{i}"}, files=[]).status_code
        for i in range(1, 62)
    ]
    assert codes[:60] == [400] * 60 and codes[60] == 429


def test_a_flood_of_bad_tokens_is_limited_whatever_the_address_reads(exchange: Exchange) -> None:
    """Unknown tokens count hard on read addresses too (file previews), and then the address gets nothing."""
    exchange.company_signed()
    link = link_in(exchange.invitation())
    base = link.rsplit("/", 1)[0]
    attacker = {"X-Forwarded-For": "192.0.2.66", **BROWSER}
    codes = [
        exchange.http.get(
            f"{base}/{tokens.derive(secrets.token_bytes(32), tokens.new_nonce())}/files/1", headers=attacker
        ).status_code
        for _ in range(21)
    ]
    assert codes[:20] == [404] * 20 and codes[20] == 429
    blocked = exchange.http.get(link, headers=attacker)
    assert blocked.status_code == 429 and "Слишком много запросов" in blocked.text
    assert exchange.http.get(link, headers={"X-Forwarded-For": "192.0.2.67"}).status_code == 200


def test_the_limiter_counts_reads_and_actions_apart() -> None:
    now = [0.0]
    limiter = PublicLimiter(
        per_ip_per_minute=3,
        per_link_per_minute=100,
        bad_links_per_hour=100,
        reads_per_ip_per_minute=5,
        reads_per_link_per_minute=100,
        clock=lambda: now[0],
    )
    assert [limiter.admit("ip", "t:a", read=True) for _ in range(5)] == [None] * 5
    assert limiter.admit("ip", "t:a", read=True) is not None
    assert [limiter.admit("ip", "t:a") for _ in range(3)] == [None] * 3  # reading used up no action
    assert limiter.admit("ip", "t:a") is not None
    limiter.bad_link("other")  # an unknown token is an action of its address
    assert [limiter.admit("other", "t:b") for _ in range(2)] == [None, None]
    assert limiter.admit("other", "t:b") is not None


def test_a_visit_counts_once_not_every_reload_or_preview(exchange: Exchange, counterparty: Counterparty) -> None:
    doc_id = exchange.company_signed()
    link = link_in(exchange.invitation())

    def opened() -> int:
        return int(exchange.kd.query("SELECT opened_count FROM counterparty_links WHERE document_id = ?", doc_id)[0][0])

    assert opened() == 0
    for _ in range(5):  # one person: the page, its previews, reloads
        page = exchange.http.get(link, headers=BROWSER)
        view(exchange, link, page.text, BROWSER)
    fid = exchange.file_ids(doc_id)["Договор №17.pdf"]
    failed = exchange.http.post(
        f"{link}/sign", headers=BROWSER, files=[(f"sig_{fid}", ("x.sig", b"junk", "application/octet-stream"))]
    )
    assert failed.status_code == 422
    exchange.http.get(link + "?done=partly", headers=BROWSER)
    assert opened() == 1
    # Another browser (a colleague on another computer) is another visit.
    other = {**BROWSER, "User-Agent": "Mozilla/5.0 (Windows NT 10.0) Firefox/121.0", "X-Forwarded-For": "198.51.100.9"}
    exchange.http.get(link, headers=other)
    exchange.http.get(link, headers=other)
    assert opened() == 2


def test_a_visit_is_counted_again_after_half_an_hour() -> None:
    """The window itself: the same browser half an hour later is a new visit; a re-shown page never counts."""

    class Db:
        writes = 0

        async def write(self, fn: Any) -> None:
            self.writes += 1

        async def read(self, fn: Any) -> None:
            return None

    db = Db()
    signatures = cast(Any, type("Deps", (), {"listeners": None})())
    exchange = CounterpartyExchange(
        cast(Any, db), downloads=cast(Any, None), packaging=cast(Any, None), signatures=signatures
    )
    now = [0.0]
    exchange.visits = SlidingWindow(1, VISIT_SECONDS, clock=lambda: now[0])
    ctx = cast(LinkContext, type("Ctx", (), {"link": type("Link", (), {"id": 7})()})())

    async def views() -> None:
        await exchange.open_page(ctx, visitor="198.51.100.1 Firefox")
        await exchange.open_page(ctx, visitor="198.51.100.1 Firefox")
        await exchange.open_page(ctx)  # the page shown again after a refused upload
        now[0] += VISIT_SECONDS - 1
        await exchange.open_page(ctx, visitor="198.51.100.1 Firefox")
        now[0] += 2
        await exchange.open_page(ctx, visitor="198.51.100.1 Firefox")

    asyncio.run(views())
    assert db.writes == 2
