"""Согласование before signing and observers (issue 17), over real HTTP against the portal emulator.

The server runs as a subprocess; every action is a portal user's request with their page session; the
notifications are what the emulator received through ``im.notify.system.add`` from the outbox worker.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import httpx

from demo.portal_emulator import PortalEmulator
from tests.support.server import start_server
from tests.workflow.conftest import (
    ACCOUNTANT,
    CHIEF_ACCOUNTANT,
    DIRECTOR,
    GROUP_HEAD,
    MANAGER,
    SALES_HEAD,
    SALES_MANAGER,
    Klikdok,
    People,
    server_env,
    wait_files_on_disk,
    wait_for,
)

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор поставки №25 от 01.12.2026".encode() + b"\n%%EOF\n"


def create(
    kd: Klikdok,
    *,
    approvers: list[int],
    approval: str = "sequential",
    observers: tuple[int, ...] = (),
    signers: tuple[int, ...] = (DIRECTOR,),
    send: bool = True,
) -> int:
    resp = kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        data={
            "title": "Договор поставки",
            "signers": ",".join(map(str, signers)),
            "approvers": ",".join(map(str, approvers)),
            "approval": approval,
            "observers": ",".join(map(str, observers)),
            "send": "1" if send else "0",
        },
        files=[("files", ("Договор №25.pdf", PDF, "application/pdf"))],
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def post(kd: Klikdok, user: int, path: str, body: dict[str, Any] | None = None, key: str | None = None) -> Any:
    return kd.api("POST", path, user, json=body or {}, headers={"Idempotency-Key": key or uuid.uuid4().hex})


def state_of(kd: Klikdok, doc_id: int) -> str:
    return str(kd.query("SELECT state FROM documents WHERE id = ?", doc_id)[0][0])


def notes_for(kd: Klikdok, user: int, text: str) -> list[dict[str, Any]]:
    return [n for n in kd.emu.state.notifications if n["USER_ID"] == user and text in n["MESSAGE"]]


def actions(kd: Klikdok, doc_id: int) -> list[str]:
    return [r[0] for r in kd.query("SELECT action FROM audit_log WHERE object_id = ? ORDER BY id", str(doc_id))]


def queue(kd: Klikdok, user: int, view: str) -> list[int]:
    resp = kd.api("GET", f"/documents?view={view}", user)
    assert resp.status_code == 200, resp.text
    return [d["id"] for d in resp.json()["items"]]


def test_sequential_approval_then_the_signers_route(kd: Klikdok) -> None:
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT, SALES_HEAD])
    assert state_of(kd, doc) == "in_approval"
    detail = kd.api("GET", f"/documents/{doc}", CHIEF_ACCOUNTANT).json()
    assert detail["document"]["state_label"] == "На согласовании"
    assert {"approve", "return"} <= set(detail["can"])
    assert [(s["user_id"], s["state"]) for s in detail["approval"]["steps"]] == [
        (CHIEF_ACCOUNTANT, "current"),
        (SALES_HEAD, "waiting"),
    ]
    # The first approver is told; the second one not yet, and the signer not at all.
    wait_for(lambda: notes_for(kd, CHIEF_ACCOUNTANT, "ждёт вашего согласования"), what="first approver told")
    assert not notes_for(kd, SALES_HEAD, "согласования") and not notes_for(kd, DIRECTOR, "подписи")
    assert queue(kd, CHIEF_ACCOUNTANT, "approvals") == [doc] and queue(kd, SALES_HEAD, "approvals") == []
    # Not her turn yet: 403 (audited), and nothing changes.
    early = post(kd, SALES_HEAD, f"/documents/{doc}/approve")
    assert early.status_code == 403 and early.json()["error"] == "not_current_approver", early.text
    assert "approve" not in kd.api("GET", f"/documents/{doc}", SALES_HEAD).json()["can"]

    key = uuid.uuid4().hex
    first = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve", key=key)
    assert first.status_code == 200, first.text
    # The same click again (same key) is the same answer, replayed; a new click is refused: approved already.
    again = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve", key=key)
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    twice = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve")
    assert twice.status_code == 409 and twice.json()["error"] == "already_approved", twice.text
    assert state_of(kd, doc) == "in_approval"
    wait_for(lambda: notes_for(kd, SALES_HEAD, "ждёт вашего согласования"), what="second approver told")
    assert not notes_for(kd, DIRECTOR, "ждёт вашей подписи")

    assert post(kd, SALES_HEAD, f"/documents/{doc}/approve").status_code == 200
    assert state_of(kd, doc) == "awaiting_internal"
    wait_for(lambda: notes_for(kd, DIRECTOR, "ждёт вашей подписи"), what="the signer told after approval")
    wait_for(lambda: notes_for(kd, MANAGER, "согласован и отправлен на подпись"), what="the author told")
    assert queue(kd, DIRECTOR, "queue") == [doc]
    assert kd.query("SELECT state FROM route_steps WHERE document_id = ? ORDER BY position", doc) == [
        ("current",),
        ("waiting",),
    ]
    audit = actions(kd, doc)
    assert audit.count("document.approved") == 2 and audit.count("access.denied") == 1
    assert audit.index("document.approval_requested") < audit.index("document.approval_completed")
    assert audit.index("document.approval_completed") < audit.index("document.sent")
    # Each approval is a timeline comment on the deal, like the other transitions.
    comments = wait_for(
        lambda: (
            [c for c in kd.emu.state.timeline_comments if "согласован" in c["COMMENT"] and c["ENTITY_ID"] == DEAL[1]]
            if len([c for c in kd.emu.state.timeline_comments if "согласован —" in c["COMMENT"]]) == 2
            else []
        ),
        what="timeline comments of both approvals",
    )
    assert any("отправлен на согласование (по очереди)" in c["COMMENT"] for c in comments)


def test_parallel_both_asked_at_once_and_the_route_starts_after_the_last(kd: Klikdok) -> None:
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT, SALES_HEAD], approval="parallel")
    wait_for(
        lambda: notes_for(kd, CHIEF_ACCOUNTANT, "согласования") and notes_for(kd, SALES_HEAD, "согласования"),
        what="both approvers told at once",
    )
    assert post(kd, SALES_HEAD, f"/documents/{doc}/approve").status_code == 200
    assert state_of(kd, doc) == "in_approval"
    assert post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve").status_code == 200
    assert state_of(kd, doc) == "awaiting_internal"
    wait_for(lambda: notes_for(kd, DIRECTOR, "ждёт вашей подписи"), what="the signer told")
    # A stranger (not author, approver, signer, head or auditor) neither sees nor approves.
    stranger = post(kd, SALES_MANAGER, f"/documents/{doc}/approve")
    assert stranger.status_code == 403, stranger.text
    denied = kd.query("SELECT actor, details FROM audit_log WHERE action = 'access.denied' ORDER BY id")
    assert denied and json.loads(denied[-1][1])["action"] == "approve"


def test_a_return_with_comment_goes_back_to_the_author_who_sends_again(kd: Klikdok) -> None:
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT, SALES_HEAD], approval="parallel", observers=[GROUP_HEAD])
    no_comment = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/return", {"comment": "  "})
    assert no_comment.status_code == 400 and no_comment.json()["error"] == "reason_required"
    stranger = post(kd, SALES_MANAGER, f"/documents/{doc}/return", {"comment": "нет"})
    assert stranger.status_code == 403
    observer = post(kd, GROUP_HEAD, f"/documents/{doc}/return", {"comment": "нет"})
    assert observer.status_code == 403 and observer.json()["error"] == "not_approver"
    assert state_of(kd, doc) == "in_approval"

    back = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/return", {"comment": "Исправьте сумму в п. 3"})
    assert back.status_code == 200, back.text
    assert state_of(kd, doc) == "returned"
    note = wait_for(lambda: notes_for(kd, MANAGER, "возвращён на доработку"), what="the author told")
    assert "Исправьте сумму в п. 3" in note[0]["MESSAGE"]
    detail = kd.api("GET", f"/documents/{doc}", MANAGER).json()
    assert detail["document"]["state_label"] == "На доработке"
    assert detail["approval"]["returned_comment"] == "Исправьте сумму в п. 3"
    assert {"route", "send", "withdraw"} <= set(detail["can"])
    # The other approver's open step is closed: she can no longer approve this round.
    late = post(kd, SALES_HEAD, f"/documents/{doc}/approve")
    assert late.status_code == 409 and late.json()["error"] == "wrong_state"

    # The author changes the route (another signer, one approver fewer) and sends again: a new round.
    route = kd.api(
        "PUT",
        f"/documents/{doc}/route",
        MANAGER,
        json={"signers": [CHIEF_ACCOUNTANT], "approvers": [SALES_HEAD], "approval": "sequential"},
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert route.status_code == 200, route.text
    # The author's panel shows the round that came back and who will approve next time (round 0, the plan).
    planned = kd.api("GET", f"/documents/{doc}", MANAGER).json()["approval"]["steps"]
    assert [(s["round"], s["user_id"], s["state"]) for s in planned] == [
        (1, CHIEF_ACCOUNTANT, "sent_back"),
        (1, SALES_HEAD, "cancelled"),
        (0, SALES_HEAD, "waiting"),
    ]
    assert post(kd, MANAGER, f"/documents/{doc}/send").status_code == 200
    assert state_of(kd, doc) == "in_approval"
    detail = kd.api("GET", f"/documents/{doc}", SALES_HEAD).json()
    assert detail["approval"]["round"] == 2 and detail["approval"]["returned_comment"] == ""
    # The first round stays in the history, with its comment.
    assert [(s["round"], s["user_id"], s["state"]) for s in detail["approval"]["steps"]] == [
        (1, CHIEF_ACCOUNTANT, "sent_back"),
        (1, SALES_HEAD, "cancelled"),
        (2, SALES_HEAD, "current"),
    ]
    assert post(kd, SALES_HEAD, f"/documents/{doc}/approve").status_code == 200
    assert state_of(kd, doc) == "awaiting_internal"
    assert queue(kd, CHIEF_ACCOUNTANT, "queue") == [doc]
    audit = actions(kd, doc)
    assert audit.count("document.approval_requested") == 2 and audit.count("document.returned") == 1
    assert "document.approval_set" in audit


def test_observers_are_told_of_the_outcome_only_and_read_without_acting(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = create(kd, approvers=[], observers=[GROUP_HEAD, ACCOUNTANT], signers=[DIRECTOR])
    # No approvers: sent straight to the signer, as before.
    assert state_of(kd, doc) == "awaiting_internal"
    seen = kd.api("GET", f"/documents/{doc}", GROUP_HEAD)
    assert seen.status_code == 200, seen.text
    assert seen.json()["can"] == ["download"]
    assert [p["user_id"] for p in seen.json()["approval"]["observers"]] == [GROUP_HEAD, ACCOUNTANT]
    assert post(kd, GROUP_HEAD, f"/documents/{doc}/withdraw", {"reason": "x"}).status_code == 403
    assert post(kd, GROUP_HEAD, f"/documents/{doc}/reject", {"reason": "x"}).status_code == 403
    # The internal signature: observers are not told of steps.
    file_id = seen.json()["files"][0]["id"]
    signed = kd.api(
        "POST", f"/documents/{doc}/files/{file_id}/signatures", DIRECTOR, content=people.sign(DIRECTOR, PDF)
    )
    assert signed.status_code == 201, signed.text
    assert state_of(kd, doc) == "awaiting_counterparty"
    wait_for(lambda: notes_for(kd, MANAGER, "ждёт подписи контрагента"), what="the author told")
    assert not [n for n in kd.emu.state.notifications if n["USER_ID"] == GROUP_HEAD]

    # Another document is rejected by its signer: the observers hear of it.
    other = create(kd, approvers=[], observers=[GROUP_HEAD], signers=[DIRECTOR])
    assert post(kd, DIRECTOR, f"/documents/{other}/reject", {"reason": "Не та редакция"}).status_code == 200
    note = wait_for(lambda: notes_for(kd, GROUP_HEAD, "отклонён"), what="observer told of the rejection")
    assert "Не та редакция" in note[0]["MESSAGE"] and len(note) == 1
    assert not notes_for(kd, GROUP_HEAD, "ждёт")


def test_a_draft_with_approvers_is_the_authors_alone_and_withdrawal_closes_the_approval(kd: Klikdok) -> None:
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT], observers=[GROUP_HEAD], send=False)
    assert state_of(kd, doc) == "draft"
    assert kd.api("GET", f"/documents/{doc}", CHIEF_ACCOUNTANT).status_code == 403
    assert kd.api("GET", f"/documents/{doc}", GROUP_HEAD).status_code == 403
    draft = kd.api("GET", f"/documents/{doc}", MANAGER).json()
    assert [(s["round"], s["user_id"]) for s in draft["approval"]["steps"]] == [(0, CHIEF_ACCOUNTANT)]
    assert draft["approval"]["mode_label"] == "по очереди" and "send" in draft["can"]
    assert post(kd, MANAGER, f"/documents/{doc}/send").status_code == 200
    assert state_of(kd, doc) == "in_approval"
    assert kd.api("GET", f"/documents/{doc}", GROUP_HEAD).status_code == 200
    assert post(kd, MANAGER, f"/documents/{doc}/withdraw", {"reason": "передумали"}).status_code == 200
    assert kd.query("SELECT state FROM approval_steps WHERE document_id = ? AND round = 1", doc) == [("cancelled",)]
    assert post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve").status_code == 409
    assert queue(kd, CHIEF_ACCOUNTANT, "approvals") == []


def test_killed_inside_the_last_approval_leaves_no_trace_and_it_runs_once_after_restart(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    """One transition, one transaction: SIGKILL after the last approval wrote its step, audit rows, the new state,
    the signer's notification and the timeline comment, before the commit. None of them may survive."""
    data = tmp_path / "data"
    env = server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url)
    first = start_server(data, env={**env, "KLIKDOK_TEST_CRASH_AT": "approval.last_approved"})
    kd = Klikdok(first, own_emulator)
    try:
        kd.install()
        doc = create(kd, approvers=[CHIEF_ACCOUNTANT])
        before = kd.query("SELECT count(*) FROM audit_log"), kd.query("SELECT count(*) FROM outbox")
        try:
            post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve")
        except httpx.HTTPError:
            pass  # the server died mid-request, as intended
        else:
            raise AssertionError("the crash point was not reached")
        assert first.proc.wait(15) != 0
    finally:
        first.stop()
    assert state_of(kd, doc) == "in_approval"
    assert kd.query("SELECT state FROM approval_steps WHERE document_id = ? AND round = 1", doc) == [("current",)]
    assert (kd.query("SELECT count(*) FROM audit_log"), kd.query("SELECT count(*) FROM outbox")) == before

    second = start_server(data, env=env)
    kd.server = second
    try:
        assert post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve").status_code == 200
        assert state_of(kd, doc) == "awaiting_internal"
        wait_for(lambda: notes_for(kd, DIRECTOR, "ждёт вашей подписи"), what="the signer told after restart")
        assert actions(kd, doc).count("document.approved") == 1
        assert len(notes_for(kd, DIRECTOR, "ждёт вашей подписи")) == 1
    finally:
        second.stop()


