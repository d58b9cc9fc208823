"""A batch bigger than the agent's queue: the server offers only what the agent can hold, not the rest over and over.

The agent declines offers beyond ``queue.max_jobs`` (``nack`` "queue_full"). Before issue 19 the server answered
every accepted result by offering every remaining job again, so each signature of a 100-document batch cost ~85
offers, nacks and database writes (the batch was 15x slower than the signing itself). Now the server learns the
agent's window from its first "queue_full" and keeps at most that many jobs in flight on the connection.
"""

from __future__ import annotations

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
    wait_for,
)

DOCS = 8
QUEUE = 2


def test_a_batch_over_the_agent_queue_is_offered_within_its_window(kd: Klikdok, people: People, make_agent) -> None:  # type: ignore[no-untyped-def]  # pytest fixture arguments left unannotated
    kd.register_cert(DIRECTOR, people.certs[DIRECTOR])
    docs = [kd.create(MANAGER, DEAL, {f"Договор №{n}.pdf": pdf(n)}, signers=[DIRECTOR]) for n in range(DOCS)]
    agent = make_agent()
    agent.write_config(openssl_backend(people.certs[DIRECTOR]), extra=f"[queue]\nmax_jobs = {QUEUE}\n")
    agent.pair(kd, DIRECTOR)
    agent.start()
    wait_for(lambda: online(kd, DIRECTOR), what="agent online")

    jobs = sign_request(kd, DIRECTOR, docs, channel="agent")
    wait_for(lambda: all(job_status(kd, j) == "done" for j in jobs), timeout=90, what="every job done")

    assert kd.query("SELECT count(*) FROM signatures WHERE source = 'agent'") == [(DOCS,)]
    # Each job is offered once, plus at most one declined offer each in the first round (before the server knew
    # the window); re-offering the whole rest after every result made it ~3x this for 8 jobs (~85x for 100).
    (deliveries,) = kd.query("SELECT count(*) FROM job_deliveries")[0]
    assert deliveries <= 2 * DOCS, deliveries
    # Every job ended acknowledged by exactly one delivery: none was signed twice or lost on the way.
    assert kd.query("SELECT count(DISTINCT job_id) FROM job_deliveries WHERE acked_at IS NOT NULL") == [(DOCS,)]
