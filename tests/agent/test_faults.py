"""Faults: the server dies mid-job, the websocket breaks during the upload, the agent is killed.

Every job must end signed exactly once or still open, never twice, never lost. Slowness and breakage are
real: a wrapper around the real ``openssl`` that takes seconds to sign (a slow token), SIGKILL for the
processes, and a TCP proxy that cuts the websocket in the middle of (or right after) the result frame.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest

from tests.agent.conftest import (
    DEAL,
    DIRECTOR,
    FAST,
    MANAGER,
    CuttingProxy,
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
    signatures_made,
    signatures_of,
    signings_started,
    wait_for,
)


def exactly_once(kd: Klikdok, doc_id: int, files: int) -> None:
    sigs = signatures_of(kd, doc_id)
    assert len(sigs) == files and len({s[0] for s in sigs}) == files, sigs


def fetched(agent, job_id: int, file_id: int) -> int:  # type: ignore[no-untyped-def]  # agent is the test's Agent helper, passed untyped
    """How many times the agent has downloaded this file of the job (its httpx log line per request)."""
    return agent.logs().count(f'/agents/jobs/{job_id}/files/{file_id} "HTTP/1.1 200')


def slow_signer(kd: Klikdok, people: People, make_agent, tmp_path: Path, seconds: float):  # type: ignore[no-untyped-def]  # make_agent is the conftest's factory fixture
    """The director's agent, online, whose openssl takes ``seconds`` per signature (a slow token); and the folder
    where that openssl logs its signings (:func:`signings_started`, :func:`signatures_made`)."""
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    slow = tmp_path / "slow"
    agent.start(env=fake_openssl(slow, "slow", seconds=seconds))
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    return agent, slow


@pytest.mark.parametrize("killed_while", ["signing_the_first_file", "signing_the_last_file"])
def test_server_killed_and_restarted_mid_job(
    kd: Klikdok,
    people: People,
    make_agent,
    tmp_path: Path,  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    killed_while: str,
) -> None:
    """The server is SIGKILLed while the agent signs one file of a two-file job, then started on the same port.

    Killed during the first file, the agent cannot fetch the second one: it gives the job up (nothing sent) and
    does it again when the restarted server offers it. Killed during the last file, the agent finishes while the
    server is down, keeps the result and sends it, under the same result id, once it is connected again.
    Either way: one signature per file, one accepted result, and the agent never exits.
    """
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(1), "Акт.pdf": pdf(2)}, signers=[DIRECTOR])
    first, last = [f for (f,) in kd.query("SELECT id FROM document_files WHERE document_id = ? ORDER BY position", doc)]
    agent, slow = slow_signer(kd, people, make_agent, tmp_path, seconds=2.0)
    [job] = sign_request(kd, DIRECTOR, [doc])
    in_hand = first if killed_while == "signing_the_first_file" else last
    # Signing, not fetching: the fetch's log line comes with the response headers, and a server killed during the
    # download would make a different story (the file never arrives).
    position = 1 if in_hand == first else 2
    wait_for(lambda: signings_started(slow) == position, what=f"the agent signing file {in_hand}")
    port = int(kd.url.rsplit(":", 1)[1])
    kd.server.stop(signal.SIGKILL)  # the agent is signing `in_hand` now (2 s)
    assert signatures_of(kd, doc) == []
    if in_hand == first:
        wait_for(lambda: "job postponed" in agent.logs(), what="the agent giving the job up (no second file)")
    else:
        wait_for(lambda: signatures_made(slow) == 2, what="the agent finishing while the server is down")
    kd.server = launch_server(kd.server.data_dir, port, server_env(people.pki, **FAST))
    # The server commits the signatures (and so the job's "done") first and its record of the agent's result
    # just before it confirms the result to the agent: the confirmation is the end of the exchange.
    wait_for(lambda: "result confirmed" in agent.logs(), timeout=40, what="the agent seeing its result confirmed")
    assert job_status(kd, job) == "done"
    exactly_once(kd, doc, 2)
    assert agent.proc is not None and agent.proc.poll() is None  # the agent rode it out
    assert kd.query("SELECT count(*) FROM agent_results WHERE job_id = ? AND outcome = 'accepted'", job) == [(1,)]
    if in_hand == first:
        assert fetched(agent, job, first) == 2 and signatures_made(slow) == 3  # the first file, done again
    else:
        assert "job postponed" not in agent.logs()
        assert fetched(agent, job, first) == fetched(agent, job, last) == 1 and signatures_made(slow) == 2


@pytest.mark.parametrize("mode", ["mid_upload", "after_upload"])
def test_websocket_cut_during_upload(kd: Klikdok, people: People, make_agent, mode: str) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(3)}, signers=[DIRECTOR])
    proxy = CuttingProxy(int(kd.url.rsplit(":", 1)[1]), mode)
    try:
        agent = make_agent()
        agent.write_config(openssl_backend(people.certs[DIRECTOR]))
        agent.pair(kd, DIRECTOR)
        agent.config.write_text(agent.config.read_text().replace(kd.url, proxy.url))
        agent.start()
        wait_for(lambda: online(kd, DIRECTOR), what="agent online through the proxy")
        [job] = sign_request(kd, DIRECTOR, [doc])
        wait_for(lambda: job_status(kd, job) == "done", timeout=40, what="job done")
        wait_for(lambda: "result confirmed" in agent.logs(), what="the agent saw the confirmation")
        assert proxy.cuts == 1 and proxy.connections >= 2
        exactly_once(kd, doc, 1)
        rows = kd.query("SELECT outcome FROM agent_results WHERE job_id = ?", job)
        assert rows == [("accepted",)]  # one result id, applied once, whatever was resent
    finally:
        proxy.close()


def test_agent_killed_mid_job_and_restarted(kd: Klikdok, people: People, make_agent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(4)}, signers=[DIRECTOR])
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]))
    agent.pair(kd, DIRECTOR)
    slow = fake_openssl(tmp_path / "slow", "slow", seconds=3.0)
    agent.start(env=slow)
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")
    [job] = sign_request(kd, DIRECTOR, [doc])
    wait_for(lambda: job_status(kd, job) == "delivered", what="job delivered")
    agent.stop(signal.SIGKILL)
    wait_for(lambda: not online(kd, DIRECTOR), what="agent offline")
    time.sleep(1.0)
    # Still open, not lost; and no longer held by the agent that went away (so it could move to CryptoARM).
    assert job_status(kd, job) == "pending" and signatures_of(kd, doc) == []
    agent.start(env=slow)
    wait_for(lambda: job_status(kd, job) == "done", timeout=40, what="job done by the restarted agent")
    exactly_once(kd, doc, 1)
    assert kd.query("SELECT count(*) FROM job_deliveries WHERE job_id = ?", job)[0][0] >= 2


def test_sigterm_mid_job_finishes_the_job_in_hand(kd: Klikdok, people: People, make_agent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """SIGTERM while a signature is being made: that job is finished and confirmed, then the agent exits 0.

    "In hand" means the signing has begun (the token may already have asked for its PIN). The file being
    fetched is not enough: the download and its hash still lie between the fetch and the signing, and a job
    stopped there is given up (see the next test). So the test waits for the signing to start."""
    doc = kd.create(MANAGER, DEAL, {"Договор.pdf": pdf(5)}, signers=[DIRECTOR])
    agent, slow = slow_signer(kd, people, make_agent, tmp_path, seconds=2.0)
    [job] = sign_request(kd, DIRECTOR, [doc])
    wait_for(lambda: signings_started(slow), what="the agent starting to sign (2 s)")
    started = time.monotonic()
    assert agent.stop(signal.SIGTERM) == 0
    assert time.monotonic() - started < 12
    assert job_status(kd, job) == "done"  # the job in hand was finished and confirmed before exiting
    exactly_once(kd, doc, 1)


def test_sigterm_gives_up_a_job_not_yet_being_signed(kd: Klikdok, people: People, make_agent, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    """Two jobs: one being signed, the other fetched and waiting for the key. SIGTERM finishes the first and
    gives the second up unsigned: it stays open on the server for the next start, and no PIN prompt appears
    after the signer asked the agent to stop."""
    docs = [kd.create(MANAGER, DEAL, {f"Договор {n}.pdf": pdf(n)}, signers=[DIRECTOR]) for n in (1, 2)]
    agent, slow = slow_signer(kd, people, make_agent, tmp_path, seconds=3.0)
    jobs = sign_request(kd, DIRECTOR, docs)
    wait_for(lambda: signings_started(slow) == 1, what="the agent signing the first job (3 s)")
    wait_for(lambda: all(f"/agents/jobs/{j}/files/" in agent.logs() for j in jobs), what="both jobs' files fetched")
    assert agent.stop(signal.SIGTERM) == 0
    assert signings_started(slow) == 1  # the waiting job never reached the key
    statuses = sorted(job_status(kd, j) for j in jobs)
    assert statuses[0] == "done" and statuses[1] != "done", statuses
    assert sorted(len(signatures_of(kd, d)) for d in docs) == [0, 1]