def test_a_returned_document_is_corrected_as_a_new_version_that_goes_through_approval_again(kd: Klikdok) -> None:
    """The approver's «Вернуть на доработку» asks for other text: the author attaches the corrected file as
    version 2, which goes to the same approvers (same order) with the same observers; version 1 is withdrawn in
    its favour and cannot be versioned again."""
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT, SALES_HEAD], observers=[GROUP_HEAD])
    back = post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/return", {"comment": "Исправьте сумму в п. 3"})
    assert back.status_code == 200, back.text
    assert "new_version" in kd.api("GET", f"/documents/{doc}", MANAGER).json()["can"]
    assert "new_version" not in kd.api("GET", f"/documents/{doc}", CHIEF_ACCOUNTANT).json()["can"]

    fixed = b"%PDF-1.7\n" + "Договор поставки №25: сумма в п. 3 исправлена".encode() + b"\n%%EOF\n"
    made = kd.api(
        "POST",
        f"/documents/{doc}/versions",
        MANAGER,
        files=[("files", ("Договор №25 (испр.).pdf", fixed, "application/pdf"))],
        headers={"Idempotency-Key": uuid.uuid4().hex},
    )
    assert made.status_code == 201, made.text
    v2 = int(made.json()["id"])
    assert made.json()["version"] == 2
    assert state_of(kd, doc) == "withdrawn"
    assert kd.query("SELECT reason FROM documents WHERE id = ?", doc) == [("Заменён версией 2.",)]
    assert kd.query("SELECT name FROM document_files WHERE document_id = ?", v2) == [("Договор №25 (испр.).pdf",)]
    assert state_of(kd, v2) == "in_approval"
    steps = kd.api("GET", f"/documents/{v2}", CHIEF_ACCOUNTANT).json()["approval"]["steps"]
    assert [(s["round"], s["user_id"], s["state"]) for s in steps if s["round"] == 1] == [
        (1, CHIEF_ACCOUNTANT, "current"),
        (1, SALES_HEAD, "waiting"),
    ]
    assert kd.query("SELECT user_id FROM document_observers WHERE document_id = ?", v2) == [(GROUP_HEAD,)]
    wait_for(lambda: len(notes_for(kd, CHIEF_ACCOUNTANT, "ждёт вашего согласования")) == 2, what="asked again for v2")
    assert post(kd, CHIEF_ACCOUNTANT, f"/documents/{v2}/approve").status_code == 200
    assert post(kd, SALES_HEAD, f"/documents/{v2}/approve").status_code == 200
    assert state_of(kd, v2) == "awaiting_internal"
    assert queue(kd, DIRECTOR, "queue") == [v2]

    again = kd.api(
        "POST", f"/documents/{doc}/versions", MANAGER, json={}, headers={"Idempotency-Key": uuid.uuid4().hex}
    )
    assert again.status_code == 409 and again.json()["error"] == "has_newer_version", again.text
    audit = actions(kd, doc)
    assert audit.index("document.returned") < audit.index("document.superseded")
    assert "document.withdrawn" in audit


