"""A signing job reaches a connected agent as soon as the signer asks for it: ``Transitions.sign_request`` wakes
the agents hub through the workflow's ``on_jobs_opened`` listeners, so nothing waits for the hub's poll.

The hub's poll is set to a minute here; the job must be signed well before that.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

from demo.portal_emulator import PortalEmulator
from tests.agent.conftest import Agent, job_status, online, openssl_backend, pdf, sign_request
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, server_env, wait_for

# Default heartbeats (20 s): the agent stays on its first connection, so the job cannot ride in on a reconnect.
SLOW_POLL = {"KLIKDOK_AGENTS_DISPATCH_SECONDS": "60"}


def test_sign_request_pushes_the_job_to_the_connected_agent_at_once(
    tmp_path: Path, emulator: PortalEmulator, people: People
) -> None:
    srv = start_server(tmp_path / "data", env=server_env(people.pki, **SLOW_POLL))
    agent = Agent(tmp_path / "agent")
    try:
        kd = Klikdok(srv, emulator)
        kd.install()
        kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
        doc_id = kd.create(MANAGER, ("deal", 1), {"Договор.pdf": pdf(7)}, signers=[DIRECTOR])
        agent.write_config(openssl_backend(people.certs[DIRECTOR]))
        agent.pair(kd, DIRECTOR)
        agent.start()
        wait_for(lambda: online(kd, DIRECTOR), what="agent online")
        time.sleep(0.5)  # the connection's own delivery of open jobs (there are none) is over
        [job_id] = sign_request(kd, DIRECTOR, [doc_id])
        # 20 s leaves room for a slow openssl on a busy machine and is still far below the 60 s poll.
        wait_for(lambda: job_status(kd, job_id) == "done", timeout=20, what="the job signed by the agent")
        assert kd.query("SELECT state FROM documents WHERE id = ?", doc_id) == [("awaiting_counterparty",)]
        assert agent.logs().count("klikdok.agent: connected") == 1, "the job must come over the live connection"
    finally:
        agent.stop(signal.SIGKILL)
        srv.stop()
