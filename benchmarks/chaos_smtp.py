"""The chaos run's SMTP sink: an aiosmtpd server on loopback that files every letter in a Maildir before it says 250.

Run as ``python -m benchmarks.chaos_smtp --port P --maildir DIR``; the chaos driver kills it with SIGKILL and
starts it again, and at the end counts what it received (:func:`received`). A letter is stored (Maildir's
write-to-tmp-then-rename, so a kill never leaves half a letter) and then its key is appended to ``answered.log``
just before the 250 goes out. A copy whose key is not in the log was stored by a sink that died before answering:
the server rightly sends that letter again, and the second copy is a redelivery the sink caused, not a duplicate
the server made.
"""

from __future__ import annotations

import argparse
import email
import email.policy
import mailbox
import os
import signal
import threading
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

ANSWERED = "answered.log"


class MaildirSink:
    """aiosmtpd handler: store, log as answered, answer."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.box = mailbox.Maildir(root, create=True)
        self.lock = threading.Lock()

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        with self.lock:
            key = self.box.add(raw)
            with open(self.root / ANSWERED, "a") as log:
                log.write(key + "\n")
        return "250 Message accepted for delivery"


@dataclass(frozen=True)
class Letter:
    key: str
    message_id: str
    to: str
    subject: str
    body: str
    answered: bool


def received(root: Path, skip: set[str] | frozenset[str] = frozenset()) -> list[Letter]:
    """Every letter in the Maildir (answered or not) but those in ``skip``, parsed."""
    if not root.exists():
        return []
    answered = set((root / ANSWERED).read_text().split()) if (root / ANSWERED).exists() else set()
    box = mailbox.Maildir(root, create=False)
    letters = []
    for key in box.keys():
        if key in skip:
            continue
        with box.get_file(key) as f:
            msg = email.message_from_binary_file(f, policy=email.policy.default)
        part = msg.get_body(preferencelist=("plain",))  # type: ignore[attr-defined]  # the default policy gives an EmailMessage
        body = part.get_content() if part is not None else ""
        letters.append(
            Letter(
                key,
                str(msg["Message-ID"] or ""),
                str(msg["To"] or ""),
                str(msg["Subject"] or ""),
                body,
                key in answered,
            )
        )
    return letters


def by_message_id(letters: list[Letter]) -> dict[str, list[Letter]]:
    groups: dict[str, list[Letter]] = defaultdict(list)
    for letter in letters:
        groups[letter.message_id].append(letter)
    return groups


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="SMTP-приёмник хаос-прогона: письма в Maildir")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--maildir", required=True)
    args = parser.parse_args(argv)
    controller = Controller(MaildirSink(Path(args.maildir)), hostname="127.0.0.1", port=args.port)
    controller.start()
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(f"ready {os.getpid()}", flush=True)
    try:
        stop.wait()
    except KeyboardInterrupt:
        pass
    finally:
        controller.stop()


if __name__ == "__main__":
    main()