def test_a_rejected_document_with_approvers_goes_through_approval_in_its_new_version(kd: Klikdok) -> None:
    doc = create(kd, approvers=[SALES_HEAD], approval="parallel")
    assert post(kd, SALES_HEAD, f"/documents/{doc}/approve").status_code == 200
    rejected = kd.api("POST", f"/documents/{doc}/reject", DIRECTOR, json={"reason": "Не тот контрагент"})
    assert rejected.status_code == 200, rejected.text
    wait_files_on_disk(kd, doc)  # without new files the version reuses the old ones from Disk
    made = kd.api("POST", f"/documents/{doc}/versions", MANAGER, json={}, headers={"Idempotency-Key": uuid.uuid4().hex})
    assert made.status_code == 201, made.text
    v2 = int(made.json()["id"])
    assert state_of(kd, doc) == "rejected_internal"  # final already: it stays as it was
    assert state_of(kd, v2) == "in_approval"
    assert kd.api("GET", f"/documents/{v2}", SALES_HEAD).json()["approval"]["mode"] == "parallel"


def test_my_documents_count_the_approvals(kd: Klikdok) -> None:
    """«Мои документы»: «Ждут меня» has what waits for my approval as well as my signature, and «Все мои» has what
    I approve or observe."""
    doc = create(kd, approvers=[CHIEF_ACCOUNTANT, SALES_HEAD], observers=[GROUP_HEAD])

    def mine(user: int, role: str = "") -> list[int]:
        resp = kd.api("GET", f"/documents?view=mine&role={role}", user)
        assert resp.status_code == 200, resp.text
        return [d["id"] for d in resp.json()["items"]]

    assert mine(CHIEF_ACCOUNTANT, "waiting") == [doc]
    assert mine(SALES_HEAD, "waiting") == []  # her turn comes after the chief accountant's
    assert mine(CHIEF_ACCOUNTANT) == mine(SALES_HEAD) == mine(GROUP_HEAD) == [doc]
    assert mine(SALES_MANAGER) == []
    assert post(kd, CHIEF_ACCOUNTANT, f"/documents/{doc}/approve").status_code == 200
    assert mine(CHIEF_ACCOUNTANT, "waiting") == [] and mine(SALES_HEAD, "waiting") == [doc]
    assert post(kd, SALES_HEAD, f"/documents/{doc}/approve").status_code == 200
    assert mine(SALES_HEAD, "waiting") == [] and mine(DIRECTOR, "waiting") == [doc]
    assert mine(CHIEF_ACCOUNTANT) == [doc]  # approved: still one of mine
