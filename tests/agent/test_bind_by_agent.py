"""Binding a certificate through the signing agent (issue 14): the agent lists what it can sign with and signs a
one-time server challenge with the chosen certificate; the certificate is bound only to the user who proved the key.

A real server and a real ``klikdok-agent`` process (openssl backend, openssl-made GOST keys) for the API; for
what the agent refuses to sign, a hostile server in the test speaks /agent/ws to the real agent client.
"""

from __future__ import annotations

import asyncio
import base64
import concurrent.futures
import hashlib
import json
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from asn1crypto import x509
from websockets.asyncio.server import ServerConnection, serve
from websockets.sync.client import connect as sync_connect

from agent.backends.cryptoarm import CryptoArmBackend
from agent.backends.openssl import OpenSSLBackend
from agent.binding import answer_certificates, answer_prove_key
from agent.client import AgentClient
from agent.config import AgentSettings, ServerSection
from common import agent_protocol as protocol
from server.workflow.certificates import new_challenge, proves_possession
from tests.agent.conftest import (
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    online,
    openssl_backend,
    wait_for,
)
from tests.workflow.conftest import OWN_INN, installed_klikdok, server_env


def thumbprint(der: bytes) -> str:
    return hashlib.sha1(der).hexdigest()


def bound_to(kd: Klikdok, der_thumbprint: str) -> list[int]:
    """Who the certificate is bound to."""
    rows = kd.query("SELECT user_id, der FROM signer_certificates")
    return [r[0] for r in rows if r[1] is not None and thumbprint(bytes(r[1])) == der_thumbprint]


def start_agent_for(kd: Klikdok, make_agent, people: People, user_id: int) -> Any:  # type: ignore[no-untyped-def]  # the conftest's factory fixture
    agent = make_agent(f"agent-{user_id}")
    agent.write_config(openssl_backend(people.certs[user_id]))
    agent.pair(kd, user_id)
    agent.start()
    wait_for(lambda: online(kd, user_id), what="agent online")
    return agent


# -- the real server with the real agent ------------------------------------------------------------------------


