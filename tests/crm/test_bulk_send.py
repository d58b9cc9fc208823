"""Bulk send from a template over real HTTP: 50 deals, each its own document, under the portal's rate limit, with
the server SIGKILLed in the middle (once at a random moment, once while the portal holds the answer of a
``document.add`` it has already carried out) and restarted: exactly one generator document and one KlikDok
document per deal, and a deal without a contact e-mail listed with its reason.

The emulator and the server share one limit (20 requests/second, bucket of 20) so the test runs in a minute; the
emulator answers 503 QUERY_LIMIT_EXCEEDED whenever its own leaky bucket overflows. The test demands it never did
while one server process ran, and re-checks the request times it recorded against the bucket's arithmetic. A
process started after a SIGKILL cannot know how full its predecessor left the portal's bucket: its first requests
may meet a 503, which the client answers by taking the bucket as full and retrying (at most a bucket's worth per
restart, and nothing lost or made twice, as the counts below show)."""

from __future__ import annotations

import html
import random
import re
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from demo.emulator_templates import add_deals_with_contacts, documents_of
from demo.portal_emulator import PortalEmulator
from tests.support.server import start_server
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    gost_pki,
    installed_klikdok,
    people,
    rate_limited_portal,
    wait_for,
)

RATE, BURST = 20.0, 20


@pytest.fixture
def limited(people: People) -> Iterator[tuple[PortalEmulator, dict[str, str]]]:  # noqa: F811  pytest injects the imported fixture
    with rate_limited_portal(people.pki, RATE, BURST) as portal:
        yield portal


def record_admissions(emu: PortalEmulator) -> list[float]:
    """The monotonic time of every REST request the portal counted against its limit."""
    times: list[float] = []
    admit = emu.state.admit

    def recording() -> bool:
        counted = admit()
        if counted:  # a refused request does not fill the portal's bucket (and after a restart some are refused)
            times.append(time.monotonic())
        return counted

    emu.state.admit = recording  # type: ignore[method-assign]  # the test's own probe on this instance
    return times


def assert_within_bucket(times: list[float]) -> None:
    """No window of the recorded requests holds more than a bucket of BURST draining at RATE allows."""
    times = sorted(times)
    level, last = 0.0, times[0] if times else 0.0
    for t in times:
        level = max(0.0, level - (t - last) * RATE) + 1
        last = t
        assert level <= BURST + 1e-6, f"{level:.1f} requests in the bucket at once"


def bulk_grant(kd: Klikdok, user_id: int, deal_id: int) -> str:
    """What the deal list's row menu gives the user: the bulk page, with the sealed list of the deals they may read."""
    form = kd.emu.state.placement_form(user_id, "CRM_DEAL_LIST_MENU", {"ID": str(deal_id), "URI": "/crm/deal/list/"})
    page = kd._post_page("/b24/bulk", form)
    assert page.status_code == 200, page.text
    match = re.search(r'data-grant="([^"]+)"', page.text)
    assert match
    return html.unescape(match.group(1))


def status(kd: Klikdok, job_id: int) -> dict[str, Any]:
    resp = kd.api("GET", f"/bulk-sends/{job_id}", MANAGER)
    assert resp.status_code == 200, resp.text
    return dict(resp.json())


