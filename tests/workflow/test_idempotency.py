"""``Idempotency-Key`` on /api/v1 over real HTTP: a request repeated with its key runs once and gets the first answer.

The issue: a double click on «Отправить на подпись» made two identical documents, so the signer was notified twice
and the counterparty later invited twice. Here the same key is sent again (sequentially and at the same moment)
on create (multipart with a file, so a new boundary each time), send, withdraw, remind, reject and a streamed .sig
upload; the kept answer comes back, and the database, the audit log and the outbox hold one of everything.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from server.routes.idempotency import Fingerprint
from tests.browser import screenshot
from tests.pages.conftest import open_tab
from tests.workflow.conftest import DIRECTOR, MANAGER, SALES_HEAD, Klikdok, People, wait_for

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор поставки №17 от 14.05.2026".encode() + b"\n%%EOF\n"


def key() -> str:
    return str(uuid.uuid4())


def create(
    kd: Klikdok,
    idem: str | bytes | None,
    *,
    title: str,
    user: int = MANAGER,
    signers: str = str(DIRECTOR),
    send: str = "1",
    data: bytes = PDF,
) -> httpx.Response:
    headers = {"Idempotency-Key": idem} if idem is not None else {}
    return kd.api(
        "POST",
        "/documents",
        user,
        DEAL,
        headers=headers,
        data={"title": title, "signers": signers, "send": send},
        files=[("files", ("Договор.pdf", data, "application/pdf"))],
    )


def call(kd: Klikdok, method: str, path: str, user: int, idem: str, **kwargs: Any) -> httpx.Response:
    return kd.api(method, path, user, headers={"Idempotency-Key": idem}, **kwargs)


def documents_titled(kd: Klikdok, title: str) -> list[int]:
    return [r[0] for r in kd.query("SELECT id FROM documents WHERE title = ? ORDER BY id", title)]


def audit_rows(kd: Klikdok, action: str, doc_id: int) -> int:
    return int(
        kd.query(
            "SELECT count(*) FROM audit_log WHERE action = ? AND object_type = 'document' AND object_id = ?",
            action,
            str(doc_id),
        )[0][0]
    )


def outbox_settled(kd: Klikdok) -> None:
    wait_for(
        lambda: kd.query("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')")[0][0] == 0,
        what="the outbox delivered",
    )


def notifications(kd: Klikdok, user_id: int, text: str) -> list[dict[str, Any]]:
    return [n for n in kd.emu.state.notifications if n["USER_ID"] == user_id and text in str(n["MESSAGE"])]


def same_answer(first: httpx.Response, second: httpx.Response) -> None:
    assert (second.status_code, second.headers["content-type"], second.content) == (
        first.status_code,
        first.headers["content-type"],
        first.content,
    )
    assert second.headers.get("idempotent-replayed") == "true"
    assert "idempotent-replayed" not in first.headers


def test_the_same_create_twice_makes_one_document_and_one_notification(kd: Klikdok) -> None:
    idem = key()
    first = create(kd, idem, title="Договор с ключом")
    assert first.status_code == 201, first.text
    second = create(kd, idem, title="Договор с ключом")  # httpx picks another multipart boundary: still the same form
    same_answer(first, second)
    doc_id = first.json()["id"]
    assert documents_titled(kd, "Договор с ключом") == [doc_id]
    assert audit_rows(kd, "document.created", doc_id) == 1
    assert audit_rows(kd, "document.sent", doc_id) == 1
    assert kd.query("SELECT count(*) FROM document_files WHERE document_id = ?", doc_id) == [(1,)]
    wait_for(lambda: notifications(kd, DIRECTOR, "Договор с ключом"), what="the signer's notification")
    outbox_settled(kd)
    assert len(notifications(kd, DIRECTOR, "Договор с ключом")) == 1

    # Without a key nothing changes: two requests, two documents.
    assert create(kd, None, title="Договор без ключа").status_code == 201
    assert create(kd, None, title="Договор без ключа").status_code == 201
    assert len(documents_titled(kd, "Договор без ключа")) == 2


def test_a_double_click_at_the_same_moment_makes_one_document(kd: Klikdok) -> None:
    """Four copies of one request in flight together: one runs, the others wait for its answer and get it."""
    idem = key()
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: create(kd, idem, title="Договор в четыре клика"), range(4)))
    assert {a.status_code for a in answers} == {201}, [a.text for a in answers]
    assert len({a.content for a in answers}) == 1
    assert sum(a.headers.get("idempotent-replayed") == "true" for a in answers) == 3
    assert len(documents_titled(kd, "Договор в четыре клика")) == 1


def test_four_different_creates_at_once_without_keys_all_go_through(kd: Klikdok) -> None:
    """Without keys each request is its own: four creates in one deal at the same moment make four documents (one
    of them used to answer 500)."""
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda n: create(kd, None, title=f"Договор №{n} без ключа"), range(4)))
    assert [a.status_code for a in answers] == [201] * 4, [a.text for a in answers]
    for n in range(4):
        assert len(documents_titled(kd, f"Договор №{n} без ключа")) == 1


def test_send_withdraw_remind_and_reject_run_once(kd: Klikdok, people: People) -> None:
    # send: a draft sent twice with one key
    draft = create(kd, None, title="Черновик", send="0").json()["id"]
    idem = key()
    first = call(kd, "POST", f"/documents/{draft}/send", MANAGER, idem)
    assert first.status_code == 200, first.text
    same_answer(first, call(kd, "POST", f"/documents/{draft}/send", MANAGER, idem))
    assert audit_rows(kd, "document.sent", draft) == 1

    # remind: without the key the signer would be reminded twice
    idem = key()
    first = call(kd, "POST", f"/documents/{draft}/remind", MANAGER, idem)
    assert first.status_code == 200, first.text
    same_answer(first, call(kd, "POST", f"/documents/{draft}/remind", MANAGER, idem))
    assert audit_rows(kd, "document.reminded", draft) == 1

    # withdraw: a second withdrawal of a withdrawn document would be a 409; with the key it is the first's 200
    idem = key()
    first = call(kd, "POST", f"/documents/{draft}/withdraw", MANAGER, idem, json={"reason": "Передумали"})
    assert first.status_code == 200, first.text
    same_answer(first, call(kd, "POST", f"/documents/{draft}/withdraw", MANAGER, idem, json={"reason": "Передумали"}))
    assert audit_rows(kd, "document.withdrawn", draft) == 1

    # reject, by the signer
    doc = create(kd, None, title="На отказ").json()["id"]
    idem = key()
    first = call(kd, "POST", f"/documents/{doc}/reject", DIRECTOR, idem, json={"reason": "Неверная сумма"})
    assert first.status_code == 200, first.text
    same_answer(first, call(kd, "POST", f"/documents/{doc}/reject", DIRECTOR, idem, json={"reason": "Неверная сумма"}))
    assert audit_rows(kd, "document.rejected", doc) == 1

    # a .sig upload (streamed raw body) twice: one signature
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    signed = create(kd, None, title="На подпись").json()["id"]
    file_id = kd.api("GET", f"/documents/{signed}", DIRECTOR).json()["files"][0]["id"]
    sig = people.sign(DIRECTOR, PDF)
    idem = key()
    path = f"/documents/{signed}/files/{file_id}/signatures"
    first = call(kd, "POST", path, DIRECTOR, idem, content=sig)
    assert first.status_code == 201, first.text
    same_answer(first, call(kd, "POST", path, DIRECTOR, idem, content=sig))
    assert kd.query("SELECT count(*) FROM signatures WHERE document_id = ?", signed) == [(1,)]


def test_the_same_key_with_another_request_is_refused(kd: Klikdok) -> None:
    idem = key()
    assert create(kd, idem, title="Первый договор").status_code == 201
    other = create(kd, idem, title="Второй договор")
    assert other.status_code == 422
    assert other.json()["error"] == "idempotency_key_reused"
    assert "уже использован для другого запроса" in other.json()["message"]
    other_file = create(kd, idem, title="Первый договор", data=PDF + b"%changed\n")
    assert other_file.status_code == 422
    assert documents_titled(kd, "Второй договор") == [] and len(documents_titled(kd, "Первый договор")) == 1

    doc = create(kd, None, title="Отзываемый").json()["id"]
    idem = key()
    assert call(kd, "POST", f"/documents/{doc}/withdraw", MANAGER, idem, json={"reason": "Первая"}).status_code == 200
    again = call(kd, "POST", f"/documents/{doc}/withdraw", MANAGER, idem, json={"reason": "Вторая"})
    assert again.status_code == 422 and again.json()["error"] == "idempotency_key_reused"
    assert kd.query("SELECT reason FROM documents WHERE id = ?", doc) == [("Первая",)]


def test_a_refusal_is_not_kept_so_the_corrected_request_goes_through(kd: Klikdok) -> None:
    """The create dialog keeps its key while the person fixes what the server refused."""
    idem = key()
    refused = create(kd, idem, title="Исправленный", signers="")
    assert refused.status_code == 400 and refused.json()["error"] == "no_signers"
    fixed = create(kd, idem, title="Исправленный")
    assert fixed.status_code == 201 and "idempotent-replayed" not in fixed.headers
    assert documents_titled(kd, "Исправленный") == [fixed.json()["id"]]


def test_another_users_key_never_replays_their_answer(kd: Klikdok) -> None:
    idem = key()
    mine = create(kd, idem, title="Договор менеджера")
    assert mine.status_code == 201
    theirs = create(kd, idem, title="Договор менеджера", user=SALES_HEAD)
    assert theirs.status_code == 201, theirs.text
    assert "idempotent-replayed" not in theirs.headers
    assert theirs.json()["id"] != mine.json()["id"]
    assert len(documents_titled(kd, "Договор менеджера")) == 2


def test_a_key_older_than_a_day_is_forgotten(kd: Klikdok) -> None:
    idem = key()
    first = create(kd, idem, title="Вчерашний договор")
    assert first.status_code == 201
    # The server's clock is not ours to move: the kept answer is made a day and a minute old instead.
    conn = sqlite3.connect(kd.server.data_dir / "klikdok.db", timeout=30)
    try:
        old = (datetime.now(UTC) - timedelta(days=1, minutes=1)).isoformat(timespec="microseconds")
        with conn:
            assert conn.execute("UPDATE idempotency_keys SET created_at = ? WHERE key = ?", (old, idem)).rowcount == 1
    finally:
        conn.close()
    again = create(kd, idem, title="Вчерашний договор")
    assert again.status_code == 201 and "idempotent-replayed" not in again.headers
    assert again.json()["id"] != first.json()["id"]
    assert kd.query("SELECT count(*) FROM idempotency_keys WHERE key = ?", idem) == [(1,)]  # the old one is purged


def test_malformed_keys_are_refused_in_russian(kd: Klikdok) -> None:
    for bad in [
        "short",
        "x" * 129,
        "ключ-на-русском".encode(),
        b"\xff" * 12,
        "",
        "a key with spaces",
        "a,b,c,d,e,f,g,h",
        "'; DROP TABLE--",
    ]:
        answer = create(kd, bad, title="Плохой ключ")
        assert answer.status_code == 400, (bad, answer.text)
        assert answer.json()["error"] == "bad_idempotency_key"
        assert "Idempotency-Key" in answer.json()["message"] and "символов" in answer.json()["message"]
    two = httpx.post(
        f"{kd.url}/api/v1/documents",
        headers=[
            ("X-KlikDok-Session", kd.session(MANAGER, DEAL)),
            ("Idempotency-Key", key()),
            ("Idempotency-Key", key()),
        ],
        data={"title": "Плохой ключ", "signers": str(DIRECTOR), "send": "1"},
        files=[("files", ("a.pdf", PDF, "application/pdf"))],
        timeout=30,
    )
    assert two.status_code == 400 and two.json()["error"] == "bad_idempotency_key"
    assert documents_titled(kd, "Плохой ключ") == []
    # Without a valid session the key changes nothing: the answer is the usual 401.
    anonymous = httpx.post(f"{kd.url}/api/v1/documents/1/send", headers={"Idempotency-Key": key()}, timeout=30)
    assert anonymous.status_code == 401


def fingerprint(chunks: list[bytes], boundary: str) -> str:
    scope: Any = {
        "method": "POST",
        "path": "/api/v1/documents",
        "query_string": b"",
        "headers": [(b"content-type", f"multipart/form-data; boundary={boundary}".encode())],
    }
    fp = Fingerprint(scope)
    for chunk in chunks:
        fp.feed(chunk)
    return fp.digest()


def test_the_fingerprint_ignores_the_multipart_boundary_wherever_chunks_split_it() -> None:
    def body(boundary: str, value: str = "Договор") -> bytes:
        return (
            (
                f'--{boundary}\r\nContent-Disposition: form-data; name="title"\r\n\r\n{value}\r\n'
                f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.pdf"\r\n\r\n'
            ).encode()
            + PDF * 50
            + f"\r\n--{boundary}--\r\n".encode()
        )

    one, two = "----WebKitFormBoundaryAbCdEf0123456789", "d5c1f8a0e3b44f0f9a7e2c1b6d8e9f00"
    reference = fingerprint([body(one)], one)
    data = body(two)
    for size in (1, 7, 31, 32, 33, 100, len(data)):
        assert fingerprint([data[i : i + size] for i in range(0, len(data), size)], two) == reference
    assert fingerprint([body(two, "Другой")], two) != reference


@pytest.mark.browser
def test_double_click_in_the_create_dialog_makes_one_document(kd: Klikdok, browser: Any) -> None:
    """The CRM tab's create dialog in Chromium. busy() already stops a second click, so to prove the server's part
    the button is re-enabled between two clicks: the dialog sends its one key twice, at once, and the server still
    makes one document. Then two fetch()es of one request with one key, straight from the page."""
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="ru-RU")
    try:
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        answers: list[int] = []
        page.on(
            "response",
            lambda r: answers.append(r.status) if r.request.method == "POST" and r.url.endswith("/documents") else None,
        )
        # The tab's page on its own: the in-page dialog (inside the portal the same form opens in a slider).
        open_tab(page, kd)
        frame = page.main_frame
        frame.wait_for_selector("#kd-empty")
        frame.click("#kd-new")
        frame.fill("#kd-title", "Договор двойного клика")
        frame.set_input_files(
            "#kd-files", files=[{"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        frame.wait_for_selector("#kd-signer-options option")
        frame.select_option("#kd-signer-options", str(DIRECTOR))
        frame.click("#kd-signer-add")
        # A real double click first: the second click finds the button busy.
        frame.dblclick("#kd-create-send")
        frame.wait_for_selector("table.kd-documents [data-state='awaiting_internal']")
        assert len(documents_titled(kd, "Договор двойного клика")) == 1
        assert answers == [201]

        # The same dialog opening sends its request twice at once (its button re-enabled in between).
        frame.click("#kd-new")
        frame.fill("#kd-title", "Договор с отжатой кнопкой")
        frame.set_input_files(
            "#kd-files", files=[{"name": "Договор.pdf", "mimeType": "application/pdf", "buffer": PDF}]
        )
        frame.select_option("#kd-signer-options", str(DIRECTOR))
        frame.click("#kd-signer-add")
        frame.evaluate(
            "() => { const b = document.getElementById('kd-create-send'); b.click(); b.disabled = false; b.click(); }"
        )
        for _ in range(600):
            if len(answers) == 3:
                break
            page.wait_for_timeout(50)
        assert answers == [201, 201, 201]
        assert len(documents_titled(kd, "Договор с отжатой кнопкой")) == 1
        frame.locator("#kd-documents").get_by_text("Договор с отжатой кнопкой").first.wait_for()
        screenshot(page, "idem-tab-double-click-1280")

        # Two requests with one key straight from the page (kd_core's api sends the key as Idempotency-Key).
        ids = frame.evaluate(
            """(signer) => {
                function form() {
                    const f = new FormData();
                    f.append("title", "Договор из fetch");
                    f.append("signers", String(signer));
                    f.append("send", "1");
                    f.append("files", new Blob(["%PDF-1.4 fetch"], { type: "application/pdf" }), "fetch.pdf");
                    return f;
                }
                const key = KlikDok.util.newKey();
                const api = KlikDok.util.api;
                return Promise.all([api("POST", "/documents", form(), { key: key }),
                                    api("POST", "/documents", form(), { key: key })])
                    .then(function (both) { return both.map(function (c) { return c.id; }); });
            }""",
            DIRECTOR,
        )
        assert ids[0] == ids[1]
        assert documents_titled(kd, "Договор из fetch") == [ids[0]]
        assert errors == [], errors
    finally:
        context.close()


def test_every_change_a_page_script_asks_for_carries_a_key() -> None:
    """Each POST/PUT/PATCH/DELETE the portal pages' scripts send passes an idempotency key (kd_core's api sends it as
    the header), so no button of theirs can create or change anything twice."""
    static = Path(__file__).resolve().parents[2] / "server" / "static"
    call = re.compile(r'api\(\s*"(POST|PUT|PATCH|DELETE)"')
    missing = []
    for script in sorted(static.glob("*.js")):
        text = script.read_text(encoding="utf-8")
        for found in call.finditer(text):
            rest = text[found.end() :]
            end = min(i for i in (rest.find(".then("), rest.find(";\n"), len(rest)) if i >= 0)
            if "key:" not in rest[:end]:
                line = text.count("\n", 0, found.start()) + 1
                missing.append(f"{script.name}:{line}")
    assert missing == []
