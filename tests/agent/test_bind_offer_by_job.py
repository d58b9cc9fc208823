"""A signature made through a job (the signing agent, CryptoARM GOST) by a certificate bound to nobody offers to
bind it, as an uploaded .sig's refusal does (issue 14).

The device gets the refusal's message and nothing else: the offer's one-time token goes to the page that waits on
the job (``/jobs/status``), to the job's own user only, once. Accepting it binds the certificate (proof
"signature") and accepts the kept signature for that job: the job ends ``done`` and nobody signs again.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    fake_openssl,
    job_status,
    online,
    openssl_backend,
    pdf,
    sign_request,
    signatures_made,
    signatures_of,
    wait_for,
)
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator


def progress(kd: Klikdok, user_id: int, job: int) -> list[dict[str, Any]]:
    resp = kd.api("GET", f"/jobs/status?ids={job}", user_id)
    assert resp.status_code == 200, resp.text
    rows: list[dict[str, Any]] = resp.json()
    return rows


def accept(kd: Klikdok, user_id: int, token: str):  # type: ignore[no-untyped-def]  # an httpx.Response
    return kd.api("POST", f"/me/certificates/offers/{token}/accept", user_id)


def dump(kd: Klikdok) -> str:
    with kd.db() as db:
        return "\n".join(db.iterdump())


def check_accepting_signs_once(kd: Klikdok, doc: int, job: int, token: str, source: str, files: int = 1) -> None:
    # Another user cannot take it (and their try does not burn it).
    theirs = accept(kd, MANAGER, token)
    assert theirs.status_code == 404 and theirs.json()["error"] == "offer_unknown", theirs.text

    done = accept(kd, DIRECTOR, token)
    assert done.status_code == 200, done.text
    answer = done.json()
    assert answer["certificate"]["status"] == "active", answer
    assert answer["signature"]["step_completed"] is True and "Подпись под документом принята" in answer["message"]
    assert job_status(kd, job) == "done"
    assert [(s[2], s[3]) for s in signatures_of(kd, doc)] == [(source, DIRECTOR)] * files
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_counterparty",)]
    assert kd.query("SELECT user_id, status, proof FROM signer_certificates") == [(DIRECTOR, "active", "signature")]
    assert progress(kd, DIRECTOR, job)[0]["status"] == "done"
    again = accept(kd, DIRECTOR, token)
    assert again.status_code == 409 and again.json()["error"] == "offer_used", again.text


def test_an_agent_signature_by_an_unbound_certificate_offers_binding_on_the_page(  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd: Klikdok, people: People, make_agent, tmp_path: Path
) -> None:
    assert kd.query("SELECT count(*) FROM signer_certificates") == [
        (0,)
    ]  # the director's certificate is bound to nobody
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(41), "Приложение.pdf": pdf(43)}, signers=[DIRECTOR])
    signer = tmp_path / "openssl"
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start(fake_openssl(signer, "slow", 0))  # the real openssl, counting the signatures it makes
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")

    [job] = sign_request(kd, DIRECTOR, [doc], "agent")
    results = "SELECT outcome, code, message FROM agent_results WHERE job_id = ?"
    wait_for(lambda: kd.query(results, job), timeout=30, what="the agent's result")
    [(outcome, code, message)] = kd.query(results, job)
    assert (outcome, code) == ("refused", "wrong_signer"), message
    assert signatures_of(kd, doc) == [] and job_status(kd, job) in ("pending", "delivered")
    # One offer per file, both signatures kept: the page gets one, and accepting it signs both files.
    assert kd.query("SELECT count(*) FROM certificate_offers WHERE job_id = ? AND source = 'agent'", job) == [(2,)]

    # Another user's poll shows nothing of the director's job, and does not take the offer.
    assert progress(kd, MANAGER, job) == []
    [row] = progress(kd, DIRECTOR, job)
    assert row["refusal"].startswith("wrong_signer: ") and message in row["refusal"]
    offer = row["bind_offer"]
    assert offer and offer["token"] and offer["expires_at"]
    assert "Соколов Андрей Викторович" in offer["certificate"] and "СНИЛС 12345678901" in offer["certificate"]
    assert progress(kd, DIRECTOR, job)[0]["bind_offer"] is None  # given once
    token = offer["token"]
    # The device never saw the token: not in what the agent was told, nor in its log; the server keeps its hash only.
    assert token not in message and token not in agent.logs() and "wrong_signer" in agent.logs()
    assert token not in dump(kd) and token not in kd.server.logs()

    check_accepting_signs_once(kd, doc, job, token, "agent", files=2)
    assert signatures_made(signer) == 2  # the agent signed each file once; the kept signatures are the accepted ones
    audited = kd.query("SELECT action, details FROM audit_log WHERE action = 'certificate.registered'")
    assert [(a, json.loads(d)["proof"]) for a, d in audited] == [("certificate.registered", "signature")]


def test_a_cryptoarm_signature_by_an_unbound_certificate_offers_binding_on_the_page(
    kd: Klikdok, people: People
) -> None:
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(42)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc], "cryptoarm")
    opened = kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": [job]})
    assert opened.status_code == 201, opened.text
    run = CryptoArmEmulator(people.certs[DIRECTOR].cert, people.certs[DIRECTOR].key, allow_http=True).follow(
        opened.json()["url"]
    )
    assert run.outcome == "uploaded", run.to_json()
    assert signatures_of(kd, doc) == [] and job_status(kd, job) == "pending"

    [row] = progress(kd, DIRECTOR, job)
    assert row["cryptoarm_state"] == "completed" and row["cryptoarm_message"]
    offer = row["bind_offer"]
    assert offer and "Соколов Андрей Викторович" in offer["certificate"]
    assert offer["token"] not in run.to_json() and offer["token"] not in dump(kd)
    # The signer stopped the job meanwhile: the document still waits for them, so accepting the offer signs it
    # and the job ends done all the same (audited), not left cancelled under a signed document.
    stopped = kd.api("POST", f"/jobs/{job}/cancel", DIRECTOR)
    assert stopped.status_code == 200 and job_status(kd, job) == "cancelled", stopped.text
    check_accepting_signs_once(kd, doc, job, offer["token"], "cryptoarm")
    [(details,)] = kd.query("SELECT details FROM audit_log WHERE action = 'job.done'")
    assert json.loads(details)["job_id"] == job and json.loads(details)["via"] == "certificate_offer"
