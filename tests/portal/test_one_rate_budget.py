"""The server's clients of one portal spend one rate budget, as the portal counts them.

The portal counts every request of the application against one leaky bucket. The server checked the tokens of
page POSTs with a client of its own, pacing itself apart from the client that does the work (notifications,
Disk, the CRM): each kept within the bucket, together they overflowed it and met 503 QUERY_LIMIT_EXCEEDED
whenever pages opened while documents went out.
"""

from __future__ import annotations

import threading
from pathlib import Path

from tests.support.server import start_server
from tests.workflow.conftest import (  # noqa: F401 - fixtures re-exported
    DIRECTOR,
    MANAGER,
    Klikdok,
    People,
    gost_pki,
    people,
    rate_limited_portal,
    wait_for,
)

RATE, BURST = 10.0, 5


def test_page_checks_and_the_work_share_the_portals_bucket(
    people: People,  # noqa: F811  pytest injects the imported fixture of this name
    tmp_path: Path,
) -> None:
    with rate_limited_portal(people.pki, RATE, BURST) as (emu, env):
        _race_pages_and_work(Klikdok(start_server(tmp_path / "data", env=env), emu))
    assert emu.state.rejected == 0, "the portal answered QUERY_LIMIT_EXCEEDED"


def _race_pages_and_work(kd: Klikdok) -> None:
    try:
        kd.install()
        kd.session(MANAGER, ("deal", 1))  # the author's page, opened before the race below
        errors: list[BaseException] = []

        def open_pages() -> None:
            # Other people open the app while the author's documents go out: each POST's token is checked.
            try:
                for user in (2, 3, 5, 6, 7, DIRECTOR):
                    kd.session(user)
            except BaseException as exc:  # reported below, not lost in the thread
                errors.append(exc)

        pages = threading.Thread(target=open_pages)
        pages.start()
        docs = [
            kd.create(MANAGER, ("deal", 1), {f"Договор №{n}.pdf": b"%PDF-1.4 " + bytes([n])}, [DIRECTOR])
            for n in range(3)
        ]
        pages.join(120)
        assert not errors, errors
        # The work (the signer's notifications, Disk copies, the card's timeline) is done through the portal.
        wait_for(
            lambda: kd.query("SELECT count(*) FROM outbox WHERE status IN ('pending', 'sending')") == [(0,)],
            120,
            what="outbox",
        )
        assert len(docs) == 3
    finally:
        kd.server.stop()
