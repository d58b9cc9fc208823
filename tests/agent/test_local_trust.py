"""Issue 13: the agent checks a signature's certificate against the server's own trust anchors before uploading.

The server sends its anchors on /agent/ws right after ``hello``; an expired certificate or one from a CA the
server does not trust stops the job on the signer's machine with a Russian message (the job fails with
``certificate_rejected``, nothing reaches the workflow's acceptance). Revocation is not the agent's call: the
agent has no CRLs, and a good certificate still signs (tests/agent/test_end_to_end.py).
"""

from __future__ import annotations

import base64
import json

from agent.jobs import LocalTrust, check_locally
from cades import hashing
from common import agent_protocol as protocol
from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    job_status,
    online,
    openssl_backend,
    pdf,
    sign_request,
    signatures_of,
    wait_for,
)
from tests.agent.test_security import paired, ws


def test_the_server_sends_its_trust_anchors_after_hello(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    _, key = paired(kd, make_agent, DIRECTOR, "anchors")
    with ws(kd, key) as conn:
        first = json.loads(conn.recv(timeout=10))
        second = json.loads(conn.recv(timeout=10))
    assert first["type"] == "hello" and second["type"] == "trust_anchors"
    msg = protocol.decode_server(json.dumps(second))
    assert isinstance(msg, protocol.TrustAnchors)
    root_der = people.pki.pki.run("x509", "-in", people.pki.root.cert, "-outform", "DER")
    assert base64.b64encode(root_der).decode() in msg.anchors
    assert len(msg.intermediates) == 1


def test_expired_or_untrusted_certificate_stops_the_job_on_the_agent(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    pki = people.pki
    stranger_ca = pki.pki.issue(pki.foreign_root, "stranger-ca", subject=pki.pki.subject(CN="Чужой УЦ"),
                                profile="v3_ca")  # fmt: skip
    stranger = pki.pki.issue(stranger_ca, "stranger", subject=pki.pki.subject(CN="Соколов Андрей Викторович"))
    for n, (cert, words) in enumerate(
        [
            (pki.expired, "срок действия сертификата подписи истёк"),
            (stranger, "сертификат выдан удостоверяющим центром, которому сервер не доверяет"),
        ]
    ):
        agent = make_agent(f"agent-{n}")
        agent.write_config(openssl_backend(cert))
        agent.pair(kd, DIRECTOR)
        doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(70 + n)}, signers=[DIRECTOR])
        agent.start()
        wait_for(lambda: online(kd, DIRECTOR), what="agent online")
        [job] = sign_request(kd, DIRECTOR, [doc])
        wait_for(lambda: job_status(kd, job) == "failed", timeout=30, what="job stopped by the agent")  # noqa: B023  called within the iteration
        error = kd.query("SELECT error FROM jobs WHERE id = ?", job)[0][0]
        assert error.startswith("certificate_rejected"), error
        assert words in error and "не отправлена" in error, error
        assert signatures_of(kd, doc) == []
        agent.stop()
        wait_for(lambda: not online(kd, DIRECTOR), what="agent offline")
    # Nothing reached the workflow's acceptance.
    assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'signature.refused'") == [(0,)]


def test_local_check_leaves_unknown_revocation_to_the_server(people: People) -> None:
    """Offline the agent has no CRLs: its chain check says revocation_unknown, and that alone never stops a
    signature (the server decides, with its CRLs and its policy)."""
    pki = people.pki
    data = pdf(80)
    d256, d512 = hashing.digest("streebog256", data), hashing.digest("streebog512", data)
    der = [pki.pki.run("x509", "-in", c.cert, "-outform", "DER") for c in (pki.root, pki.inter)]
    trust = LocalTrust.from_message(
        protocol.TrustAnchors(anchors=[base64.b64encode(der[0]).decode(), "не base64"],
                              intermediates=[base64.b64encode(der[1]).decode()])
    )  # fmt: skip
    assert trust is not None and len(trust.context.trust_roots) == 1
    assert check_locally(people.sign(DIRECTOR, data), d256, d512, trust) is None
    problem = check_locally(pki.pki.sign(pki.expired, data), d256, d512, trust)
    assert problem is not None and problem.code == "certificate_rejected"
    assert LocalTrust.from_message(protocol.TrustAnchors(anchors=[])) is None
