"""The portal emulator with ``--state-file`` comes back from SIGKILL with everything it had answered.

The chaos run (benchmarks/chaos.py) kills the emulator's process and counts, at the end, the notifications,
timeline comments and Disk files the server left on the portal: a restart that forgot them would show up there as
"missing", and one that kept an effect it never answered would hide a lost request. Here a real emulator process
gets notifications and enough timeline comments to be saved by changes (demo/portal_snapshot.py BIG), is killed,
started again on the same port, and must list them all; a record torn by a kill mid-append is skipped, not fatal.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from demo import portal_snapshot
from tests.support.server import REPO, clean_env, free_port
from tests.workflow.conftest import wait_for

CODE = "chaoswebhook0001"


class Emulator:
    def __init__(self, tmp: Path) -> None:
        self.port = free_port()
        self.state = tmp / "portal.state"
        self.log = tmp / "emulator.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.hook = f"http://127.0.0.1:{self.port}/rest/1/{CODE}"

    def start(self) -> None:
        args = [sys.executable, "-m", "demo.portal_emulator", "--port", str(self.port), "--rate", "10000",
                "--burst", "10000", "--webhook-code", CODE, "--state-file", str(self.state)]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                args, cwd=REPO, env=clean_env(), stdout=log, stderr=log, start_new_session=True
            )

        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{self.port}/", timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=30, what="the emulator")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    def call(self, method: str, body: dict[str, object]) -> dict[str, object]:
        resp = httpx.post(f"{self.hook}/{method}.json", json=body, timeout=30)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def comments(self) -> list[str]:
        texts: list[str] = []
        start = 0
        while True:
            page = self.call(
                "crm.timeline.comment.list",
                {"filter": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal"}, "order": {"ID": "ASC"}, "start": start},
            )
            texts += [str(row["COMMENT"]) for row in page["result"]]  # type: ignore[union-attr]  # a JSON list of rows
            if "next" not in page:
                return texts
            start = int(page["next"])  # type: ignore[call-overload]  # the JSON number the portal pages by


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[Emulator]:
    emu = Emulator(tmp_path)
    emu.start()
    yield emu
    emu.kill()


def _add_comments(emu: Emulator, first: int, count: int) -> None:
    for chunk in range(first, first + count, 50):
        cmd = {
            f"c{n}": "crm.timeline.comment.add?"
            + httpx.QueryParams(
                {"fields[ENTITY_ID]": "1", "fields[ENTITY_TYPE]": "deal", "fields[COMMENT]": f"Комментарий {n}"}
            ).__str__()
            for n in range(chunk, min(chunk + 50, first + count))
        }
        assert not emu.call("batch", {"halt": 0, "cmd": cmd})["result"]["result_error"]  # type: ignore[index]  # the batch answer's JSON


def test_killed_emulator_restarts_with_what_it_answered(emulator: Emulator) -> None:
    before = len(emulator.comments())
    _add_comments(emulator, 0, portal_snapshot.BIG + 20)  # past BIG: saved by changes, not whole
    note = emulator.call("im.notify.system.add", {"USER_ID": 4, "MESSAGE": "Документ подписан"})["result"]
    emulator.kill()
    emulator.start()
    assert emulator.comments()[before:] == [f"Комментарий {n}" for n in range(portal_snapshot.BIG + 20)]
    saved = portal_snapshot.read_saved(emulator.state)
    assert [n["ID"] for n in saved["notifications"]] == [note]

    _add_comments(emulator, 1000, 3)
    emulator.kill()
    with open(emulator.state.with_name("portal.state.journal"), "ab") as journal:
        journal.write(b"\x80\x05\x95torn")  # a record cut short by the kill
    emulator.start()
    texts = emulator.comments()[before:]
    assert texts[-3:] == ["Комментарий 1000", "Комментарий 1001", "Комментарий 1002"]
    assert len(texts) == portal_snapshot.BIG + 23
    # The restart folded the journal into the base: the torn bytes are gone, and new calls are kept again.
    _add_comments(emulator, 2000, 1)
    emulator.kill()
    emulator.start()
    assert emulator.comments()[-1] == "Комментарий 2000"
