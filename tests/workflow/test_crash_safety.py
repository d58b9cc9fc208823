"""SIGKILL between a transition's commit and its notification's delivery: after a restart the notification is
delivered, exactly once. Two windows: the message still waiting (outbox paused), and the message claimed and in
flight while the portal does not answer."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from demo.portal_emulator import PortalEmulator
from tests.support.server import start_server
from tests.workflow.conftest import DIRECTOR, MANAGER, Klikdok, People, server_env, wait_for

PDF = b"%PDF-1.4 crash test\n"


def sign_requests(emu: PortalEmulator, doc_title: str) -> list[dict[str, object]]:
    return [n for n in emu.state.notifications if n["USER_ID"] == DIRECTOR and doc_title in str(n["MESSAGE"])]


def outbox_states(kd: Klikdok) -> list[tuple[str, str]]:
    return kd.query("SELECT kind, status FROM outbox WHERE kind LIKE 'b24.%' ORDER BY id")


def test_killed_before_delivery_delivers_once_after_restart(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    data = tmp_path / "data"
    first = start_server(
        data,
        env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url, KLIKDOK_WORKFLOW_OUTBOX_PAUSED="true"),
    )
    kd = Klikdok(first, own_emulator)
    kd.install()
    doc = kd.create(MANAGER, ("deal", 1), {"c.pdf": PDF}, signers=[DIRECTOR], title="Акт сверки")
    time.sleep(1.0)  # several worker polls: a paused outbox really holds the message
    assert sign_requests(own_emulator, "Акт сверки") == []
    first.stop(signal.SIGKILL)
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert outbox_states(kd) == [("b24.notify", "pending"), ("b24.timeline", "pending")]

    second = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        kd.server = second
        wait_for(lambda: sign_requests(own_emulator, "Акт сверки"), what="notification after restart")
        wait_for(
            lambda: outbox_states(kd) == [("b24.notify", "delivered"), ("b24.timeline", "delivered")],
            what="outbox delivered",
        )
        time.sleep(1.0)
        assert len(sign_requests(own_emulator, "Акт сверки")) == 1
        assert len([c for c in own_emulator.state.timeline_comments if "Акт сверки" in c["COMMENT"]]) == 1
    finally:
        second.stop()


def test_killed_while_the_message_is_in_flight_delivers_once_after_restart(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    data = tmp_path / "data"
    first = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    kd = Klikdok(first, own_emulator)
    kd.install()
    doc = kd.create(MANAGER, ("deal", 1), {"d.pdf": PDF}, signers=[DIRECTOR], title="Счёт-оферта", send=False)
    # The portal starts refusing batches: the worker claims the messages and keeps retrying them in flight.
    own_emulator.state.inject(
        "batch", status=503, code="QUERY_LIMIT_EXCEEDED", description="Too many requests", times=10_000
    )
    assert kd.api("POST", f"/documents/{doc}/send", MANAGER).status_code == 200
    wait_for(lambda: ("b24.notify", "sending") in outbox_states(kd), what="message claimed")
    first.stop(signal.SIGKILL)
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]
    assert ("b24.notify", "sending") in outbox_states(kd)
    assert sign_requests(own_emulator, "Счёт-оферта") == []

    own_emulator.state.faults.clear()
    second = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        kd.server = second
        wait_for(lambda: sign_requests(own_emulator, "Счёт-оферта"), what="notification after restart")
        wait_for(lambda: all(s == "delivered" for _, s in outbox_states(kd)), what="outbox delivered")
        time.sleep(1.0)
        assert len(sign_requests(own_emulator, "Счёт-оферта")) == 1
        recovered = kd.query("SELECT details FROM audit_log WHERE action = 'server.start'")
        assert len(recovered) == 2
    finally:
        second.stop()


def test_killed_after_the_portal_took_the_timeline_comment_posts_it_once(
    tmp_path: Path, own_emulator: PortalEmulator, people: People
) -> None:
    """The worst window: the portal has added the comment, but the server dies before it hears the answer. The
    message comes back as pending after the restart; the worker finds its comment on the card by its text (the
    comment carries no visible marker) and does not post it a second time."""
    data = tmp_path / "data"
    first = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    kd = Klikdok(first, own_emulator)
    kd.install()
    stall = own_emulator.state.stall("crm.timeline.comment.add", seconds=60)
    doc = kd.create(MANAGER, ("deal", 1), {"e.pdf": PDF}, signers=[DIRECTOR], title="Акт приёмки")

    def comments() -> list[dict[str, object]]:
        return [c for c in own_emulator.state.timeline_comments if "Акт приёмки" in str(c["COMMENT"])]

    wait_for(comments, what="the portal adding the comment")
    assert ("b24.timeline", "sending") in outbox_states(kd)  # the answer has not come back: still in flight
    first.stop(signal.SIGKILL)
    stall.release.set()
    assert kd.query("SELECT state FROM documents WHERE id = ?", doc) == [("awaiting_internal",)]

    second = start_server(data, env=server_env(people.pki, KLIKDOK_PORTAL_URL=own_emulator.base_url))
    try:
        kd.server = second
        wait_for(lambda: all(s == "delivered" for _, s in outbox_states(kd)), what="outbox delivered")
        time.sleep(1.0)
        assert len(comments()) == 1
        assert len(sign_requests(own_emulator, "Акт приёмки")) == 1  # the notification's TAG replaced the first
        # It really was a second attempt, and the worker looked before posting.
        assert kd.query("SELECT attempts FROM outbox WHERE kind = 'b24.timeline'") == [(2,)]
        assert "crm.timeline.comment.list" in own_emulator.state.calls
        assert "(KlikDok " not in str(comments()[0]["COMMENT"])  # what the reader sees: the text alone
    finally:
        second.stop()
