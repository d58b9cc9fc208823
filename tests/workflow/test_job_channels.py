"""Which channel signs a job, over real HTTP with the CryptoARM GOST emulator: a waiting job moves to the channel
the signer asks for next; one the app is signing right now is refused with ``job_in_flight`` and says where;
the signer cancels their own job (nobody else may), and a live CryptoARM transaction for it stops working."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx

from tests.agent.conftest import pdf, sign_request
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator, parse_link
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People

DEAL = ("deal", 1)


def request(kd: Klikdok, doc: int, channel: str) -> httpx.Response:
    return kd.api("POST", "/documents/sign-request", DIRECTOR, json={"document_ids": [doc], "channel": channel})


def link_for(kd: Klikdok, job: int) -> str:
    resp = kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": [job]})
    assert resp.status_code == 201, resp.text
    return str(resp.json()["url"])


def jobs_of(kd: Klikdok, doc: int) -> list[tuple[Any, ...]]:
    return kd.query("SELECT id, channel, status, error FROM jobs WHERE document_id = ? ORDER BY id", doc)


def audit_rows(kd: Klikdok, action: str) -> list[dict[str, Any]]:
    return [json.loads(d) for (d,) in kd.query("SELECT details FROM audit_log WHERE action = ? ORDER BY id", action)]


def test_a_waiting_job_moves_to_the_channel_asked_for(kd: Klikdok, people: People) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(1)}, signers=[DIRECTOR], title="Договор аренды")
    [first] = sign_request(kd, DIRECTOR, [doc], channel="cryptoarm")
    stale_link = link_for(kd, first)  # the page minted a link, but CryptoARM never came
    assert request(kd, doc, "cryptoarm").json()[0]["id"] == first  # the same channel: the same job
    assert request(kd, doc, "any").json()[0]["id"] == first  # "any" takes it wherever it is

    moved = request(kd, doc, "agent")
    assert moved.status_code == 200, moved.text
    [job] = moved.json()
    assert job["id"] != first and job["channel"] == "agent" and job["status"] == "pending"
    assert jobs_of(kd, doc) == [(first, "cryptoarm", "cancelled", "moved: agent"), (job["id"], "agent", "pending", "")]
    [audit] = audit_rows(kd, "job.moved")
    assert audit == {
        "job_id": job["id"],
        "from_job_id": first,
        "from": "cryptoarm",
        "to": "agent",
        "text": "подписание передано агенту подписи",
    }
    assert kd.query("SELECT actor, object_id FROM audit_log WHERE action = 'job.moved'") == [
        (f"user:{DIRECTOR}", str(doc))
    ]

    # The old link now opens nothing: the job it was minted for is closed.
    late = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(stale_link)
    assert late.outcome.startswith("refused:parameters") and "jobs_not_open" in late.outcome, late.outcome
    # And back again: still waiting (no agent took it), so it moves to CryptoARM and signs there.
    [back] = request(kd, doc, "cryptoarm").json()
    assert back["channel"] == "cryptoarm" and back["id"] not in (first, job["id"])
    run = CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link_for(kd, back["id"]))
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    assert kd.query("SELECT source FROM signatures WHERE document_id = ?", doc) == [("cryptoarm",)]
    assert [r["to"] for r in audit_rows(kd, "job.moved")] == ["agent", "cryptoarm"]


def test_a_job_open_in_cryptoarm_is_refused_elsewhere_and_the_signer_cancels_it(kd: Klikdok, people: People) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = kd.create(MANAGER, DEAL, {"Акт.pdf": pdf(2)}, signers=[DIRECTOR], title="Акт сверки")
    [job] = sign_request(kd, DIRECTOR, [doc], channel="cryptoarm")
    link = link_for(kd, job)
    # The app fetched the parameters and the signer is choosing a certificate (the window is still open).
    opened = CryptoArmEmulator(cert.cert, cert.key, action="close", allow_http=True).follow(link)
    assert opened.outcome == "closed", opened.to_json()
    props = next(e for e in opened.exchanges if e.request == "signAndEncrypt.parameters").response["result"]["props"]

    busy = request(kd, doc, "agent")
    assert busy.status_code == 409, busy.text
    body = busy.json()
    assert {k: body[k] for k in ("error", "in_flight", "job_id", "document_id")} == {
        "error": "job_in_flight",
        "in_flight": "cryptoarm",
        "job_id": job,
        "document_id": doc,
    }
    assert body["message"].startswith("Документ «Акт сверки» уже открыт для подписи в КриптоАРМ ГОСТ.")
    assert jobs_of(kd, doc) == [(job, "cryptoarm", "pending", "")] and audit_rows(kd, "job.moved") == []
    assert request(kd, doc, "any").json()[0]["id"] == job

    # Only the signer may cancel: the author gets 403, audited against the job.
    foreign = kd.api("POST", f"/jobs/{job}/cancel", MANAGER)
    assert foreign.status_code == 403 and foreign.json()["error"] == "not_job_signer", foreign.text
    denied = kd.query("SELECT actor, object_type, object_id, details FROM audit_log WHERE action = 'access.denied'")
    assert [(*row[:3], json.loads(row[3])) for row in denied] == [
        (f"user:{MANAGER}", "job", str(job), {"action": "cancel-job", "code": "not_job_signer"})
    ]
    assert jobs_of(kd, doc)[0][2] == "pending"
    assert kd.api("POST", "/jobs/999999/cancel", DIRECTOR).status_code == 404

    cancelled = kd.api("POST", f"/jobs/{job}/cancel", DIRECTOR)
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["id"] == job and cancelled.json()["status"] == "cancelled"
    assert audit_rows(kd, "job.cancelled") == [{"job_id": job, "channel": "cryptoarm", "in_flight": "cryptoarm"}]
    # The document keeps waiting for the same signer.
    detail = kd.api("GET", f"/documents/{doc}", DIRECTOR).json()
    assert detail["document"]["state"] == "awaiting_internal"
    assert detail["document"]["current_signer_id"] == DIRECTOR and "sign" in detail["can"]
    assert kd.api("POST", f"/jobs/{job}/cancel", DIRECTOR).status_code == 200  # again: nothing more happens
    assert len(audit_rows(kd, "job.cancelled")) == 1

    # The transaction the app still holds is dead for this job: no file, and its signature is refused.
    file_url = props["files"][0]["url"]
    assert httpx.get(f"{file_url}?accessToken={props['extra']['token']}", timeout=10).status_code == 404
    cms = people.sign(DIRECTOR, pdf(2))
    _, url, txn = parse_link(link, allow_http=True)
    posted = httpx.post(
        url,
        headers={"Content-Type": "application/json"},
        timeout=30,
        content=json.dumps(
            {
                "jsonrpc": "2.0",
                "method": "signAndEncrypt.outDirectResults",
                "params": {
                    "id": txn,
                    "directResults": [{"id": props["files"][0]["id"], "out": base64.b64encode(cms).decode()}],
                },
            }
        ),
    )
    error = posted.json()["error"]["data"]
    assert error["code"] == "signature_refused" and error["refused"][0]["code"] == "job_not_open", error
    assert kd.query("SELECT count(*) FROM signatures WHERE document_id = ?", doc) == [(0,)]
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]

    # Signing is asked for again, now through the agent: a new job, nothing in the way.
    again = request(kd, doc, "agent")
    assert again.status_code == 200 and again.json()[0]["id"] != job and again.json()[0]["channel"] == "agent"
    closed = kd.api("POST", f"/jobs/{job}/cancel", MANAGER)
    assert closed.status_code == 403  # a closed job is still not someone else's to touch


def test_a_signed_job_cannot_be_cancelled(kd: Klikdok, people: People) -> None:
    cert = people.certs[DIRECTOR]
    kd.register_cert(DIRECTOR, cert)
    doc = kd.create(MANAGER, DEAL, {"Счёт.pdf": pdf(3)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc], channel="cryptoarm")
    assert CryptoArmEmulator(cert.cert, cert.key, allow_http=True).follow(link_for(kd, job)).outcome == "uploaded"
    refused = kd.api("POST", f"/jobs/{job}/cancel", DIRECTOR)
    assert refused.status_code == 409 and refused.json()["error"] == "job_closed", refused.text
    assert "уже подписан" in refused.json()["message"]
    assert audit_rows(kd, "job.cancelled") == []
