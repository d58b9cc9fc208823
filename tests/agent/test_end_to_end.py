"""A paired agent signs a job the workflow pushed: pairing, /agent/ws, download, digest, sign, verify, accept."""

from __future__ import annotations

import signal

from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    file_mode,
    job_status,
    online,
    openssl_backend,
    pdf,
    sign_request,
    signatures_of,
    wait_for,
)


def test_paired_openssl_agent_signs_a_pushed_job(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc_id = kd.create(MANAGER, DEAL, {"Договор №1.pdf": pdf(1), "Приложение.pdf": pdf(2)}, signers=[DIRECTOR])

    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent_id = agent.pair(kd, DIRECTOR)
    assert file_mode(agent.key_file) == 0o600
    key = agent.key_file.read_text().strip()
    assert key.startswith("kda_")
    # Only the hash is stored.
    assert kd.query("SELECT count(*) FROM agents WHERE key_hash = ?", key) == [(0,)]
    assert kd.query("SELECT user_id FROM agents WHERE id = ?", agent_id) == [(DIRECTOR,)]

    status = agent.cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert "доступен: OpenSSL + gost" in status.stdout

    assert not online(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    assert not online(kd, MANAGER)

    [job_id] = sign_request(kd, DIRECTOR, [doc_id])
    wait_for(lambda: job_status(kd, job_id) == "done", timeout=30, what="job done")
    sigs = signatures_of(kd, doc_id)
    assert len(sigs) == 2 and {s[2] for s in sigs} == {"agent"} and {s[3] for s in sigs} == {DIRECTOR}
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("awaiting_counterparty",)]
    assert kd.query("SELECT count(*) FROM job_deliveries WHERE job_id = ? AND acked_at IS NOT NULL", job_id) == [(1,)]

    assert agent.stop(signal.SIGTERM) == 0
    logs = agent.logs()
    assert key not in logs and key[4:] not in logs  # debug logging, handshake included, never shows the key
    wait_for(lambda: not online(kd, DIRECTOR), what="agent offline")
