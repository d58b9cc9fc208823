"""``GET /api/v1/jobs/status``: what the pages poll while a batch is being signed — per job its state, the
agent's error, the document's state and the latest CryptoARM run; only the session user's own jobs."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import httpx

from tests.agent.conftest import pdf, sign_request
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People

DEAL = ("deal", 1)


def status(kd: Klikdok, user_id: int, ids: list[int]) -> list[dict[str, Any]]:
    resp = kd.api("GET", "/jobs/status", user_id, params=[("ids", str(i)) for i in ids])
    assert resp.status_code == 200, resp.text
    return resp.json()


def test_job_progress_through_a_cancelled_and_a_completed_cryptoarm_run(kd: Klikdok, people: People) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    docs = [kd.create(MANAGER, DEAL, {f"Счёт {n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"Счёт {n}") for n in (1, 2)]
    jobs = sign_request(kd, DIRECTOR, docs, channel="cryptoarm")
    before = status(kd, DIRECTOR, jobs)
    assert [(j["id"], j["document_id"], j["status"], j["channel"], j["cryptoarm_state"]) for j in before] == [
        (jobs[0], docs[0], "pending", "cryptoarm", ""),
        (jobs[1], docs[1], "pending", "cryptoarm", ""),
    ]
    assert before[0]["title"] == "Счёт 1" and before[0]["document_state_label"] == "На подписи"

    def link() -> str:
        resp = kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": jobs})
        assert resp.status_code == 201, resp.text
        return str(resp.json()["url"])

    first = link()
    assert {j["cryptoarm_state"] for j in status(kd, DIRECTOR, jobs)} == {"open"}
    assert CryptoArmEmulator(cert.cert, cert.key, action="cancel", allow_http=True).follow(first).outcome == "cancelled"
    assert {(j["status"], j["cryptoarm_state"]) for j in status(kd, DIRECTOR, jobs)} == {("pending", "cancelled")}
    # A new run supersedes the cancelled one.
    second = link()
    assert {j["cryptoarm_state"] for j in status(kd, DIRECTOR, jobs)} == {"open"}
    assert CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(second).outcome == "uploaded"
    after = status(kd, DIRECTOR, jobs)
    assert {(j["status"], j["cryptoarm_state"], j["document_state"]) for j in after} == {
        ("done", "completed", "awaiting_counterparty")
    }


def test_only_the_users_own_jobs_and_a_session_is_required(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"a.pdf": pdf()}, signers=[DIRECTOR])
    jobs = sign_request(kd, DIRECTOR, [doc])
    assert status(kd, MANAGER, jobs) == []  # the author cannot watch the signer's job
    assert status(kd, DIRECTOR, []) == []
    assert len(status(kd, DIRECTOR, [*jobs, 999_999])) == 1
    anonymous = httpx.get(f"{kd.url}/api/v1/jobs/status", params={"ids": jobs[0]}, timeout=10)
    assert anonymous.status_code == 401


def in_progress(kd: Klikdok, user_id: int) -> list[tuple[int, str, str]]:
    resp = kd.api("GET", "/jobs/in-progress", user_id)
    assert resp.status_code == 200, resp.text
    return [(j["id"], j["channel"], j["cryptoarm_state"]) for j in resp.json()]


def test_jobs_in_progress_are_what_a_reloaded_page_restores(kd: Klikdok, people: People) -> None:
    """An agent job is in progress while open (an agent picks it up by itself); a CryptoARM job only while a link
    to it is live: once the run is cancelled the document merely waits, as if nobody had started signing it."""
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    docs = [kd.create(MANAGER, DEAL, {f"Акт {n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"Акт {n}") for n in (1, 2, 3)]
    assert in_progress(kd, DIRECTOR) == []
    agent_job = sign_request(kd, DIRECTOR, [docs[0]], channel="agent")[0]
    arm_jobs = sign_request(kd, DIRECTOR, docs[1:], channel="cryptoarm")
    assert in_progress(kd, DIRECTOR) == [(agent_job, "agent", "")]  # no CryptoARM link yet: nothing runs there
    resp = kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": arm_jobs})
    assert resp.status_code == 201, resp.text
    assert in_progress(kd, DIRECTOR) == [
        (agent_job, "agent", ""),
        (arm_jobs[0], "cryptoarm", "open"),
        (arm_jobs[1], "cryptoarm", "open"),
    ]
    rows = kd.api("GET", "/jobs/in-progress", DIRECTOR).json()
    assert [r["title"] for r in rows] == ["Акт 1", "Акт 2", "Акт 3"]
    assert in_progress(kd, MANAGER) == []  # only the session user's own jobs
    run = CryptoArmEmulator(cert.cert, cert.key, action="cancel", allow_http=True).follow(str(resp.json()["url"]))
    assert run.outcome == "cancelled"
    assert in_progress(kd, DIRECTOR) == [(agent_job, "agent", "")]
    assert kd.api("POST", f"/jobs/{agent_job}/cancel", DIRECTOR).status_code == 200
    assert in_progress(kd, DIRECTOR) == []
    anonymous = httpx.get(f"{kd.url}/api/v1/jobs/in-progress", timeout=10)
    assert anonymous.status_code == 401


def test_a_run_whose_results_are_still_being_checked_reads_receiving(kd: Klikdok, people: People) -> None:
    """Between the run's ``completed`` (its results arrived) and the jobs' ``done`` (checked and accepted, a later
    transaction) a poll used to see an open job under a completed run: the page called it «подпись не принята»
    and stopped watching a run that then succeeded (a CI run caught it). Until the outcome is recorded the run
    reads ``receiving``. The window is too short to hit from outside, so the row is put in it as the server's
    finish leaves it."""
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = kd.create(MANAGER, DEAL, {"Счёт.pdf": pdf(7)}, signers=[DIRECTOR], title="Счёт 7")
    jobs = sign_request(kd, DIRECTOR, [doc], channel="cryptoarm")
    assert kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": jobs}).status_code == 201
    with sqlite3.connect(kd.server.data_dir / "klikdok.db", timeout=30) as db:
        db.execute("UPDATE cryptoarm_transactions SET state = 'completed', outcome = ?", [json.dumps({"files": 1})])
    assert [(j["status"], j["cryptoarm_state"]) for j in status(kd, DIRECTOR, jobs)] == [("pending", "receiving")]
    refused = {"accepted": [], "refused": [{"key": f"{jobs[0]}.1", "message": "подпись другого файла"}]}
    with sqlite3.connect(kd.server.data_dir / "klikdok.db", timeout=30) as db:
        db.execute("UPDATE cryptoarm_transactions SET outcome = ?", [json.dumps(refused)])
    [after] = status(kd, DIRECTOR, jobs)
    assert (after["status"], after["cryptoarm_state"], after["cryptoarm_message"]) == (
        "pending",
        "completed",
        "подпись другого файла",
    )