def test_bulk_send_to_50_deals_survives_kills_and_makes_exactly_one_document_each(
    tmp_path: Path,
    limited: tuple[PortalEmulator, dict[str, str]],
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
) -> None:
    emu, env = limited
    data = tmp_path / "data"
    deals = add_deals_with_contacts(emu.state, 51, without_email={17})
    no_email = deals[17]
    times = record_admissions(emu)
    kd = Klikdok(start_server(data, env=env), emu)
    try:
        kd.install()
        templates = kd.api("GET", "/templates?entity_type=deal", MANAGER).json()
        template = next(t for t in templates if t["name"] == "Договор поставки")
        started = kd.api(
            "POST",
            "/bulk-sends",
            MANAGER,
            json={
                "template_id": template["id"],
                "deal_ids": deals,
                "signers": [DIRECTOR],
                "grant": bulk_grant(kd, MANAGER, deals[0]),
            },
            headers={"Idempotency-Key": "bulk-send-0001"},
        )
        assert started.status_code == 201, started.text
        job_id = started.json()["id"]

        # A kill at a random moment of the run.
        target = random.Random(17).randint(5, 15)
        wait_for(lambda: status(kd, job_id)["done"] >= target, 120, what=f"{target} documents")
        paced_while_one_process_ran = emu.state.rejected
        kd.server.stop(signal.SIGKILL)
        kd.server = start_server(data, env=env)

        # A kill after the portal made a generator document but before the server heard its id.
        stall = emu.state.stall("crm.documentgenerator.document.add", seconds=60)
        wait_for(lambda: stall.times == 0, 60, what="a document.add whose answer is held")
        kd.server.stop(signal.SIGKILL)
        stall.release.set()
        kd.server = start_server(data, env=env)

        final = wait_for(lambda: (s := status(kd, job_id))["finished"] and s, 240, what="the bulk send to finish")
    finally:
        kd.server.stop()

    assert (final["total"], final["done"], final["failed"]) == (51, 50, 1)
    [failure] = [r for r in final["rows"] if r["state"] == "failed"]
    assert failure["entity_id"] == no_email and "нет адреса электронной почты" in failure["error"]

    generated = Counter(int(d["entityId"]) for d in documents_of(emu.state))
    assert sorted(generated) == sorted(d for d in deals if d != no_email)
    assert set(generated.values()) == {1}, "a deal got a second generator document"
    # The held add was carried out by the portal; after the restart it was found, not asked for again.
    assert emu.state.calls.count("crm.documentgenerator.document.add") == 50
    rows = kd.query("SELECT entity_id, count(*) FROM documents GROUP BY entity_id")
    assert len(rows) == 50 and all(n == 1 for _, n in rows)
    linked = kd.query("SELECT count(DISTINCT document_id) FROM bulk_items WHERE state = 'done'")
    assert linked == [(50,)]
    # The counterparty of each document is its deal's contact.
    emails = dict(kd.query("SELECT entity_id, counterparty_email FROM documents"))
    assert all(emails[d] == f"buyer{d}@client.example" for d in generated)

    assert paced_while_one_process_ran == 0, "the portal answered QUERY_LIMIT_EXCEEDED"
    assert emu.state.rejected <= 2 * BURST, "more 503s after the restarts than the portal's bucket holds"
    assert_within_bucket(times)
    assert len(times) > 50 * 5  # the whole run was paced, not a handful of calls


def test_a_bulk_send_only_takes_the_deals_its_page_listed_for_the_user(
    tmp_path: Path,
    limited: tuple[PortalEmulator, dict[str, str]],
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
) -> None:
    emu, env = limited
    deals = add_deals_with_contacts(emu.state, 2)
    with installed_klikdok(tmp_path / "data", emu, env) as kd:
        grant = bulk_grant(kd, MANAGER, deals[0])
        body = {"template_id": 37, "signers": [DIRECTOR]}

        def start(key: str, **more: Any) -> Any:
            return kd.api("POST", "/bulk-sends", MANAGER, json={**body, **more}, headers={"Idempotency-Key": key})

        unknown = start("bulk-key-0001", deal_ids=[deals[0], 999_999], grant=grant)
        assert unknown.status_code == 403 and unknown.json()["error"] == "deal_not_allowed"
        assert "999999" in unknown.json()["message"]
        assert start("bulk-key-0002", deal_ids=deals).json()["error"] == "bulk_not_allowed"  # no grant
        text, mac = grant.rsplit(".", 1)
        forged = f"{text},999999.{mac}"  # one more deal added to the sealed list
        assert start("bulk-key-0003", deal_ids=[999_999], grant=forged).json()["error"] == "bulk_not_allowed"
        # Another user's grant is not this user's.
        other = kd.api(
            "POST",
            "/bulk-sends",
            DIRECTOR,
            json={**body, "deal_ids": deals, "grant": grant},
            headers={"Idempotency-Key": "bulk-key-0004"},
        )
        assert other.status_code == 403 and other.json()["error"] == "bulk_not_allowed"
        assert documents_of(emu.state) == [] and kd.query("SELECT count(*) FROM bulk_jobs") == [(0,)]
        ok = start("bulk-key-0005", deal_ids=deals, grant=grant)
        assert ok.status_code == 201, ok.text
