"""``/v/<id>``: the verdict KlikDok keeps for a document finished through the workflow (the company's director
signs through /api/v1, the counterparty by uploading a .sig on its public page), and the one 404 for an id that
is forged or missing."""

from __future__ import annotations

import html
import json
import re
import secrets
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlite_utils import Database

from server.workflow import public_verdict_store
from tests.counterparty.conftest import link_in

from .conftest import PDF, Counterparty, Exchange, docx_bytes, gost256

TITLE = "Секретная сделка Альфа"


def make_public_id(data_dir: Path, document_id: int) -> str:
    """The id a stamped copy's QR code carries, made the way the server makes it (the stamped copy that asks for
    it is another part of issue 16): the store's own function in a write transaction of the live database."""
    conn = sqlite3.connect(data_dir / "klikdok.db", timeout=30, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        public_id = public_verdict_store.id_for(Database(conn), document_id)
        conn.execute("COMMIT")
        return public_id
    finally:
        conn.close()


@pytest.fixture
def completed(exchange: Exchange, counterparty: Counterparty) -> Iterator[tuple[Exchange, int, dict[str, bytes]]]:
    files = {"Акт сверки.pdf": PDF, "Спецификация.docx": docx_bytes()}
    doc_id = exchange.company_signed(files, title=TITLE)
    link = link_in(exchange.invitation(title=TITLE))
    ids = exchange.file_ids(doc_id)
    sent = exchange.upload(
        link, {ids[name]: counterparty.sign(counterparty.director, data) for name, data in files.items()}
    )
    assert sent.status_code == 303, sent.text[:1500]
    assert exchange.state(doc_id) == "completed"
    yield exchange, doc_id, files


def test_a_completed_document_shows_names_digests_and_summaries_and_nothing_else(
    completed: tuple[Exchange, int, dict[str, bytes]],
) -> None:
    exchange, doc_id, files = completed
    public_id = make_public_id(exchange.kd.server.data_dir, doc_id)
    page = httpx.get(f"{exchange.kd.url}/v/{public_id}")
    assert page.status_code == 200
    assert page.headers["x-robots-tag"].startswith("noindex")
    assert page.headers["referrer-policy"] == "no-referrer"
    text = html.unescape(page.text)
    assert 'data-state="completed"' in text and ">Подписан<" in text
    for name, data in files.items():
        assert name in text and gost256(data) in text
    # No title, no CRM data, no contents.
    assert TITLE not in text
    assert "Поставка серверного оборудования" not in text and "Альфа-Поставка" not in text.split("Подписи")[0]
    assert "Акт сверки №5" not in text and "Спецификация к договору" not in text
    # Each stored signature's summary, numbered across the document.
    sigs = re.findall(r'<article class="cp-sig" data-signature="(\d+)">(.*?)</article>', text, re.S)
    assert [n for n, _ in sigs] == ["1", "2", "3", "4"]
    stored = exchange.kd.query("SELECT verification FROM signatures WHERE document_id = ? ORDER BY id", doc_id)
    for (number, body), (verification,) in zip(sigs, stored, strict=True):
        result = json.loads(verification)["signatures"][0]
        assert result["certificate"]["serial"] in body, number
        assert 'data-verdict="valid"' in body and "ПОДПИСЬ ДЕЙСТВИТЕЛЬНА" in body
        assert "(МСК) — заявленное подписантом" in body  # openssl's CAdES-BES: a claimed time, in the portal's zone
    owners = "".join(body for _, body in sigs)
    assert owners.count("Соколов Андрей Викторович") == 2 and owners.count("Орлов Дмитрий Сергеевич") == 2
    assert "ООО «Вектор»" in owners and "ООО «Альфа-Поставка»" in owners
    assert 'href="/verify"' in text


def _same_answer(one: httpx.Response, two: httpx.Response) -> None:
    assert one.status_code == two.status_code == 404
    assert one.content == two.content
    strip = {"date"}
    assert {k: v for k, v in one.headers.items() if k not in strip} == {
        k: v for k, v in two.headers.items() if k not in strip
    }


def test_a_forged_and_a_missing_id_get_the_same_404(completed: tuple[Exchange, int, dict[str, bytes]]) -> None:
    exchange, doc_id, _ = completed
    real = make_public_id(exchange.kd.server.data_dir, doc_id)
    forged = secrets.token_urlsafe(16)  # well-formed, 128 random bits: no document
    tweaked = real[:-1] + ("A" if real[-1] != "A" else "B")  # one character off a real one
    missing = "nope"  # not even the shape of an id
    answers = [httpx.get(f"{exchange.kd.url}/v/{x}") for x in (forged, tweaked, missing)]
    _same_answer(answers[0], answers[1])
    _same_answer(answers[0], answers[2])
    assert "Проверка не найдена" in answers[0].text and 'href="/verify"' in answers[0].text
    assert answers[0].headers["x-robots-tag"].startswith("noindex")
    assert httpx.get(f"{exchange.kd.url}/v/{real}").status_code == 200


class CountingDb:
    """The store's database handle with every execute() it makes written down (SQL, number of parameters)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.calls: list[tuple[str, int]] = []

    def execute(self, sql: str, params: Any = ()) -> Any:
        self.calls.append((sql, len(params)))
        return self.db.execute(sql, params)


def test_forged_and_missing_ids_take_exactly_the_same_queries(
    completed: tuple[Exchange, int, dict[str, bytes]],
) -> None:
    """No timing here (benchmarks/bench_public_verdict.py times it): the lookup a forged id and a missing one
    make, seen by a counting wrapper and by SQLite itself, is the same statement, once."""
    exchange, doc_id, _ = completed
    real = make_public_id(exchange.kd.server.data_dir, doc_id)
    conn = sqlite3.connect(f"file:{exchange.kd.server.data_dir / 'klikdok.db'}?mode=ro", uri=True)
    try:
        db = Database(conn)  # before the trace: sqlite_utils sets a pragma once when it wraps a connection
        traced: list[str] = []
        conn.set_trace_callback(traced.append)
        seen: dict[str, tuple[list[tuple[str, int]], list[str]]] = {}
        for label, public_id in [("forged", secrets.token_urlsafe(16)), ("missing", "../etc/passwd"), ("real", real)]:
            traced.clear()
            counting = CountingDb(db)
            found = public_verdict_store.document_for(counting, public_id)  # type: ignore[arg-type]  # duck-typed: execute() only
            assert (found is not None) == (label == "real")
            # SQLite shows the statement with its values bound: the id is the only literal, masked here.
            seen[label] = (counting.calls, [re.sub(r"'[^']*'", "?", s) for s in traced])
        assert seen["forged"] == seen["missing"] == seen["real"]
        assert len(seen["forged"][0]) == 1 and len(seen["forged"][1]) == 1
    finally:
        conn.close()
