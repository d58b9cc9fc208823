"""The chaos run, short: a few documents through the whole flow while every kind of process is killed (issue 19).

One test, about a minute and a half: ``benchmarks.chaos.run`` with a fixed seed starts the portal emulator, the SMTP
sink, ``klikdok serve`` and two agents as process groups, drives documents (agents, ``.sig`` uploads, the
counterparty's link) while SIGKILLing each kind at least once, and counts what is left. Any lost or duplicated
document, letter, notification, comment or Disk file, or a state its history does not explain, fails it.
Then the checks are shown to fail: a second copy of a letter and a Disk file nobody owns are slipped into the
stopped run's files and the same checks must name both. ``make chaos`` runs the long one.
"""

from __future__ import annotations

import mailbox
import pickle
from pathlib import Path

from benchmarks import chaos, chaos_smtp
from demo import portal_snapshot


def test_short_chaos_run_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    work = tmp_path / "chaos"
    lines: list[str] = []
    report = chaos.run(
        chaos.Options(
            documents=12,
            minutes=0.6,
            seed=19,
            concurrency=3,
            kill_every=4.0,
            settle_seconds=20.0,
            drain_seconds=25.0,
            workdir=work,
        ),
        out=lines.append,
    )
    table = "\n".join(lines)
    assert report.ok, table
    figures = report.figures
    for kind in chaos.VICTIMS:  # every kind of process was killed at least once
        assert f"{kind} " in figures["kills"], table
    assert figures["documents created"] >= 3, table
    assert figures["documents lost"] == 0 and figures["documents duplicated"] == 0, table
    assert figures["e-mails sent (outbox)"] >= 1 and figures["e-mails duplicated"] == 0, table
    assert figures["klikdok audit verify"] == "OK", table

    # The checks can fail: a letter the server "sent twice" and a Disk file no document owns.
    letters = chaos_smtp.received(work / "mail")
    box = mailbox.Maildir(work / "mail", create=False)
    copy = box.add(box.get_bytes(letters[0].key))
    with open(work / "mail" / chaos_smtp.ANSWERED, "a") as log:
        log.write(copy + "\n")
    state_file = work / "portal.state"
    state = portal_snapshot.read_saved(state_file)
    state["files"][99999] = {"ID": "99999", "NAME": "чужой.pdf", "STORAGE_ID": state["storage"]["ID"]}
    state_file.write_bytes(pickle.dumps(state))
    state_file.with_name("portal.state.journal").write_bytes(b"")
    assert report.recheck is not None
    again = report.recheck()
    assert not again.ok
    assert again.figures["e-mails duplicated"] == 1, again.table()
    assert again.figures["Disk files orphan/duplicated/missing/not copied"].startswith("1/"), again.table()
