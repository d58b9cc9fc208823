"""CryptoARM GOST: the agent opens the link, the emulator follows it as the app does, the server accepts.

The endpoint runs over plain HTTP on loopback here (the real app insists on HTTPS; the emulator allows http
only with ``allow_http``, for tests). Protocol-level checks (replay, foreign ids, expiry, JSON-RPC errors)
talk to the endpoint directly.
"""

from __future__ import annotations

import json
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    job_status,
    online,
    pdf,
    sign_request,
    signatures_of,
    wait_for,
)
from tests.fakes.cryptoarm_emulator import CryptoArmEmulator, LinkError, parse_link
from tests.support.openssl_pki import Issued


def opener(cert: Issued, log: Path, *extra: str) -> str:
    return " ".join(
        [
            sys.executable,
            "-m",
            "tests.fakes.cryptoarm_emulator",
            "--cert",
            str(cert.cert),
            "--key",
            str(cert.key),
            "--allow-http",
            "--log",
            str(log),
            *extra,
        ]
    )


def runs(log: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def rpc(kd: Klikdok, txn: str, payload: dict[str, Any], *, query: bool = True) -> httpx.Response:
    url = f"{kd.url}/cryptoarm/json" + (f"?id={txn}" if query else "")
    return httpx.post(url, content=json.dumps(payload), headers={"Content-Type": "application/json"}, timeout=30)


def open_link(kd: Klikdok, user_id: int, job_ids: list[int]) -> tuple[str, str]:
    resp = kd.api("POST", "/cryptoarm/transactions", user_id, json={"job_ids": job_ids})
    assert resp.status_code == 201, resp.text
    link = resp.json()["url"]
    _, _, txn = parse_link(link, allow_http=True)
    return link, txn


@pytest.mark.parametrize("encoding", ["der", "pem"])
def test_agent_with_cryptoarm_backend_signs_a_batch_in_one_run(
    kd: Klikdok,
    people: People,
    make_agent,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    tmp_path: Path,
    encoding: str,
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    docs = [
        kd.create(MANAGER, DEAL, {f"Договор №{n}.pdf": pdf(n)}, signers=[DIRECTOR], title=f"Договор {n}")
        for n in range(3)
    ]
    log = tmp_path / "cryptoarm-runs.jsonl"
    agent = make_agent()
    agent.write_config(
        {
            "kind": "cryptoarm",
            "timeout_seconds": 60,
            "link_opener": opener(people.certs[DIRECTOR], log, "--encoding", encoding),
        }
    )
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    jobs = sign_request(kd, DIRECTOR, docs)
    wait_for(lambda: all(job_status(kd, j) == "done" for j in jobs), timeout=60, what="all jobs done")
    for doc in docs:
        assert [s[2] for s in signatures_of(kd, doc)] == ["cryptoarm"]
    # The emulator writes its run log after the server has taken the results: wait for it too.
    wait_for(lambda: sum(len(r["files"]) for r in runs(log)) >= 3, timeout=30, what="the app's run log")
    done_runs = runs(log)
    # Several documents, one prompt: the whole batch was one CryptoARM run (the jobs may arrive in two offers).
    assert 1 <= len(done_runs) <= 2 and sum(len(r["files"]) for r in done_runs) == 3
    assert all(r["outcome"] == "uploaded" and r["upload_status"] == 204 for r in done_runs)
    methods = [e["request"] for e in done_runs[0]["exchanges"] if e["method"] == "POST"]
    assert methods == ["signAndEncrypt.parameters", "signAndEncrypt.outDirectResults"]
    assert done_runs[0]["exchanges"][0] == {
        "method": "GET",
        "url": kd.url + "/",
        "status": 200,
        "request": None,
        "response": None,
    }
    states = kd.query("SELECT state FROM cryptoarm_transactions")
    assert states and {s[0] for s in states} == {"completed"}
    assert "waiting for the signer" in agent.logs()


def test_cancel_in_cryptoarm_leaves_the_job_pending_and_says_so(
    kd: Klikdok,
    people: People,
    make_agent,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    tmp_path: Path,
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(7)}, signers=[DIRECTOR])
    log = tmp_path / "runs.jsonl"
    agent = make_agent()
    agent.write_config({"kind": "cryptoarm", "link_opener": opener(people.certs[DIRECTOR], log, "--action", "cancel")})
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc])
    wait_for(lambda: kd.query("SELECT state FROM cryptoarm_transactions") == [("cancelled",)], what="cancelled")
    wait_for(lambda: "ended without a signature: cancelled_in_app" in agent.logs(), what="agent says so")
    time.sleep(1.5)  # a few dispatcher rounds: the declined job is not pushed back to the same agent
    assert job_status(kd, job) in ("pending", "delivered")
    assert signatures_of(kd, doc) == []
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert len(runs(log)) == 1 and runs(log)[0]["outcome"] == "cancelled"
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions") == [(1,)]
    # The page can start it again (a new transaction); this time the signer signs in the app.
    link, _ = open_link(kd, DIRECTOR, [job])
    run = CryptoArmEmulator(people.certs[DIRECTOR].cert, people.certs[DIRECTOR].key, allow_http=True).follow(link)
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    assert job_status(kd, job) == "done"