def test_the_agent_lists_its_certificate_and_binds_it_to_its_signer(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    start_agent_for(kd, make_agent, people, DIRECTOR)
    der = people.certs[DIRECTOR].cert_der

    listed = kd.api("GET", "/me/agent/certificates", DIRECTOR)
    assert listed.status_code == 200, listed.text
    [cert] = listed.json()
    assert cert["thumbprint"] == thumbprint(der)
    assert cert["owner"] == "Соколов Андрей Викторович"
    assert cert["organization"] == "ООО «Вектор»"
    assert cert["innle"] == OWN_INN
    assert cert["snils"] == "12345678901"
    assert cert["signing"] is True
    assert cert["not_before"] and cert["not_after"] and cert["issuer"]

    assert kd.api("GET", "/me/certificates", DIRECTOR).json() == []
    bound = kd.api("POST", "/me/agent/bind", DIRECTOR, json={"thumbprint": cert["thumbprint"]})
    assert bound.status_code == 201, bound.text
    assert bound.json()["status"] == "active"
    assert "привязан" in bound.json()["message"]

    assert bound_to(kd, thumbprint(der)) == [DIRECTOR]
    mine = kd.api("GET", "/me/certificates", DIRECTOR).json()
    assert len(mine) == 1 and "Соколов" in mine[0]["subject"]
    audited = kd.query("SELECT action, actor, details FROM audit_log WHERE action LIKE 'certificate.%'")
    assert [(a, actor, json.loads(d)["proof"]) for a, actor, d in audited] == [
        ("certificate.registered", f"user:{DIRECTOR}", "agent")
    ]


def test_a_certificate_other_than_the_configured_one_is_refused(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    start_agent_for(kd, make_agent, people, DIRECTOR)
    other = thumbprint(people.certs[MANAGER].cert_der)

    refused = kd.api("POST", "/me/agent/bind", DIRECTOR, json={"thumbprint": other})
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"] == "not_configured"
    assert "klikdok-agent setup" in refused.json()["message"]
    assert bound_to(kd, other) == []
    assert kd.api("GET", "/me/certificates", DIRECTOR).json() == []

    garbage = kd.api("POST", "/me/agent/bind", DIRECTOR, json={"thumbprint": "не отпечаток"})
    assert garbage.status_code == 400 and garbage.json()["message"]


def test_another_users_agent_is_not_asked(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """The manager has no agent: the director's online agent is not theirs to use, so nothing is bound to them."""
    start_agent_for(kd, make_agent, people, DIRECTOR)
    der = people.certs[DIRECTOR].cert_der
    for method, path, body in (
        ("GET", "/me/agent/certificates", None),
        ("POST", "/me/agent/bind", {"thumbprint": thumbprint(der)}),
    ):
        resp = kd.api(method, path, MANAGER, json=body)
        assert resp.status_code == 409, resp.text
        assert resp.json()["error"] == "agent_offline"
        assert "Агент подписи не подключён" in resp.json()["message"]
    assert bound_to(kd, thumbprint(der)) == []


def device_key(agent: Any) -> str:
    return str(agent.key_file.read_text().strip())


@pytest.fixture
def patient_kd(tmp_path: Path, emulator, people: People) -> Iterator[Klikdok]:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """A server that waits only a moment for an agent's answer (a silent agent times out at once), with the
    default heartbeat so the silent test agent is not dropped meanwhile."""
    env = server_env(people.pki, KLIKDOK_AGENTS_BINDING_LIST_SECONDS="0.5", KLIKDOK_AGENTS_BINDING_PROOF_SECONDS="0.5")
    with installed_klikdok(tmp_path / "data", emulator, env) as k:
        yield k


def test_an_agent_that_never_answers_times_out(patient_kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """An agent older than the binding messages skips them: the page hears "did not answer", not a hang."""
    kd = patient_kd
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    url = kd.url.replace("http://", "ws://") + "/agent/ws"
    with sync_connect(url, additional_headers={"Authorization": f"Bearer {device_key(agent)}"}) as ws:
        assert json.loads(ws.recv(timeout=10))["type"] == "hello"
        for method, path, body in (
            ("GET", "/me/agent/certificates", None),
            ("POST", "/me/agent/bind", {"thumbprint": thumbprint(people.certs[DIRECTOR].cert_der)}),
        ):
            resp = kd.api(method, path, DIRECTOR, json=body)
            assert resp.status_code == 504, resp.text
            assert resp.json()["error"] == "agent_silent"
    assert kd.query("SELECT count(*) FROM signer_certificates") == [(0,)]


def test_a_question_fails_at_once_when_the_agent_goes_away(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """The agent disconnects while the server waits for its key proof: the page hears "offline" now."""
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    url = kd.url.replace("http://", "ws://") + "/agent/ws"
    body = {"thumbprint": thumbprint(people.certs[DIRECTOR].cert_der)}
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        with sync_connect(url, additional_headers={"Authorization": f"Bearer {device_key(agent)}"}) as ws:
            wait_for(lambda: online(kd, DIRECTOR), what="agent online")
            pending = pool.submit(kd.api, "POST", "/me/agent/bind", DIRECTOR, json=body)
            while True:
                frame = json.loads(ws.recv(timeout=30))
                if frame["type"] == "prove_key":
                    break
            assert frame["thumbprint"] == body["thumbprint"]
            assert protocol.is_registration_challenge(frame["challenge"], DIRECTOR)
        resp = pending.result(timeout=30)
    assert resp.status_code == 409, resp.text
    assert resp.json()["error"] == "agent_offline"


# -- a hostile server and the real agent client ----------------------------------------------------------------


class HostileServer:
    """Speaks /agent/ws to one real agent: hello for ``user_id``, then whatever the test sends."""

    def __init__(self, user_id: int) -> None:
        self.user_id = user_id
        self.connected: asyncio.Queue[ServerConnection] = asyncio.Queue()

    async def handler(self, ws: ServerConnection) -> None:
        hello = protocol.Hello(agent_id=1, user_id=self.user_id, heartbeat_seconds=60, server_time="")
        await ws.send(protocol.encode(hello).decode())
        await self.connected.put(ws)
        await ws.wait_closed()


async def answer(ws: ServerConnection, msg: protocol.ServerMessage | str) -> Any:
    """Send a message and return the agent's answer to it (pings are skipped)."""
    await ws.send(msg if isinstance(msg, str) else protocol.encode(msg).decode())
    while True:
        reply = protocol.decode_agent(await asyncio.wait_for(ws.recv(), 60))
        if not isinstance(reply, protocol.Ping):
            return reply


@pytest.fixture
async def hostile(people: People, tmp_path: Path) -> AsyncIterator[tuple[ServerConnection, OpenSSLBackend]]:
    """The real agent client (openssl backend, the director's key) connected to a hostile server that says the
    agent belongs to the director."""
    server = HostileServer(DIRECTOR)
    cert = people.certs[DIRECTOR]
    backend = OpenSSLBackend(str(cert.cert), str(cert.key))
    async with serve(server.handler, "127.0.0.1", 0) as listening:
        port = next(iter(listening.sockets)).getsockname()[1]
        settings = AgentSettings(server=ServerSection(url=f"http://127.0.0.1:{port}"))
        client = AgentClient(settings, "kda_test", backend)
        task = asyncio.create_task(client._connection_loop())
        try:
            ws = await asyncio.wait_for(server.connected.get(), 30)
            yield ws, backend
        finally:
            task.cancel()
            await asyncio.gather(task, *client._binding, return_exceptions=True)
            await client.http.aclose()
            backend.close()


async def test_the_agent_signs_only_its_users_registration_challenge(
    hostile: tuple[ServerConnection, OpenSSLBackend], people: People
) -> None:
    ws, _ = hostile
    cert = people.certs[DIRECTOR]
    mine = thumbprint(cert.cert_der)

    # A newer server's message the agent does not know is skipped; the agent goes on to the next one.
    await ws.send(json.dumps({"type": "something_new", "request_id": "x"}))
    listed = await answer(ws, protocol.CertificatesRequest(request_id="list-1"))
    assert isinstance(listed, protocol.Certificates) and listed.request_id == "list-1" and not listed.error
    assert [base64.b64decode(c) for c in listed.certificates] == [cert.cert_der]
    assert listed.signing_thumbprint == mine

    challenge = new_challenge(DIRECTOR).text
    proof = await answer(ws, protocol.ProveKey(request_id="p-1", challenge=challenge, thumbprint=mine.upper()))
    assert isinstance(proof, protocol.KeyProof) and proof.request_id == "p-1" and not proof.code, proof.message
    assert base64.b64decode(proof.certificate) == cert.cert_der
    cms = base64.b64decode(proof.cms)
    assert proves_possession(cms, challenge, x509.Certificate.load(cert.cert_der))

    other = thumbprint(people.certs[MANAGER].cert_der)
    refused = await answer(
        ws, protocol.ProveKey(request_id="p-2", challenge=new_challenge(DIRECTOR).text, thumbprint=other)
    )
    assert isinstance(refused, protocol.KeyProof) and refused.code == "not_configured" and not refused.cms
    assert "klikdok-agent setup" in refused.message


async def test_the_agent_refuses_texts_that_are_not_its_challenge(
    hostile: tuple[ServerConnection, OpenSSLBackend], people: People
) -> None:
    ws, _ = hostile
    mine = thumbprint(people.certs[DIRECTOR].cert_der)
    nonce = secrets.token_urlsafe(32)
    hostile_texts = [
        "%PDF-1.7 Договор поставки №1",  # a document's text
        f"klikdok-certificate-registration user={MANAGER} nonce={nonce}",  # another person's registration
        f"klikdok-certificate-registration user={DIRECTOR} nonce={nonce}\n%PDF",  # a challenge with a tail
        f"xklikdok-certificate-registration user={DIRECTOR} nonce={nonce}",
        "",
    ]
    for n, text in enumerate(hostile_texts):
        reply = await answer(ws, protocol.ProveKey(request_id=f"r{n}", challenge=text, thumbprint=mine))
        assert isinstance(reply, protocol.KeyProof) and reply.request_id == f"r{n}"
        assert reply.code == "not_a_challenge" and not reply.cms, text
        assert "только код подтверждения" in reply.message


async def test_the_cryptoarm_agent_sends_the_signer_to_the_cryptoarm_route() -> None:
    """CryptoARM signs in its own app: the agent lists nothing and signs nothing here, and says where to go."""
    backend = CryptoArmBackend()
    listed = await answer_certificates(backend, protocol.CertificatesRequest(request_id="l"))
    assert listed.certificates == [] and "КриптоАРМ" in listed.error
    proof = await answer_prove_key(
        backend,
        protocol.ProveKey(request_id="p", challenge=new_challenge(DIRECTOR).text, thumbprint="ab" * 20),
        DIRECTOR,
    )
    assert proof.code == "use_cryptoarm" and not proof.cms and "КриптоАРМ" in proof.message


async def test_a_broken_backend_answers_with_its_reason(tmp_path: Path) -> None:
    """A missing key file is the signer's to fix: the page shows the backend's own Russian reason."""
    backend = OpenSSLBackend(str(tmp_path / "missing.pem"), str(tmp_path / "missing.key"))
    try:
        listed = await answer_certificates(backend, protocol.CertificatesRequest(request_id="l"))
        assert listed.certificates == [] and listed.error.startswith("openssl завершился с ошибкой")
        proof = await answer_prove_key(
            backend,
            protocol.ProveKey(request_id="p", challenge=new_challenge(DIRECTOR).text, thumbprint="ab" * 20),
            DIRECTOR,
        )
        assert proof.code == "backend" and not proof.cms
    finally:
        backend.close()
