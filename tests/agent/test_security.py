"""Security: device keys, pairing codes, other users' jobs, tampered downloads and broken backends."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    FAST,
    MANAGER,
    Agent,
    Klikdok,
    People,
    fake_openssl,
    job_status,
    launch_server,
    online,
    openssl_backend,
    pdf,
    server_env,
    sign_request,
    signatures_of,
    wait_for,
)
from tests.support.server import free_port, start_server
from tests.workflow.conftest import SALES_HEAD, installed_klikdok


def ws(kd: Klikdok, key: str) -> ClientConnection:
    return connect(
        kd.url.replace("http://", "ws://") + "/agent/ws",
        additional_headers={"Authorization": f"Bearer {key}"},
        open_timeout=10,
    )


def recv(conn: ClientConnection, kind: str, timeout: float = 10) -> dict[str, Any]:
    while True:
        msg = json.loads(conn.recv(timeout=timeout))
        if msg["type"] == kind:
            return msg


def paired(kd: Klikdok, make_agent, user_id: int, name: str) -> tuple[Agent, str]:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    agent = make_agent(name)
    agent.write_config({"kind": "cryptoarm"})
    agent.pair(kd, user_id)
    return agent, agent.key_file.read_text().strip()


def test_wrong_and_revoked_keys_cannot_connect(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    for bad in ("", "kda_" + "A" * 43, "not-a-key"):
        with pytest.raises(InvalidStatus) as err:
            ws(kd, bad).close()
        assert err.value.response.status_code == 403
    assert httpx.get(f"{kd.url}/api/v1/agents/me", headers={"Authorization": "Bearer kda_nope"}).status_code == 401

    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent_id = agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    key = agent.key_file.read_text().strip()
    # Another user cannot revoke it; its owner can, and the live connection ends at once.
    assert kd.api("DELETE", f"/agents/{agent_id}", MANAGER).status_code == 404
    assert kd.api("DELETE", f"/agents/{agent_id}", DIRECTOR).status_code == 204
    assert agent.proc is not None
    assert agent.proc.wait(20) == 3  # reconnecting with the revoked key gets 403: the agent stops and says why
    assert "klikdok-agent pair" in agent.logs()
    assert not online(kd, DIRECTOR)
    with pytest.raises(InvalidStatus):
        ws(kd, key).close()
    assert httpx.get(f"{kd.url}/api/v1/agents/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401


def test_pairing_codes_are_single_use_expire_and_are_rate_limited(kd: Klikdok, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    code = kd.api("POST", "/agents/pairing-codes", DIRECTOR).json()["code"]

    def pair(c: str) -> httpx.Response:
        return httpx.post(f"{kd.url}/api/v1/agents/pair", json={"code": c, "name": "pc"})

    first = pair(code.lower().replace("-", " "))  # what a person types: case and separators do not matter
    assert first.status_code == 201 and first.json()["user_id"] == DIRECTOR
    assert pair(code).status_code == 400  # used
    # Codes are stored hashed only.
    assert kd.query("SELECT count(*) FROM agent_pairing_codes WHERE code_hash LIKE ?", f"%{code}%") == [(0,)]
    stale = kd.api("POST", "/agents/pairing-codes", MANAGER).json()["code"]
    with sqlite3.connect(kd.server.data_dir / "klikdok.db") as conn:
        conn.execute("UPDATE agent_pairing_codes SET expires_at = '2000-01-01T00:00:00+00:00' WHERE used_at IS NULL")
    assert pair(stale).status_code == 400
    # A new code voids the user's previous unused one.
    old = kd.api("POST", "/agents/pairing-codes", MANAGER).json()["code"]
    new = kd.api("POST", "/agents/pairing-codes", MANAGER).json()["code"]
    assert pair(old).status_code == 400 and pair(new).status_code == 201
    statuses = [pair(f"ZZZZ-ZZZZ-{n:02d}").status_code for n in range(40)]
    assert 429 in statuses and set(statuses) <= {400, 429}
    assert kd.api("POST", "/agents/pairing-codes", DIRECTOR, headers={"X-KlikDok-Session": "forged"}).status_code == 401


def test_pairing_limits_count_each_office_behind_the_proxy_and_each_user(
    tmp_path: Path,
    emulator,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    people: People,
) -> None:
    """Behind nginx every request comes from the proxy's address: one office guessing codes must not lock
    out the others. The proxy here is 127.0.0.2 (named in ``[limits] trusted_proxies``), the offices are
    the addresses it appends to X-Forwarded-For."""
    env = server_env(people.pki, KLIKDOK_LIMITS_TRUSTED_PROXIES='["127.0.0.2"]')
    srv = start_server(tmp_path / "data", env=env)
    proxy = httpx.Client(transport=httpx.HTTPTransport(local_address="127.0.0.2"), timeout=30)
    try:
        kd = Klikdok(srv, emulator)
        kd.install()

        def pair(code: str, office: str) -> httpx.Response:
            # The client may put anything first; the proxy appends the address it saw.
            return proxy.post(
                f"{kd.url}/api/v1/agents/pair",
                json={"code": code, "name": "pc"},
                headers={"X-Forwarded-For": f"10.0.0.1, {office}"},
            )

        statuses = [pair(f"ZZZZ-ZZZZ-{n:02d}", "203.0.113.5").status_code for n in range(40)]
        assert 429 in statuses and set(statuses) <= {400, 429}
        assert pair("ZZZZ-ZZZZ-ZZ", "203.0.113.5").status_code == 429  # the guessing office is held back
        # Another office behind the same proxy pairs at once.
        code = kd.api("POST", "/agents/pairing-codes", DIRECTOR).json()["code"]
        answer = pair(code, "198.51.100.7")
        assert answer.status_code == 201, answer.text

        # A signed-in user gets a handful of codes per hour, not an endless supply; others are not affected.
        made = [kd.api("POST", "/agents/pairing-codes", MANAGER).status_code for _ in range(12)]
        assert made[:10] == [201] * 10 and made[10:] == [429, 429], made
        refused = kd.api("POST", "/agents/pairing-codes", MANAGER)
        assert "Слишком много" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 0
        assert kd.api("POST", "/agents/pairing-codes", SALES_HEAD).status_code == 201
    finally:
        proxy.close()
        srv.stop()


DEEP = "[" * 50_000 + "]" * 50_000


def test_deeply_nested_json_gets_a_clean_refusal_everywhere(kd: Klikdok, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """50,000 nested brackets exhaust a recursive decoder: every JSON the server reads answers an error
    of its own kind (JSON-RPC, 400/401, a websocket error message) instead of a 500 or a dead connection."""
    deep_field = '{"code": "X", "x": ' + DEEP + "}"
    rpc_body = {"jsonrpc": "2.0", "method": "signAndEncrypt.parameters", "id": "1"}
    json_headers = {"Content-Type": "application/json"}
    for body in (DEEP, json.dumps(rpc_body)[:-1] + ', "params": ' + DEEP + "}"):
        answer = httpx.post(f"{kd.url}/cryptoarm/json?id=x", content=body, headers=json_headers, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.json()["error"]["code"] in (-32700, -32600), answer.text

    assert httpx.post(f"{kd.url}/api/v1/agents/pair", content=deep_field, headers=json_headers).status_code == 400
    session = {"X-KlikDok-Session": kd.session(DIRECTOR)}
    for method, path in (
        ("POST", "/cryptoarm/transactions"),
        ("PUT", "/documents/1/route"),
        ("POST", "/documents/1/withdraw"),
        ("POST", "/documents/1/counterparty/resend"),
        ("POST", "/documents/sign-request"),
    ):
        for headers in (session, {}):  # signed in, and not
            answer = httpx.request(
                method, f"{kd.url}/api/v1{path}", content=deep_field, headers={**json_headers, **headers}, timeout=30
            )
            assert answer.status_code in (400, 401), (method, path, answer.status_code, answer.text)

    form = kd.emu.state.placement_form(DIRECTOR, "CRM_DEAL_DETAIL_TAB")
    form["PLACEMENT_OPTIONS"] = DEEP[:6000]
    tab = httpx.post(
        f"{kd.url}/b24/tab",
        content="&".join(f"{k}={v}" for k, v in form.items()),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        timeout=30,
    )
    assert tab.status_code == 403, tab.text

    # The agent's websocket: an error message, and the connection keeps serving.
    _, key = paired(kd, make_agent, DIRECTOR, "deep")
    with ws(kd, key) as conn:
        recv(conn, "hello")
        conn.send('{"type": "ping", "x": ' + DEEP + "}")
        assert recv(conn, "error")["code"] == "bad_message"
        conn.send(json.dumps({"type": "ping"}))
        recv(conn, "pong")
    assert "RecursionError" not in kd.server.logs()


def test_an_agent_cannot_fetch_or_sign_another_users_job(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(21)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    file_id = kd.query("SELECT id FROM document_files WHERE document_id = ?", doc)[0][0]
    _, director_key = paired(kd, make_agent, DIRECTOR, "director")
    _, manager_key = paired(kd, make_agent, MANAGER, "manager")
    url = f"{kd.url}/api/v1/agents/jobs/{job}/files/{file_id}"
    assert httpx.get(url, headers={"Authorization": f"Bearer {manager_key}"}).status_code == 404
    assert httpx.get(url).status_code == 401
    own = httpx.get(url, headers={"Authorization": f"Bearer {director_key}"})
    assert own.status_code == 200 and own.content == pdf(21)

    # The manager's device is never offered the director's job, and a result for it is refused.
    cms = people.sign(MANAGER, pdf(21))
    with ws(kd, manager_key) as conn:
        hello = recv(conn, "hello")
        assert hello["user_id"] == MANAGER
        conn.send(
            json.dumps(
                {
                    "type": "result",
                    "job_id": job,
                    "result_id": "r-1",
                    "signatures": [{"file_id": file_id, "cms": base64.b64encode(cms).decode()}],
                }
            )
        )
        ack = recv(conn, "result_ack")
        assert ack["outcome"] == "refused" and ack["code"] == "not_found"
        conn.send(json.dumps({"type": "cryptoarm_open", "request_id": "q", "job_ids": [job]}))
        assert recv(conn, "cryptoarm_link")["error"]
        conn.send(json.dumps({"type": "failure", "job_id": job, "result_id": "r-2", "code": "x"}))
        assert recv(conn, "result_ack")["outcome"] == "refused"
    assert signatures_of(kd, doc) == [] and job_status(kd, job) == "pending"

    # The director's own device with somebody else's signature: the workflow refuses it.
    with ws(kd, director_key) as conn:
        offer = recv(conn, "job")
        assert offer["job_id"] == job and offer["files"][0]["streebog256"]
        conn.send(
            json.dumps(
                {
                    "type": "result",
                    "job_id": job,
                    "result_id": "r-3",
                    "signatures": [{"file_id": file_id, "cms": base64.b64encode(cms).decode()}],
                }
            )
        )
        ack = recv(conn, "result_ack")
        assert ack["outcome"] == "refused" and ack["code"] == "wrong_signer"
        # The same result id again gets the recorded answer, not a second try.
        conn.send(
            json.dumps(
                {
                    "type": "result",
                    "job_id": job,
                    "result_id": "r-3",
                    "signatures": [{"file_id": file_id, "cms": base64.b64encode(cms).decode()}],
                }
            )
        )
        assert recv(conn, "result_ack")["code"] == "wrong_signer"
    assert signatures_of(kd, doc) == []


def test_bad_messages_and_oversized_frames(kd: Klikdok, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    _, key = paired(kd, make_agent, DIRECTOR, "d")
    with ws(kd, key) as conn:
        recv(conn, "hello")
        conn.send("{not json")
        assert recv(conn, "error")["code"] == "bad_message"
        conn.send(json.dumps({"type": "ping"}))
        assert recv(conn, "pong")
        conn.send("x" * (2048 * 1024 + 10))
        with pytest.raises(ConnectionClosed) as closed:
            conn.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009


class TamperingProxy:
    """Forwards HTTP to the server, flipping one byte of every agent job file it passes along."""

    def __init__(self, upstream: str) -> None:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                resp = httpx.get(
                    upstream + self.path, headers={k: v for k, v in self.headers.items() if k.lower() != "host"}
                )
                body = resp.content
                if self.path.startswith("/api/v1/agents/jobs/") and body:
                    body = body[:-1] + bytes([body[-1] ^ 1])
                    proxy.tampered += 1
                self.send_response(resp.status_code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.tampered = 0
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()


@pytest.fixture
def kd_behind_tampering(tmp_path: Path, emulator, people: People) -> Iterator[tuple[Klikdok, TamperingProxy]]:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    port = free_port()
    proxy = TamperingProxy(f"http://127.0.0.1:{port}")
    srv = launch_server(tmp_path / "data", port, server_env(people.pki, **FAST), public_url=proxy.url)
    try:
        with installed_klikdok(tmp_path / "data", emulator, {}, srv=srv) as k:
            yield k, proxy
    finally:
        proxy.close()


def test_tampered_download_is_refused_by_the_agent(kd_behind_tampering, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd, proxy = kd_behind_tampering
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(31)}, signers=[DIRECTOR])
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc])
    wait_for(lambda: job_status(kd, job) == "failed", timeout=30, what="job refused by the agent")
    assert proxy.tampered >= 1
    assert kd.query("SELECT error FROM jobs WHERE id = ?", job)[0][0].startswith("digest_mismatch")
    assert signatures_of(kd, doc) == []
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'job.failed'") == [(1,)]
    assert "does not match the job's digest" in agent.logs()


def test_a_broken_backend_is_caught_by_local_verification(
    kd: Klikdok,
    people: People,
    make_agent,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    tmp_path: Path,
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(41)}, signers=[DIRECTOR])
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start(env=fake_openssl(tmp_path / "wrong", "wrong"))
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc])
    wait_for(lambda: job_status(kd, job) == "failed", timeout=30, what="job refused")
    assert kd.query("SELECT error FROM jobs WHERE id = ?", job)[0][0].startswith("bad_signature")
    assert signatures_of(kd, doc) == []
    # Nothing reached the workflow's acceptance: no refused-signature audit row either.
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'signature.refused'") == [(0,)]


def test_silent_agent_is_dropped_and_withdrawn_jobs_are_cancelled(kd: Klikdok, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(51)}, signers=[DIRECTOR])
    [job] = sign_request(kd, DIRECTOR, [doc])
    _, key = paired(kd, make_agent, DIRECTOR, "d")
    with ws(kd, key) as conn:
        hello = recv(conn, "hello")
        assert hello["heartbeat_seconds"] == 2.0
        offer = recv(conn, "job")
        conn.send(json.dumps({"type": "ack", "job_id": job, "delivery_id": offer["delivery_id"]}))
        wait_for(lambda: job_status(kd, job) == "delivered", what="acknowledged")
        assert (
            kd.api("POST", f"/documents/{doc}/withdraw", MANAGER, json={"reason": "ошибка в сумме"}).status_code == 200
        )
        cancel = recv(conn, "cancel")
        assert cancel == {"type": "cancel", "job_id": job, "reason": "cancelled"}
        # No heartbeats from here on: three missed beats and the server hangs up.
        started = time.monotonic()
        with pytest.raises(ConnectionClosed):
            while True:
                conn.recv(timeout=20)
        assert time.monotonic() - started < 15
    assert not online(kd, DIRECTOR)