def test_replayed_foreign_and_expired_transactions_are_refused(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(9)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    link, txn = open_link(kd, DIRECTOR, [job])
    assert link.startswith(f"cryptoarm://signAndEncrypt/{kd.url}/cryptoarm/json?id=")
    # The id in the link is stored only as a hash.
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions WHERE txn_hash = ?", txn) == [(0,)]

    emu = CryptoArmEmulator(people.certs[DIRECTOR].cert, people.certs[DIRECTOR].key, allow_http=True)
    first = emu.follow(link)
    assert first.outcome == "uploaded" and first.upload_status == 204, first.to_json()
    params = next(e for e in first.exchanges if e.request == "signAndEncrypt.parameters").response
    props = params["result"]["props"]
    assert props["extra"]["signType"] == 1 and props["uploader"] == f"{kd.url}/cryptoarm/json?id={txn}"
    assert params["result"]["operation"] == ["SIGN"] and params["id"] == txn

    # Replays: the same link again, the parameters call again, the results again, a file download again.
    again = emu.follow(link)
    assert again.outcome.startswith("refused:parameters") and "transaction_used" in again.outcome
    replay = rpc(kd, txn, {"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": txn})
    assert replay.status_code == 200 and replay.json()["error"]["code"] == -32602
    assert replay.json()["error"]["data"]["code"] == "transaction_used"
    results = rpc(
        kd,
        txn,
        {
            "jsonrpc": "2.0",
            "method": "signAndEncrypt.outDirectResults",
            "params": {"id": txn, "directResults": [{"id": "x", "out": "AA=="}]},
        },
    )
    assert results.json()["error"]["data"]["code"] == "transaction_used"
    file_url = props["files"][0]["url"]
    assert httpx.get(f"{file_url}?accessToken={props['extra']['token']}").status_code == 404
    assert len(signatures_of(kd, doc)) == 1

    # A foreign (made-up) id, and one that expired.
    foreign = rpc(kd, secrets.token_urlsafe(32), {"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": "x"})
    assert foreign.json()["error"]["data"]["code"] == "unknown_transaction"
    doc2 = kd.create(MANAGER, DEAL, {"Договор 2.pdf": pdf(10)}, signers=[DIRECTOR])
    [job2] = sign_request(kd, DIRECTOR, [doc2])
    link2, txn2 = open_link(kd, DIRECTOR, [job2])
    import sqlite3

    with sqlite3.connect(kd.server.data_dir / "klikdok.db") as conn:
        conn.execute("UPDATE cryptoarm_transactions SET expires_at = '2000-01-01T00:00:00+00:00' WHERE state = 'open'")
    expired = emu.follow(link2)
    assert "transaction_expired" in expired.outcome
    assert job_status(kd, job2) == "pending"


def test_cancel_or_results_before_parameters_say_the_transaction_has_not_started(kd: Klikdok, people: People) -> None:
    """An out-of-order call is not a replay: the transaction was never used, and the answer says so."""
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(13)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    link, txn = open_link(kd, DIRECTOR, [job])
    cancel = rpc(
        kd,
        txn,
        {"jsonrpc": "2.0", "method": "signAndEncrypt.outDirectResults", "params": {"id": txn, "status": "Canceled"}},
    )
    assert cancel.status_code == 200 and cancel.json()["error"]["code"] == -32602
    error = cancel.json()["error"]
    assert error["data"]["code"] == "transaction_not_started", error
    assert "не начата" in error["message"] and "использована" not in error["message"]
    early = rpc(
        kd,
        txn,
        {
            "jsonrpc": "2.0",
            "method": "signAndEncrypt.outDirectResults",
            "params": {"id": txn, "directResults": [{"id": "x", "out": "AA=="}]},
        },
    )
    assert early.json()["error"]["data"]["code"] == "transaction_not_started"
    # Nothing was spent: the link still works from the start, and the job is still waiting.
    assert kd.query("SELECT state FROM cryptoarm_transactions") == [("open",)]
    assert job_status(kd, job) in ("pending", "delivered")
    run = CryptoArmEmulator(people.certs[DIRECTOR].cert, people.certs[DIRECTOR].key, allow_http=True).follow(link)
    assert run.outcome == "uploaded" and run.upload_status == 204, run.to_json()
    assert job_status(kd, job) == "done"


def test_transactions_only_for_the_signers_own_open_jobs(kd: Klikdok, people: People) -> None:
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(11)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    other = kd.api("POST", "/cryptoarm/transactions", MANAGER, json={"job_ids": [job]})
    assert other.status_code == 400
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions") == [(0,)]


def test_wrong_signer_in_cryptoarm_is_refused_and_the_job_stays_open(kd: Klikdok, people: People) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(12)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    link, _ = open_link(kd, DIRECTOR, [job])
    # Somebody else's certificate at the director's machine.
    run = CryptoArmEmulator(people.certs[MANAGER].cert, people.certs[MANAGER].key, allow_http=True).follow(link)
    assert run.outcome == "uploaded" and run.upload_status == 200
    assert run.upload_body["error"]["data"]["code"] == "signature_refused"
    assert run.upload_body["error"]["data"]["refused"][0]["code"] == "wrong_signer"
    assert job_status(kd, job) in ("pending", "delivered") and signatures_of(kd, doc) == []


def test_json_rpc_errors_and_origin_root(kd: Klikdok) -> None:
    assert httpx.get(f"{kd.url}/").status_code == 200
    assert httpx.get(f"{kd.url}/cryptoarm/json").status_code == 405
    not_json = httpx.post(
        f"{kd.url}/cryptoarm/json?id=x", content=b"a=b", headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert not_json.status_code == 415
    broken = httpx.post(f"{kd.url}/cryptoarm/json?id=x", content=b"{", headers={"Content-Type": "application/json"})
    assert broken.status_code == 200 and broken.json()["error"]["code"] == -32700
    assert rpc(kd, "x", {"method": "x"}).json()["error"]["code"] == -32600
    assert (
        rpc(kd, "x", {"jsonrpc": "2.0", "method": "signAndEncrypt.nothing", "id": 1}).json()["error"]["code"] == -32601
    )
    mismatch = rpc(kd, "a", {"jsonrpc": "2.0", "method": "signAndEncrypt.outDirectResults", "params": {"id": "b"}})
    assert mismatch.json()["error"]["code"] == -32602


def test_emulator_refuses_plain_http_like_the_app() -> None:
    with pytest.raises(LinkError, match="http error"):
        parse_link("cryptoarm://signAndEncrypt/http://127.0.0.1:1/cryptoarm/json?id=abc")
    assert parse_link("cryptoarm://SIGNANDENCRYPT/https://h.example/cryptoarm/json?id=abc") == (
        "signAndEncrypt",
        "https://h.example/cryptoarm/json?id=abc",
        "abc",
    )
