"""SIGKILL right after the counterparty's signature commits: after a restart the document is completed, the link
is used, the history says who signed, and the confirmation e-mail goes out exactly once (issue 12).

The server kills itself at the ``counterparty.completed`` crash point (:mod:`server.crashpoints`): the moment
the signature's transaction has committed and the page has not been answered yet. Everything the completion
owes the counterparty must be in that transaction; nothing may wait for a second one."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.counterparty.conftest import (
    ALFA_EMAIL,
    PDF,
    Counterparty,
    Exchange,
    SmtpServer,
    counterparty_env,
    link_in,
)
from tests.support.server import start_server
from tests.workflow.conftest import Klikdok, People, wait_for

CONFIRMATION = "подписан обеими сторонами"


def test_killed_after_the_signature_commits_still_confirms_once(
    tmp_path: Path, emulator: Any, people: People, counterparty: Counterparty, smtp: SmtpServer
) -> None:
    data = tmp_path / "data"
    first = start_server(data, env=counterparty_env(people.pki, smtp, KLIKDOK_TEST_CRASH_AT="counterparty.completed"))
    try:
        ex = Exchange(Klikdok(first, emulator), smtp, people)
        ex.kd.install()
        doc_id = ex.company_signed()
        link = link_in(ex.invitation())
        fid = ex.file_ids(doc_id)["Договор №17.pdf"]
        with pytest.raises(httpx.TransportError):  # the server dies before it answers
            ex.upload(link, {fid: counterparty.sign(counterparty.director, PDF)})
        assert first.proc.wait(15) == -signal.SIGKILL
    finally:
        first.stop(signal.SIGKILL)
    # It died after the signature's commit: the document is already completed.
    assert ex.state(doc_id) == "completed"
    assert ex.smtp.mailbox.to(ALFA_EMAIL, CONFIRMATION) == []

    second = start_server(data, env=counterparty_env(people.pki, smtp))
    try:
        ex.kd.server = second
        confirmation = wait_for(lambda: ex.smtp.mailbox.to(ALFA_EMAIL, CONFIRMATION), what="the confirmation e-mail")
        assert "Договор поставки" in str(confirmation[0]["Subject"])
        wait_for(
            lambda: (
                ex.kd.query("SELECT count(*) FROM outbox WHERE kind LIKE 'mail.%' AND status != 'delivered'") == [(0,)]
            ),
            what="the mail outbox delivered",
        )
        time.sleep(1.0)  # several mail worker polls: nothing is sent a second time
        assert len(ex.smtp.mailbox.to(ALFA_EMAIL, CONFIRMATION)) == 1
        assert ex.state(doc_id) == "completed"
        assert ex.kd.query(
            "SELECT answer, answered_at IS NOT NULL FROM counterparty_links WHERE document_id = ?", doc_id
        ) == [("signed", 1)]
        signed = ex.kd.query(
            "SELECT actor, json_extract(details, '$.source') FROM audit_log"
            " WHERE action = 'counterparty.signed' AND object_id = ?",
            str(doc_id),
        )
        assert signed == [(f"counterparty:{ALFA_EMAIL}", "counterparty")]
    finally:
        second.stop()
