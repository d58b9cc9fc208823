"""Issue 17: «Новая версия» of a rejected, withdrawn or expired document, over real HTTP.

A real server on the portal emulator, signatures made by openssl (gost engine), mail to a local SMTP server: the
new version takes the route, the card and the counterparty over, both versions point at each other, the author
alone may make it and only from a final state that asks for another try, and the counterparty's old link says
that a newer version exists instead of offering anything.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tests.counterparty.conftest import (
    ALFA_EMAIL,
    DEAL,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    exchange_on,
    link_in,
)
from tests.support.server import start_server
from tests.workflow.conftest import (
    DIRECTOR,
    MANAGER,
    SALES_HEAD,
    People,
    wait_files_on_disk,
    wait_for,
    wait_past_deadline,
)

NEWER_SENT = "Отправлена новая версия документа — ссылка пришла вам письмом"
NEWER_COMING = "ссылка на неё придёт вам письмом"


def _detail(ex: Exchange, doc_id: int, user: int = MANAGER) -> dict[str, Any]:
    resp = ex.kd.api("GET", f"/documents/{doc_id}", user)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def _new_version(ex: Exchange, doc_id: int, user: int = MANAGER, **kwargs: Any) -> Any:
    return ex.kd.api("POST", f"/documents/{doc_id}/versions", user, **kwargs)


def _audit(ex: Exchange, doc_id: int, action: str) -> list[dict[str, Any]]:
    rows = ex.kd.query(
        "SELECT actor, details FROM audit_log WHERE object_type = 'document' AND object_id = ? AND action = ?",
        str(doc_id),
        action,
    )
    return [{"actor": actor, **json.loads(details)} for actor, details in rows]


def _sign_internal(ex: Exchange, doc_id: int, files: dict[str, bytes]) -> None:
    for f in _detail(ex, doc_id, DIRECTOR)["files"]:
        r = ex.kd.api(
            "POST",
            f"/documents/{doc_id}/files/{f['id']}/signatures",
            DIRECTOR,
            content=ex.people.sign(DIRECTOR, files[f["name"]]),
        )
        assert r.status_code == 201, r.text


def test_version_two_after_the_counterparty_rejects(exchange: Exchange, counterparty: Counterparty) -> None:
    ex = exchange
    v1 = ex.company_signed()
    old_link = link_in(ex.invitation())
    assert ex.reject(old_link, "Неверная цена в приложении 1").status_code == 303
    assert ex.state(v1) == "rejected_counterparty"
    before = _detail(ex, v1)
    assert "new_version" in before["can"] and before["versions"] is None
    # Nobody but the author: not the signer on its route, not a head who sees it.
    for stranger in (DIRECTOR, SALES_HEAD):
        refused = _new_version(ex, v1, stranger)
        assert refused.status_code == 403, refused.text
        assert "только автору документа" in refused.json()["message"]
    assert "new_version" not in _detail(ex, v1, DIRECTOR)["can"]
    # Without new files the new version reuses the old ones where they are on Disk (before that the server asks to
    # try again).
    wait_files_on_disk(ex.kd, v1)

    made = _new_version(ex, v1)
    assert made.status_code == 201, made.text
    v2 = made.json()["id"]
    assert made.json() == {"id": v2, "version": 2, "previous_id": v1}
    # The same card, route, counterparty and files; sent at once to the same internal signer.
    assert ex.state(v2) == "awaiting_internal"
    new = _detail(ex, v2)
    assert [(s["kind"], s["user_id"]) for s in new["route"]] == [(s["kind"], s["user_id"]) for s in before["route"]]
    assert new["counterparty_email"] == before["counterparty_email"] == ALFA_EMAIL
    assert new["counterparty_inn"] == before["counterparty_inn"]
    assert [(f["name"], f["streebog256"]) for f in new["files"]] == [
        (f["name"], f["streebog256"]) for f in before["files"]
    ]
    assert ex.kd.query("SELECT entity_type, entity_id FROM documents WHERE id = ?", v2) == [DEAL]
    # Linked both ways; the old one offers no second new version, the new one is «Версия 2 из 2».
    assert new["versions"] == {"number": 2, "total": 2, "previous_id": v1, "next_id": None, "latest_id": v2}
    after = _detail(ex, v1)
    assert after["versions"] == {"number": 1, "total": 2, "previous_id": None, "next_id": v2, "latest_id": v2}
    assert "new_version" not in after["can"]
    again = _new_version(ex, v1)
    assert again.status_code == 409 and "уже есть новая версия" in again.json()["message"]
    # Audited on both versions, by the author.
    created = _audit(ex, v2, "document.version_created")
    assert [(c["actor"], c["version"], c["previous_id"], c["reused"]) for c in created] == [
        (f"user:{MANAGER}", 2, v1, True)
    ]
    superseded = _audit(ex, v1, "document.superseded")
    assert [(s["actor"], s["next_id"]) for s in superseded] == [(f"user:{MANAGER}", v2)]
    # The CRM list shows which version each document is.
    page = ex.kd.api("GET", "/documents", MANAGER, DEAL).json()
    versions = {item["id"]: item["version"] for item in page["items"]}
    assert versions[v1] == 1 and versions[v2] == 2

    # The old link: no actions, says a new version is on its way; the sign and reject forms are refused.
    page_old = ex.page(old_link)
    assert page_old.status_code == 410 and NEWER_COMING in page_old.text
    assert "<form" not in page_old.text
    fid = ex.file_ids(v1)["Договор №17.pdf"]
    refused_sign = ex.upload(old_link, {fid: counterparty.sign(counterparty.director, PDF)})
    assert refused_sign.status_code == 410 and ex.state(v1) == "rejected_counterparty"
    assert ex.reject(old_link, "ещё раз").status_code == 410
    # The company signs version 2: the counterparty gets a new invitation, and the old link says so.
    _sign_internal(ex, v2, {"Договор №17.pdf": PDF})
    new_link = link_in(ex.invitation(count=2))
    assert new_link != old_link
    page_old = ex.page(old_link)
    assert page_old.status_code == 410 and NEWER_SENT in page_old.text
    page_new = ex.page(new_link)
    assert page_new.status_code == 200 and "<form" in page_new.text
    # The counterparty signs version 2 on its own link: it completes; v1 stays as it was.
    done = ex.upload(new_link, {ex.file_ids(v2)["Договор №17.pdf"]: counterparty.sign(counterparty.director, PDF)})
    assert done.status_code == 303, done.text
    assert ex.state(v2) == "completed" and ex.state(v1) == "rejected_counterparty"
    # A completed document gets no new version.
    assert "new_version" not in _detail(ex, v2)["can"]
    completed = _new_version(ex, v2)
    assert completed.status_code == 409 and "уже подписан обеими сторонами" in completed.json()["message"]


def test_version_two_after_a_withdrawal_with_new_files(exchange: Exchange) -> None:
    ex = exchange
    ex.kd.register_cert(DIRECTOR, ex.people.certs[DIRECTOR])
    v1 = ex.kd.create(MANAGER, DEAL, {"Счёт.pdf": PDF}, signers=[DIRECTOR], title="Счёт на оплату")
    # In progress: no new version (withdraw first).
    busy = _new_version(ex, v1)
    assert busy.status_code == 409 and "ещё в работе" in busy.json()["message"]
    assert "new_version" not in _detail(ex, v1)["can"]
    assert ex.kd.api("POST", f"/documents/{v1}/withdraw", MANAGER, json={"reason": "Ошибка в сумме"}).status_code == 200
    assert "new_version" in _detail(ex, v1)["can"]
    fixed = b"%PDF-1.7\n" + "Счёт №5, сумма исправлена".encode() + b"\n%%EOF\n"
    made = _new_version(ex, v1, files=[("files", ("Счёт исправленный.pdf", fixed, "application/pdf"))])
    assert made.status_code == 201, made.text
    v2 = made.json()["id"]
    new = _detail(ex, v2)
    assert [f["name"] for f in new["files"]] == ["Счёт исправленный.pdf"]
    assert new["document"]["title"] == "Счёт на оплату" and new["document"]["state"] == "awaiting_internal"
    assert new["versions"]["previous_id"] == v1 and new["versions"]["number"] == 2
    assert _audit(ex, v2, "document.version_created")[0]["reused"] is False
    # The new file reaches the card's Disk folder through the outbox, as a created document's does.
    wait_for(
        lambda: ex.kd.query("SELECT disk_file_id FROM document_files WHERE document_id = ?", v2)[0][0],
        what="the new version's file on Disk",
    )
    # The internal signer was asked to sign version 2.
    wait_for(
        lambda: [
            n
            for n in ex.kd.emu.state.notifications
            if n["USER_ID"] == DIRECTOR and "Счёт на оплату" in n["MESSAGE"] and "ждёт вашей подписи" in n["MESSAGE"]
        ],
        what="the signer's notification about version 2",
    )
    # The signer now signs the new bytes: a signature of the old file is refused.
    f = new["files"][0]
    old_sig = ex.kd.api(
        "POST",
        f"/documents/{v2}/files/{f['id']}/signatures",
        DIRECTOR,
        content=ex.people.sign(DIRECTOR, PDF),
    )
    assert old_sig.status_code in (400, 409, 422), old_sig.text
    _sign_internal(ex, v2, {"Счёт исправленный.pdf": fixed})
    assert ex.state(v2) == "awaiting_counterparty"
    # A third version is made from the newest one only.
    assert _new_version(ex, v1).status_code == 409


def test_version_two_after_expiry_with_a_new_deadline(
    tmp_path: Path, emulator: Any, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    # Zero days to answer: the document expires as soon as the expiry round sees it (one runs at every start).
    env = counterparty_env(people.pki, smtp, KLIKDOK_WORKFLOW_COUNTERPARTY_DAYS="0")
    with exchange_on(tmp_path / "data", emulator, people, smtp, KLIKDOK_WORKFLOW_COUNTERPARTY_DAYS="0") as ex:
        v1 = ex.company_signed(title="Акт сверки")
        old_link = link_in(ex.invitation(title="Акт сверки"))
        port = int(ex.kd.url.rsplit(":", 1)[1])  # the same address: the links in the e-mails name it
        wait_past_deadline(ex.kd, v1)
        ex.kd.server.stop()
        ex.kd.server = start_server(tmp_path / "data", env=env, port=port)
        wait_for(lambda: ex.state(v1) == "expired", what="the expiry")
        assert "new_version" in _detail(ex, v1)["can"]
        moscow = ZoneInfo("Europe/Moscow")
        day = (datetime.now(UTC).astimezone(moscow) + timedelta(days=5)).date()
        past = (datetime.now(UTC).astimezone(moscow) - timedelta(days=1)).date()
        bad = _new_version(ex, v1, json={"due_date": past.isoformat()})
        assert bad.status_code in (400, 409, 422) and "уже прошёл" in bad.json()["message"]
        made = _new_version(ex, v1, json={"due_date": day.isoformat()})
        assert made.status_code == 201, made.text
        v2 = made.json()["id"]
        # The deadline is recomputed: the end of the picked day in Moscow, for the signers and the counterparty.
        deadline = ex.kd.query("SELECT deadline FROM documents WHERE id = ?", v2)[0][0]
        local = datetime.fromisoformat(deadline).astimezone(moscow)
        assert (local.date(), local.hour, local.minute) == (day, 23, 59)
        assert _audit(ex, v1, "document.superseded")[0]["next_id"] == v2
        page_old = ex.page(old_link)
        assert page_old.status_code == 410 and "новую версию" in page_old.text and "<form" not in page_old.text
        _sign_internal(ex, v2, {"Договор №17.pdf": PDF})
        assert ex.state(v2) == "awaiting_counterparty"
        new_link = link_in(ex.invitation(title="Акт сверки", count=2))
        assert ex.page(new_link).status_code == 200
        assert NEWER_SENT in ex.page(old_link).text
