"""A job a real klikdok-agent holds: refused to CryptoARM with the agent's name, cancelled by the signer (the agent
is told and drops it, nothing is signed), released when the agent dies; and the name the agent pairs under."""

from __future__ import annotations

import json
import os
import pwd
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from agent import device
from tests.agent.conftest import (
    AGENT,
    DEAL,
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    agent_env,
    fake_openssl,
    job_status,
    online,
    openssl_backend,
    pdf,
    sign_request,
    signatures_of,
    wait_for,
)
from tests.support.server import REPO


def test_the_signer_cancels_a_job_the_agent_is_signing(
    kd: Klikdok,
    people: People,
    make_agent,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    tmp_path: Path,
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(21)}, signers=[DIRECTOR], title="Договор подряда")
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent_id = agent.pair(kd, DIRECTOR)
    [(name,)] = kd.query("SELECT name FROM agents WHERE id = ?", agent_id)
    agent.start(env=fake_openssl(tmp_path / "slow", "slow", seconds=4.0))
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc], channel="agent")
    wait_for(lambda: job_status(kd, job) == "delivered", what="the agent took the job")

    # CryptoARM is asked for while the agent signs: refused, naming the computer; nothing moves.
    busy = kd.api("POST", "/documents/sign-request", DIRECTOR, json={"document_ids": [doc], "channel": "cryptoarm"})
    assert busy.status_code == 409, busy.text
    assert busy.json()["error"] == "job_in_flight" and busy.json()["in_flight"] == "agent"
    assert busy.json()["message"].startswith(
        f"Документ «Договор подряда» уже подписывается агентом подписи на компьютере «{name}»."
    )
    direct = kd.api("POST", "/cryptoarm/transactions", DIRECTOR, json={"job_ids": [job]})
    assert direct.status_code == 400 and "агентом подписи" in direct.text
    assert kd.query("SELECT count(*) FROM cryptoarm_transactions") == [(0,)]

    cancel = kd.api("POST", f"/jobs/{job}/cancel", DIRECTOR)
    assert cancel.status_code == 200 and cancel.json()["status"] == "cancelled", cancel.text
    wait_for(lambda: f"job {job} cancelled by the server" in agent.logs(), what="the agent heard the cancel")
    time.sleep(5.0)  # the slow signature the agent was making is finished by now, and must have been dropped
    assert signatures_of(kd, doc) == [] and kd.query("SELECT count(*) FROM agent_results WHERE job_id = ?", job) == [
        (0,)
    ]
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert job_status(kd, job) == "cancelled"
    [(details,)] = kd.query("SELECT details FROM audit_log WHERE action = 'job.cancelled'")
    assert json.loads(details) == {"job_id": job, "channel": "agent", "in_flight": "agent"}

    # Asked again: a new job, and the same agent signs it.
    [again] = sign_request(kd, DIRECTOR, [doc], channel="agent")
    assert again != job
    wait_for(lambda: job_status(kd, again) == "done", timeout=40, what="the new job signed")
    assert [s[2] for s in signatures_of(kd, doc)] == ["agent"]


def test_a_job_left_by_a_dead_agent_moves_to_cryptoarm(
    kd: Klikdok,
    people: People,
    make_agent,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    tmp_path: Path,
) -> None:
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Акт.pdf": pdf(22)}, signers=[DIRECTOR])
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    agent.start(env=fake_openssl(tmp_path / "slow", "slow", seconds=5.0))
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc], channel="agent")
    wait_for(lambda: job_status(kd, job) == "delivered", what="the agent took the job")
    agent.stop(signal.SIGKILL)
    wait_for(lambda: job_status(kd, job) == "pending", what="the job released when the agent went away")
    moved = kd.api("POST", "/documents/sign-request", DIRECTOR, json={"document_ids": [doc], "channel": "cryptoarm"})
    assert moved.status_code == 200, moved.text
    assert moved.json()[0]["channel"] == "cryptoarm" and moved.json()[0]["id"] != job
    assert job_status(kd, job) == "cancelled"


def test_the_agent_pairs_under_host_and_os_user_without_user_in_the_environment(kd: Klikdok) -> None:
    home = kd.server.data_dir.parent / "named-agent"
    home.mkdir()
    code = kd.api("POST", "/agents/pairing-codes", DIRECTOR).json()["code"]
    env = {k: v for k, v in agent_env().items() if k not in ("USER", "LOGNAME", "USERNAME")}
    done = subprocess.run(
        [*AGENT, "--config", str(home / "agent.toml"), "pair", kd.url, code],
        cwd=REPO,
        env=env,
        text=True,
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    [agent] = kd.api("GET", "/agents", DIRECTOR).json()["agents"]
    assert agent["name"] == f"{socket.gethostname()} ({pwd.getpwuid(os.getuid()).pw_name})"


def test_device_name_falls_back_to_the_environment_then_to_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_entry(uid: int) -> pwd.struct_passwd:
        raise KeyError(uid)  # a container user with no line in /etc/passwd

    monkeypatch.setattr(pwd, "getpwuid", no_entry)
    monkeypatch.setattr(socket, "gethostname", lambda: "buh-pc")
    for variable in ("USER", "LOGNAME", "USERNAME"):
        monkeypatch.delenv(variable, raising=False)
    assert device.device_name() == "buh-pc"
    monkeypatch.setenv("USERNAME", "ivanova")
    assert device.device_name() == "buh-pc (ivanova)"
    monkeypatch.setenv("USER", "  ")
    assert device.device_name() == "buh-pc (ivanova)"
