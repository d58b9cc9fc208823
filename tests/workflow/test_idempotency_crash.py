"""A server killed after a keyed request committed, before its answer was kept, never runs that request twice.

Found by the chaos run (benchmarks/chaos.py, issue 19): a manager's «Создать» was answered by no one (the server
died), the page sent it again with the same Idempotency-Key after the restart, and there were two documents. The
key's row was still ``running`` at the kill, and the start-up freed every running key, as if nothing had happened,
though the document had committed. Now each transaction a keyed request commits marks its key in the same
transaction; at start-up a marked key is not freed, and the repeat is told the request was interrupted after its
change was saved (409 ``request_interrupted``), instead of doing it again. A request killed before it changed
anything still frees its key (the repeat runs).
"""

from __future__ import annotations

import signal
import uuid
from pathlib import Path

import httpx
import pytest

from tests.support.server import start_server
from tests.workflow.conftest import MANAGER, Klikdok, People, installed_klikdok, server_env

DEAL = ("deal", 1)
PDF = b"%PDF-1.7\n" + "Договор поставки №19 от 07.12.2026".encode() + b"\n%%EOF\n"


def _create(kd: Klikdok, key: str, title: str) -> httpx.Response:
    return kd.api(
        "POST",
        "/documents",
        MANAGER,
        DEAL,
        headers={"Idempotency-Key": key},
        data={"title": title, "signers": "1", "send": "1"},
        files=[("files", ("Договор.pdf", PDF, "application/pdf"))],
    )


def test_a_create_killed_before_its_answer_was_kept_is_not_made_twice(tmp_path: Path, emulator, people: People) -> None:  # type: ignore[no-untyped-def]  # pytest fixture argument left unannotated
    data = tmp_path / "data"
    env = server_env(people.pki)
    first = start_server(data, env={**env, "KLIKDOK_TEST_CRASH_AT": "idempotency.answering"})
    with installed_klikdok(data, emulator, env, srv=first) as kd:
        kd.session(MANAGER, DEAL)
        key, title = str(uuid.uuid4()), "Договор, ответ на который потерян"
        with pytest.raises(httpx.TransportError):  # the server dies before the answer is kept
            _create(kd, key, title)
        assert first.proc.wait(15) == -signal.SIGKILL
        assert kd.query("SELECT count(*) FROM documents WHERE title = ?", title) == [(1,)]

        kd.server = start_server(data, env=env, port=int(first.url.rsplit(":", 1)[1]))
        again = _create(kd, key, title)
        assert again.status_code == 409, again.text
        assert again.json()["error"] == "request_interrupted"
        assert "обновите страницу" in again.json()["message"]
        assert kd.query("SELECT count(*) FROM documents WHERE title = ?", title) == [(1,)]
        assert kd.query("SELECT count(*) FROM audit_log WHERE action = 'document.created'") == [(1,)]
