"""The chaos run: N documents through the whole flow while the server, the agents, the SMTP server and the portal
emulator are killed with SIGKILL and started again at random; at the end, what each of them holds is counted.

Run: ``python -m benchmarks.chaos --documents N --minutes M --seed S`` (``make chaos N=10000`` runs the long one;
tests/chaos/test_chaos_short.py a short one in ``make test``). Everything is a real process in its own process
group on loopback, started here and killed by group at the end, on Ctrl-C and on failure:

- ``klikdok serve`` (a fixed port, so the agents and the portal find it again after a restart);
- the portal emulator (``python -m demo.portal_emulator --state-file``): its state is written before each answer
  (:mod:`demo.portal_snapshot`), so it survives its own SIGKILL like a portal's database, and the final counts
  read that file. A separate process, not a listener in this one, because a kill must be able to land between the
  portal acting and the portal answering, which is the window the server's outbox has to survive;
- an SMTP sink (:mod:`benchmarks.chaos_smtp`) that files letters in a Maildir before answering;
- one ``klikdok-agent`` per internal signer, openssl backend.

Each document: a manager creates it from the deal's CRM tab (a session from the emulator's placement form, as the
portal's card posts it), with two internal signers; each signs either through their agent (``sign-request``) or by
uploading ``.sig`` files made with ``openssl cms``; then the counterparty opens the link in the invitation that
reached the SMTP sink and uploads their signatures (or, for one document in eight, rejects). Every POST carries an
Idempotency-Key and is repeated with it until it gets an answer, as a page or a browser would.

The checks (:func:`check`): no document lost or duplicated; each letter the outbox sent reached the sink once
(copies a dying sink stored without answering are counted apart); each notification, timeline comment and Disk
file on the portal belongs to exactly one outbox message, signature, file or paper copy, and each of those is
there once; every document's state is the one its audit history leads to; ``klikdok audit verify`` passes.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import functools
import html
import json
import os
import random
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx

from benchmarks import chaos_smtp
from demo import portal_snapshot
from demo.bitrix24_seed import inn10, ogrn13
from demo.demo_people import own_company
from tests.support.openssl_pki import Issued, OpenSSLPki
from tests.support.server import REPO, clean_env, free_port

MANAGER = 4
SIGNERS = (1, 5)  # the director and the chief accountant (demo/bitrix24_seed.py)
SIGNER_NAMES = {1: ("Соколов Андрей Викторович", "12345678901"), 5: ("Новикова Елена Петровна", "23456789012")}
DEAL = 1  # with ООО «Альфа-Поставка» (company 2), whose e-mail gets the invitations
MESSAGE_ID_RE = re.compile(r"<klikdok\.(\d+)@")  # server/mail/messages.py: the outbox message's id
LINK_RE = re.compile(r"http://127\.0\.0\.1:\d+/c/[A-Za-z0-9_-]{43}")
FINAL = {"completed", "rejected_counterparty", "rejected_internal", "withdrawn", "expired", "deleted"}
WAITING = {"awaiting_internal", "awaiting_counterparty"}
# The state each closing audit action leaves a document in; the last such action must match the document's state.
STATE_AFTER = {
    "document.sent": "awaiting_internal",
    "document.internal_completed": "awaiting_counterparty",
    "document.completed": "completed",
}
ONCE = ("document.created", "document.sent", "document.internal_completed")
VICTIMS = ("server", "agent", "smtp", "emulator")


# ---- processes -----------------------------------------------------------------------------------------------


@dataclass
class Proc:
    """A program in its own process group: killed by group, so nothing it started outlives it."""

    name: str
    argv: list[str]
    env: dict[str, str]
    log: Path
    popen: subprocess.Popen[bytes] | None = None
    starts: int = 0
    kills: int = 0

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=REPO,
                env=self.env,
                stdout=out,
                stderr=out,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.starts += 1

    def kill(self, sig: int = signal.SIGKILL) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, sig)
        try:
            self.popen.wait(20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.popen.pid, signal.SIGKILL)
            self.popen.wait()
        with contextlib.suppress(ProcessLookupError):  # anything left in the group
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen = None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


def wait_http(url: str, timeout: float = 60) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=2).status_code < 500:
                return True
        time.sleep(0.1)
    return False


def wait_port(port: int, timeout: float = 30) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        time.sleep(0.1)
    return False


# ---- the run's world -----------------------------------------------------------------------------------------


@dataclass
class People:
    pki: OpenSSLPki
    root: Issued
    inter: Issued
    crls: list[Path]
    signers: dict[int, Issued]
    counterparty: Issued

    def sign(self, cert: Issued, data: bytes) -> bytes:
        return self.pki.sign(cert, data)


def make_people(root: Path) -> People:
    pki = OpenSSLPki(root)
    ca = pki.root_ca("root", algorithm="gost2012_512", paramset="A")
    inter = pki.issue(ca, "inter", subject=pki.subject(C="RU", O="Тестовый УЦ", CN="Chaos GOST CA"), profile="v3_ca")
    own = own_company()
    signers = {
        uid: pki.issue(
            inter, f"person-{uid}", subject=pki.subject(C="RU", O=own.name, CN=cn, INNLE=own.inn, SNILS=snils)
        )
        for uid, (cn, snils) in SIGNER_NAMES.items()
    }
    counterparty = pki.issue(
        inter,
        "alfa-director",
        subject=pki.subject(
            C="RU",
            O="ООО «Альфа-Поставка»",
            title="Генеральный директор",
            CN="Орлов Дмитрий Сергеевич",
            INNLE=inn10("500987654"),
            OGRN=ogrn13("115500098765"),
            SNILS="56789012345",
        ),
    )
    return People(pki, ca, inter, [pki.crl(inter), pki.crl(ca)], signers, counterparty)


class Cluster:
    """The four kinds of process the run kills, with fixed ports so each comes back where the others look."""

    def __init__(self, work: Path, people: People) -> None:
        self.work = work
        self.data = work / "data"
        self.data.mkdir(parents=True, exist_ok=True)
        self.server_port, self.portal_port, self.smtp_port = free_port(), free_port(), free_port()
        self.server_url = f"http://127.0.0.1:{self.server_port}"
        self.portal_url = f"http://127.0.0.1:{self.portal_port}"
        self.state_file = work / "portal.state"
        self.maildir = work / "mail"
        py = sys.executable
        self.emulator = Proc(
            "emulator",
            [py, "-m", "demo.portal_emulator", "--port", str(self.portal_port), "--rate", "100000",
             "--burst", "100000", "--token-lifetime", "604800", "--state-file", str(self.state_file)],
            clean_env(),
            work / "emulator.log",
        )  # fmt: skip
        self.smtp = Proc(
            "smtp",
            [py, "-m", "benchmarks.chaos_smtp", "--port", str(self.smtp_port), "--maildir", str(self.maildir)],
            clean_env(),
            work / "smtp.log",
        )
        server_env = clean_env(
            KLIKDOK_STORAGE_DATA_DIR=str(self.data),
            KLIKDOK_SERVER_LISTEN=f"127.0.0.1:{self.server_port}",
            KLIKDOK_SERVER_PUBLIC_URL=self.server_url,
            KLIKDOK_SERVER_WATCHDOG="false",
            KLIKDOK_PORTAL_URL=self.portal_url,
            KLIKDOK_PORTAL_RATE_PER_SECOND="1000",
            KLIKDOK_PORTAL_BURST="1000",
            KLIKDOK_TRUST_ROOTS=json.dumps([str(people.root.cert)]),
            KLIKDOK_TRUST_INTERMEDIATES=json.dumps([str(people.inter.cert)]),
            KLIKDOK_TRUST_CRLS=json.dumps([str(p) for p in people.crls]),
            KLIKDOK_WORKFLOW_OUTBOX_POLL_SECONDS="0.2",
            KLIKDOK_AGENTS_HEARTBEAT_SECONDS="2",
            KLIKDOK_AGENTS_DISPATCH_SECONDS="0.2",
            KLIKDOK_SMTP_HOST="127.0.0.1",
            KLIKDOK_SMTP_PORT=str(self.smtp_port),
            KLIKDOK_SMTP_SENDER="edo@vector.example",
            KLIKDOK_SMTP_POLL_SECONDS="0.2",
            KLIKDOK_SMTP_RETRY_BASE_SECONDS="0.5",
            KLIKDOK_SMTP_RETRY_MAX_SECONDS="2",
            KLIKDOK_COUNTERPARTY_SCAN_SECONDS="0.5",
        )
        self.server = Proc("server", [py, "-m", "server.cli", "serve"], server_env, work / "server.log")
        agent_env = {k: v for k, v in clean_env().items() if not k.startswith("KLIKDOK_AGENT")}
        self.agents: dict[int, Proc] = {}
        for uid, cert in people.signers.items():
            home = work / f"agent-{uid}"
            home.mkdir(exist_ok=True)
            (home / "agent.toml").write_text(
                f'[backend]\nkind = "openssl"\ncertificate = {json.dumps(str(cert.cert))}\n'
                f'key_file = {json.dumps(str(cert.key))}\n\n[logging]\nlevel = "info"\n'
            )
            self.agents[uid] = Proc(
                f"agent-{uid}",
                [py, "-m", "agent.cli", "--config", str(home / "agent.toml"), "run"],
                agent_env,
                home / "agent.log",
            )

    @property
    def db_path(self) -> Path:
        return self.data / "klikdok.db"

    def all(self) -> list[Proc]:
        return [self.server, *self.agents.values(), self.smtp, self.emulator]

    def start_emulator(self) -> None:
        self.emulator.start()
        if not wait_http(f"{self.portal_url}/marketplace/local/installed", 30):
            raise RuntimeError(f"the portal emulator did not start:\n{self.emulator.log.read_text()[-3000:]}")

    def start_smtp(self) -> None:
        self.smtp.start()
        if not wait_port(self.smtp_port):
            raise RuntimeError(f"the SMTP sink did not start:\n{self.smtp.log.read_text()[-3000:]}")

    def start_server(self, timeout: float = 60) -> None:
        self.server.start()
        if not wait_http(f"{self.server_url}/healthz", timeout):
            raise RuntimeError(f"the server did not become healthy:\n{self.server.log.read_text()[-3000:]}")

    def restart(self, proc: Proc) -> None:
        """Start ``proc`` again after a kill and wait until it serves (a server start waits out its own recovery)."""
        if proc is self.server:
            self.start_server()
        elif proc is self.emulator:
            self.start_emulator()
        elif proc is self.smtp:
            self.start_smtp()
        else:
            proc.start()

    def stop_all(self, sig: int = signal.SIGKILL) -> None:
        for proc in self.all():
            proc.kill(sig)


# ---- acting as the portal's users ----------------------------------------------------------------------------


class Transient(Exception):
    """The other side is down or restarting: the same request is sent again."""


_FORM = re.compile(r'<form id="placement-form" method="POST" target="app-frame" action="([^"]+)">(.*?)</form>', re.S)
_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')


class Users:
    """Sessions of the portal's users on the server, opened the way the CRM card opens the app's tab."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.sessions: dict[int, str] = {}
        self.lock = threading.Lock()

    def _frame_post(self, page_url: str, what: str) -> httpx.Response:
        page = httpx.get(page_url, timeout=30)
        if page.status_code >= 500:
            raise Transient(f"portal {page.status_code}")
        match = _FORM.search(page.text)
        if match is None:
            raise RuntimeError(f"{what}: no placement form on {page_url}")
        form = {html.unescape(k): html.unescape(v) for k, v in _INPUT.findall(match.group(2))}
        resp = httpx.post(html.unescape(match.group(1)), data=form, timeout=60)
        if resp.status_code >= 500:
            raise Transient(f"server {resp.status_code} on {what}")
        return resp

    def install(self) -> None:
        handler = f"{self.cluster.server_url}/b24/install"
        query = urlencode({"handler": handler, "user": "1"})
        resp = self._frame_post(f"{self.cluster.portal_url}/marketplace/local/install/?{query}", "install")
        if resp.status_code != 200:
            raise RuntimeError(f"install: {resp.status_code} {resp.text[:500]}")

    def session(self, user_id: int, fresh: bool = False) -> str:
        with self.lock:
            if not fresh and user_id in self.sessions:
                return self.sessions[user_id]
        resp = self._frame_post(f"{self.cluster.portal_url}/crm/deal/details/{DEAL}/?user={user_id}", "tab")
        match = re.search(r'data-session="([^"]+)"', resp.text)
        if resp.status_code != 200 or match is None:
            raise Transient(f"tab page {resp.status_code}")
        with self.lock:
            self.sessions[user_id] = match.group(1)
        return match.group(1)

    def api(self, method: str, path: str, user_id: int, key: str | None = None, **kwargs: Any) -> httpx.Response:
        """One request as ``user_id``; Transient when there was no answer or the server was not itself."""
        for fresh in (False, True):
            headers = {"X-KlikDok-Session": self.session(user_id, fresh)}
            if key:
                headers["Idempotency-Key"] = key
            resp = httpx.request(
                method, f"{self.cluster.server_url}/api/v1{path}", headers=headers, timeout=60, **kwargs
            )
            if resp.status_code != 401:
                break
        if resp.status_code == 409 and '"request_interrupted"' in resp.text:
            return resp  # done before the server died: the caller looks at what was saved
        if resp.status_code >= 500 or resp.status_code in (401, 409):
            raise Transient(f"{method} {path}: {resp.status_code} {resp.text[:200]}")
        return resp


def persist(fn: Callable[[], Any], deadline: float, stop: threading.Event, pause: float = 0.3) -> Any:
    """Call ``fn`` until it returns without a transport error or :class:`Transient` (or time is up)."""
    while True:
        try:
            return fn()
        except (httpx.HTTPError, Transient, OSError):
            if time.monotonic() > deadline or stop.is_set():
                raise
            time.sleep(pause)


# ---- one document --------------------------------------------------------------------------------------------


@dataclass
class Plan:
    index: int
    title: str
    files: dict[str, bytes]
    channel: dict[int, str]  # signer -> "agent" | "upload"
    counterparty_rejects: bool


def plan_of(seed: int, index: int) -> Plan:
    rng = random.Random(f"{seed}/{index}")
    title = f"Хаос {seed}/{index:06d}"
    files = {f"Договор {index}.pdf": b"%PDF-1.7\n" + f"{title}: {rng.random()}".encode() + b"\n%%EOF\n"}
    if rng.random() < 0.5:
        files[f"Приложение {index}.pdf"] = b"%PDF-1.7\n" + f"{title} приложение {rng.random()}".encode() + b"\n%%EOF\n"
    channel = {uid: rng.choice(("agent", "upload")) for uid in SIGNERS}
    return Plan(index, title, files, channel, rng.random() < 0.125)


@dataclass
class Tally:
    """What the driver saw, for the report (counted from several threads)."""

    created: dict[int, int] = field(default_factory=dict)  # plan index -> document id
    replays: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    resent_sign_requests: int = 0
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, what: str) -> None:
        with self.lock:
            self.refusals[what] += 1


class Inbox:
    """The sink's letters by subject, each letter read once (a long run has tens of thousands)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.seen: set[str] = set()
        self.links: dict[str, str] = {}
        self.lock = threading.Lock()

    def link(self, subject: str) -> str | None:
        with self.lock:
            if subject not in self.links:
                for letter in chaos_smtp.received(self.root, skip=self.seen):
                    self.seen.add(letter.key)
                    if match := LINK_RE.search(letter.body):
                        self.links.setdefault(letter.subject, match.group(0))
            return self.links.get(subject)


class Driver:
    def __init__(self, cluster: Cluster, people: People, seed: int, stop: threading.Event) -> None:
        self.cluster = cluster
        self.people = people
        self.seed = seed
        self.stop = stop
        self.users = Users(cluster)
        self.tally = Tally()
        self.http = httpx.Client(timeout=60)
        self.inbox = Inbox(cluster.maildir)

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(f"file:{self.cluster.db_path}?mode=ro", uri=True, timeout=30)
        try:
            return conn.execute(sql, params).fetchall()
        finally:
            conn.close()

    def key(self, *parts: object) -> str:
        return "chaos-" + "-".join(str(p) for p in (self.seed, *parts))

    # -- setup, before anything is killed --

    def setup(self) -> None:
        deadline = time.monotonic() + 120
        persist(self.users.install, deadline, self.stop)
        for uid, cert in self.people.signers.items():
            challenge = persist(
                lambda uid=uid: self.users.api("POST", "/me/certificates/challenge", uid).json()["challenge"],
                deadline,
                self.stop,
            )
            body = {
                "certificate": cert.cert_pem.decode(),
                "challenge": challenge,
                "signature": base64.b64encode(self.people.sign(cert, challenge.encode())).decode(),
            }
            resp = self.users.api("POST", "/me/certificates", uid, key=self.key("cert", uid), json=body)
            if resp.status_code != 201:
                raise RuntimeError(f"certificate of {uid}: {resp.status_code} {resp.text}")
            code = self.users.api("POST", "/agents/pairing-codes", uid, key=self.key("pair", uid)).json()["code"]
            agent = self.cluster.agents[uid]
            done = subprocess.run(
                [*agent.argv[:-1], "pair", self.cluster.server_url, code],
                cwd=REPO,
                env=agent.env,
                capture_output=True,
                text=True,
                timeout=120,
            )
            if done.returncode != 0:
                raise RuntimeError(f"pairing agent of {uid}: {done.stdout}{done.stderr}")

    # -- the flow --

    def run_document(self, plan: Plan, deadline: float) -> None:
        try:
            self._run_document(plan, deadline)
        except Exception as exc:  # the report names it; the run goes on with the other documents
            with self.tally.lock:
                where = traceback.extract_tb(exc.__traceback__)[-1]
                self.tally.errors.append(f"{plan.title}: {type(exc).__name__}: {exc} (line {where.lineno})")

    def _run_document(self, plan: Plan, deadline: float) -> None:
        def create() -> int:
            resp = self.users.api(
                "POST",
                "/documents",
                MANAGER,
                key=self.key("create", plan.index),
                data={"title": plan.title, "signers": ",".join(map(str, SIGNERS)), "send": "1"},
                files=[("files", (name, data, "application/pdf")) for name, data in plan.files.items()],
            )
            if resp.status_code == 409:  # request_interrupted: the document was made, its answer was lost
                self.tally.refused("create interrupted after its commit")
                [(found,)] = self.query("SELECT id FROM documents WHERE title = ?", plan.title)
                return int(found)
            if resp.status_code != 201:
                raise RuntimeError(f"create: {resp.status_code} {resp.text[:300]}")
            if resp.headers.get("Idempotent-Replayed") == "true":
                with self.tally.lock:
                    self.tally.replays += 1
            return int(resp.json()["id"])

        doc_id = persist(create, deadline, self.stop)
        with self.tally.lock:
            self.tally.created[plan.index] = doc_id
        attempts: Counter[int] = Counter()
        asked_at: dict[int, float] = {}
        while time.monotonic() < deadline and not self.stop.is_set():
            [(state,)] = self.query("SELECT state FROM documents WHERE id = ?", doc_id)
            if state in FINAL:
                return
            if state == "awaiting_internal":
                current = self.query(
                    "SELECT id, user_id FROM route_steps"
                    " WHERE document_id = ? AND state = 'current' AND kind = 'internal'",
                    doc_id,
                )
                if current:
                    step_id, user_id = current[0]
                    if plan.channel[user_id] == "upload":
                        persist(functools.partial(self._upload, plan, doc_id, step_id, user_id), deadline, self.stop)
                    elif step_id not in asked_at or time.monotonic() - asked_at[step_id] > 45:
                        if step_id in asked_at:
                            with self.tally.lock:
                                self.tally.resent_sign_requests += 1
                        attempts[step_id] += 1
                        persist(
                            functools.partial(self._sign_request, doc_id, step_id, user_id, attempts[step_id]),
                            deadline,
                            self.stop,
                        )
                        asked_at[step_id] = time.monotonic()
            elif state == "awaiting_counterparty":
                link = self._invitation_link(plan.title)
                if link:
                    persist(functools.partial(self._counterparty, plan, doc_id, link), deadline, self.stop)
            time.sleep(0.3)

    def _upload(self, plan: Plan, doc_id: int, step_id: int, user_id: int) -> None:
        signed = {fid for (fid,) in self.query("SELECT file_id FROM signatures WHERE step_id = ?", step_id)}
        for fid, name in self.query("SELECT id, name FROM document_files WHERE document_id = ?", doc_id):
            if fid in signed:
                continue
            cms = self.people.sign(self.people.signers[user_id], plan.files[name])
            resp = self.users.api(
                "POST",
                f"/documents/{doc_id}/files/{fid}/signatures",
                user_id,
                key=self.key("sig", doc_id, fid, step_id),
                content=cms,
            )
            if resp.status_code != 201:
                self.tally.refused(f"upload {resp.status_code}")

    def _sign_request(self, doc_id: int, step_id: int, user_id: int, attempt: int) -> None:
        resp = self.users.api(
            "POST",
            "/documents/sign-request",
            user_id,
            key=self.key("job", doc_id, step_id, attempt),
            json={"document_ids": [doc_id], "channel": "agent"},
        )
        if resp.status_code != 200:
            self.tally.refused(f"sign-request {resp.status_code}")

    def _invitation_link(self, title: str) -> str | None:
        return self.inbox.link(f"Документ на подпись: {title}")

    def _counterparty(self, plan: Plan, doc_id: int, link: str) -> None:
        page = self.http.get(link)
        if page.status_code >= 500:
            raise Transient(f"public page {page.status_code}")
        [(state,)] = self.query("SELECT state FROM documents WHERE id = ?", doc_id)
        if state != "awaiting_counterparty":
            return
        base = link.split("/c/")[0]
        if plan.counterparty_rejects:
            action = re.search(r'action="([^"]*/reject\?key=[^"]+)"', page.text)
            if action is None:
                raise Transient("no reject form on the public page")
            resp = self.http.post(base + html.unescape(action.group(1)), data={"reason": "Хаос-прогон: не согласны"})
        else:
            action = re.search(r'action="([^"]*/sign\?key=[^"]+)"', page.text)
            if action is None:
                raise Transient("no upload form on the public page")
            names = dict(self.query("SELECT id, name FROM document_files WHERE document_id = ?", doc_id))
            files = [
                (
                    f"sig_{fid}",
                    (
                        f"{fid}.sig",
                        self.people.sign(self.people.counterparty, plan.files[names[int(fid)]]),
                        "application/octet-stream",
                    ),
                )
                for fid in re.findall(r'name="sig_(\d+)"', page.text)
            ]
            resp = self.http.post(base + html.unescape(action.group(1)), files=files)
        if resp.status_code >= 500:
            raise Transient(f"public POST {resp.status_code}")
        if resp.status_code >= 400:
            self.tally.refused(f"public {resp.status_code}")


# ---- chaos ---------------------------------------------------------------------------------------------------


@dataclass
class ChaosLog:
    kills: Counter[str] = field(default_factory=Counter)
    restart_failures: list[str] = field(default_factory=list)


def chaos_loop(cluster: Cluster, rng: random.Random, stop: threading.Event, mean_gap: float, log: ChaosLog) -> None:
    """Until ``stop``: wait a random while, SIGKILL one process group, wait a moment, start it again. The first
    four kills take each kind once (in a random order, three times as often), so even a short run has killed
    every one of them."""
    first = list(VICTIMS)
    rng.shuffle(first)
    while not stop.wait(rng.expovariate(1 / (mean_gap / 3 if first else mean_gap))):
        kind = first.pop() if first else rng.choice(VICTIMS)
        proc = rng.choice(list(cluster.agents.values())) if kind == "agent" else getattr(cluster, kind)
        proc.kill(signal.SIGKILL)
        proc.kills += 1
        log.kills[kind] += 1
        time.sleep(rng.uniform(0, 1.0))
        try:
            cluster.restart(proc)
        except RuntimeError as exc:
            log.restart_failures.append(str(exc)[:500])
            with contextlib.suppress(RuntimeError):
                cluster.restart(proc)


# ---- the checks ----------------------------------------------------------------------------------------------


@dataclass
class Report:
    figures: dict[str, Any]
    problems: list[str]
    # The same checks again on the stopped run's files (the test alters them to see the checks fail).
    recheck: Callable[[], Report] | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def table(self) -> str:
        width = max(len(k) for k in self.figures)
        lines = [f"  {k:<{width}}  {v}" for k, v in self.figures.items()]
        lines.append("  RESULT: " + ("OK" if self.ok else "FAILED"))
        lines += [f"  ! {p}" for p in self.problems]
        return "\n".join(lines)


def check(cluster: Cluster, driver: Driver, planned: int, baseline_comments: set[int]) -> Report:
    q = driver.query
    tally = driver.tally
    problems: list[str] = []
    figures: dict[str, Any] = {}
    prefix = f"Хаос {driver.seed}/"
    rows = q("SELECT id, title, state FROM documents WHERE title LIKE ?", prefix + "%")
    by_title = Counter(title for _, title, _ in rows)
    ids = {doc_id for doc_id, _, _ in rows}
    lost = [i for i, doc_id in tally.created.items() if doc_id not in ids]
    duplicated = sum(n - 1 for n in by_title.values())
    states = Counter(state for _, _, state in rows)
    figures["documents planned"] = planned
    figures["documents created"] = len(rows)
    figures["documents lost"] = len(lost)
    figures["documents duplicated"] = duplicated
    figures["states"] = ", ".join(f"{s} {n}" for s, n in sorted(states.items()))
    if lost:
        problems.append(f"lost documents: {lost[:10]}")
    if duplicated:
        problems.append(f"duplicated titles: {[t for t, n in by_title.items() if n > 1][:10]}")
    odd = [(doc_id, s) for doc_id, _, s in rows if s not in FINAL | WAITING]
    if odd:
        problems.append(f"documents neither final nor waiting: {odd[:10]}")

    # History: the closing actions happen once each and the last one says the document's state.
    mismatched = []
    for doc_id, _, state in rows:
        history = q(
            "SELECT action, details FROM audit_log WHERE object_type = 'document' AND object_id = ? ORDER BY id",
            str(doc_id),
        )
        actions = [a for a, _ in history]
        counts = Counter(actions)
        expected = "awaiting_internal"
        for action in actions:
            if action in STATE_AFTER:
                expected = STATE_AFTER[action]
            elif action == "document.rejected":
                expected = "rejected_counterparty" if "document.internal_completed" in counts else "rejected_internal"
        repeated = [
            a for a in (*ONCE, "document.completed", "document.rejected", "counterparty.signed") if counts[a] > 1
        ]
        if expected != state or repeated:
            mismatched.append((doc_id, state, expected, repeated))
        # One audit row per kept signature, and one per letter sent.
        accepted = Counter(json.loads(d)["signature_id"] for a, d in history if a == "signature.accepted")
        kept = {sid for (sid,) in q("SELECT id FROM signatures WHERE document_id = ?", doc_id)}
        if set(accepted) != kept or any(n > 1 for n in accepted.values()):
            mismatched.append((doc_id, state, f"signature.accepted {dict(accepted)} vs kept {sorted(kept)}", []))
        mailed = Counter(json.loads(d).get("outbox_id") for a, d in history if a == "counterparty.email_sent")
        if any(n > 1 for n in mailed.values()):
            mismatched.append((doc_id, state, f"counterparty.email_sent twice: {dict(mailed)}", []))
    figures["documents not matching history"] = len(mismatched)
    if mismatched:
        problems.append(f"state vs history: {mismatched[:10]}")

    # Outbox: everything delivered by now.
    undelivered = q("SELECT kind, status, count(*) FROM outbox WHERE status != 'delivered' GROUP BY kind, status")
    figures["outbox undelivered"] = sum(n for _, _, n in undelivered)
    if undelivered:
        problems.append(f"outbox not delivered: {undelivered}")

    # E-mail: one answered copy per mail message of the outbox, nothing else.
    letters = chaos_smtp.received(cluster.maildir)
    groups = chaos_smtp.by_message_id(letters)
    mail_ids = {oid for (oid,) in q("SELECT id FROM outbox WHERE kind LIKE 'mail.%'")}
    delivered_mail = {oid for (oid,) in q("SELECT id FROM outbox WHERE kind LIKE 'mail.%' AND status = 'delivered'")}
    mail_dupes = sum(max(0, sum(1 for x in g if x.answered) - 1) for g in groups.values())
    redelivered = sum(1 for x in letters if not x.answered)
    outbox_of = {m: int(found.group(1)) if (found := MESSAGE_ID_RE.match(m)) else None for m in groups}
    strangers = [m for m, oid in outbox_of.items() if oid not in mail_ids]
    missing_mail = sorted(delivered_mail - {oid for oid in outbox_of.values() if oid is not None})
    figures["e-mails sent (outbox)"] = len(delivered_mail)
    figures["e-mails at the sink (distinct)"] = len(groups)
    figures["e-mails duplicated"] = mail_dupes
    figures["e-mails missing"] = len(missing_mail)
    figures["e-mail copies stored by a dying sink"] = redelivered
    if mail_dupes or missing_mail or strangers:
        problems.append(f"e-mail: duplicated {mail_dupes}, missing {missing_mail[:10]}, unknown {strangers[:10]}")

    # The portal, as the emulator last saved it.
    portal: dict[str, Any] = portal_snapshot.read_saved(cluster.state_file)
    notify = {oid for (oid,) in q("SELECT id FROM outbox WHERE kind = 'b24.notify' AND status = 'delivered'")}
    tags = Counter(str(n.get("TAG") or "") for n in portal["notifications"])
    orphan_notes = [t for t in tags if not (t.startswith("klikdok:") and int(t.split(":")[1]) in notify)]
    note_dupes = sum(n - 1 for n in tags.values())
    missing_notes = [oid for oid in notify if tags[f"klikdok:{oid}"] == 0]
    figures["notifications (outbox)"] = len(notify)
    figures["notifications on the portal"] = len(portal["notifications"])
    figures["notifications duplicated/orphan/missing"] = f"{note_dupes}/{len(orphan_notes)}/{len(missing_notes)}"
    if note_dupes or orphan_notes or missing_notes:
        problems.append(f"notifications: dup {note_dupes}, orphan {orphan_notes[:5]}, missing {missing_notes[:5]}")

    timeline = {oid for (oid,) in q("SELECT id FROM outbox WHERE kind = 'b24.timeline' AND status = 'delivered'")}
    owned = dict(q("SELECT comment_id, outbox_id FROM timeline_comments"))
    comments = [c for c in portal["timeline_comments"] if int(c["ID"]) not in baseline_comments]
    orphan_comments = [int(c["ID"]) for c in comments if int(c["ID"]) not in owned]
    on_portal = {int(c["ID"]) for c in portal["timeline_comments"]}
    missing_comments = sorted(timeline - {oid for cid, oid in owned.items() if cid in on_portal})
    figures["timeline comments (outbox)"] = len(timeline)
    figures["timeline comments on the portal"] = len(comments)
    figures["timeline comments orphan/missing"] = f"{len(orphan_comments)}/{len(missing_comments)}"
    if orphan_comments or missing_comments:
        problems.append(f"timeline: orphans {orphan_comments[:10]}, missing outbox {missing_comments[:10]}")

    referenced: Counter[int] = Counter()
    for table in ("document_files", "signatures", "paper_copies"):
        for (fid,) in q(f"SELECT disk_file_id FROM {table} WHERE disk_file_id IS NOT NULL"):
            referenced[int(fid)] += 1
    storage = str(portal["storage"]["ID"])
    disk = {fid: row for fid, row in portal["files"].items() if row["STORAGE_ID"] == storage}
    orphan_files = sorted(set(disk) - set(referenced))
    shared_ids = [fid for fid, n in referenced.items() if n > 1]
    gone = sorted(set(referenced) - set(disk))
    unsent = q(
        "SELECT (SELECT count(*) FROM document_files f JOIN documents d ON d.id = f.document_id"
        " WHERE f.disk_file_id IS NULL AND d.title LIKE ?)"
        " + (SELECT count(*) FROM signatures WHERE disk_file_id IS NULL)",
        prefix + "%",
    )[0][0]
    figures["Disk files referenced"] = len(referenced)
    figures["Disk files on the portal"] = len(disk)
    figures["Disk files orphan/duplicated/missing/not copied"] = (
        f"{len(orphan_files)}/{len(shared_ids)}/{len(gone)}/{unsent}"
    )
    if orphan_files or shared_ids or gone or unsent:
        problems.append(
            f"Disk: orphans {orphan_files[:10]} ({[disk[f]['NAME'] for f in orphan_files[:5]]}), "
            f"shared {shared_ids[:10]}, missing {gone[:10]}, not copied {unsent}"
        )

    audit = subprocess.run(
        [sys.executable, "-m", "server.cli", "audit", "verify", "--database", str(cluster.db_path)],
        cwd=REPO,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    figures["klikdok audit verify"] = "OK" if audit.returncode == 0 else f"FAILED ({audit.stdout.strip()})"
    if audit.returncode != 0:
        problems.append(f"audit verify: {audit.stdout}{audit.stderr}")
    figures["idempotent replays seen"] = tally.replays
    figures["sign-requests repeated"] = tally.resent_sign_requests
    figures["answers other than success"] = dict(tally.refusals) or 0
    if tally.errors:
        figures["driver errors"] = len(tally.errors)
        problems += tally.errors[:10]
    return Report(figures, problems)


# ---- the run -------------------------------------------------------------------------------------------------


@dataclass
class Options:
    documents: int
    minutes: float
    seed: int = 1
    concurrency: int = 4
    kill_every: float = 6.0  # mean seconds between two kills
    settle_seconds: float = 120.0  # for documents under way when the chaos stops to finish
    drain_seconds: float = 60.0  # then for the outbox to deliver everything
    workdir: Path | None = None
    keep: bool = False


def run(opts: Options, out: Callable[[str], None] = print) -> Report:
    """The whole run; every process started here is killed (by group) before it returns or raises."""
    work = opts.workdir or Path(tempfile.mkdtemp(prefix="klikdok-chaos-"))
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    people = make_people(work / "pki")
    cluster = Cluster(work, people)
    stop_driving, stop_chaos = threading.Event(), threading.Event()
    chaos = ChaosLog()
    killer: threading.Thread | None = None
    try:
        cluster.start_emulator()
        cluster.start_smtp()
        cluster.start_server()
        driver = Driver(cluster, people, opts.seed, stop_driving)
        driver.setup()
        for proc in cluster.agents.values():
            proc.start()
        baseline_comments = {int(c["ID"]) for c in portal_snapshot.read_saved(cluster.state_file)["timeline_comments"]}
        out(f"chaos: {opts.documents} documents, {opts.minutes} min, seed {opts.seed}, work dir {work}")
        end_of_chaos = time.monotonic() + opts.minutes * 60
        hard_deadline = end_of_chaos + opts.settle_seconds
        killer = threading.Thread(
            target=chaos_loop,
            args=(cluster, random.Random(opts.seed), stop_chaos, opts.kill_every, chaos),
            name="chaos",
            daemon=True,
        )
        killer.start()
        pool = ThreadPoolExecutor(opts.concurrency, thread_name_prefix="doc")
        futures: list[Future[None]] = []
        try:
            # Documents start while the chaos lasts, at most two per driving thread waiting in the pool.
            for index in range(opts.documents):
                while time.monotonic() < end_of_chaos and sum(not f.done() for f in futures) >= 2 * opts.concurrency:
                    time.sleep(0.05)
                if time.monotonic() >= end_of_chaos:
                    break
                futures.append(pool.submit(driver.run_document, plan_of(opts.seed, index), hard_deadline))
            planned = len(futures)
            # The chaos lasts its minutes, or until every document is through; either way until every kind of
            # process has been killed once (a minute more at most).
            while time.monotonic() < end_of_chaos + 60 and not (
                (time.monotonic() >= end_of_chaos or all(f.done() for f in futures))
                and set(chaos.kills) == set(VICTIMS)
            ):
                time.sleep(0.2)
            stop_chaos.set()
            killer.join()
            for proc in cluster.all():  # everyone up for the documents still under way
                if not proc.alive:
                    cluster.restart(proc)
            for f in futures:
                f.result()
        finally:
            stop_chaos.set()
            if sys.exc_info()[0] is not None:  # interrupted or failed: the documents' threads stop at once
                stop_driving.set()
            pool.shutdown(wait=True, cancel_futures=True)
        # Let the outbox drain with everything running.
        drain_until = time.monotonic() + opts.drain_seconds
        while time.monotonic() < drain_until:
            if driver.query("SELECT count(*) FROM outbox WHERE status != 'delivered'")[0][0] == 0:
                break
            time.sleep(0.5)
        time.sleep(2.0)  # the answered letters' logs, the last snapshots
        cluster.server.kill(signal.SIGTERM)
        for proc in cluster.all():
            proc.kill(signal.SIGTERM)
        report = check(cluster, driver, planned, baseline_comments)
        report.figures = {
            "date (UTC)": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
            "machine": f"{os.cpu_count()} cores, {os.uname().sysname} {os.uname().machine}",
            "wall time, s": round(time.monotonic() - started),
            "kills": ", ".join(f"{k} {n}" for k, n in sorted(chaos.kills.items())) or "none",
            **report.figures,
        }
        if chaos.restart_failures:
            report.problems += [f"restart failed: {r}" for r in chaos.restart_failures[:5]]
        report.recheck = functools.partial(check, cluster, driver, planned, baseline_comments)
        out(report.table())
        return report
    finally:
        stop_driving.set()
        stop_chaos.set()
        if killer is not None:
            killer.join(120)  # a restart under way finishes first, so stop_all sees its process
        cluster.stop_all()
        if not opts.keep and opts.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Хаос-прогон KlikDok: документы через весь путь под kill -9")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10.0, help="how long processes are killed")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--kill-every", type=float, default=6.0, help="mean seconds between kills")
    parser.add_argument("--settle", type=float, default=180.0, help="seconds for documents to finish after the chaos")
    parser.add_argument("--workdir", type=Path, help="keep everything here (logs, database, Maildir)")
    args = parser.parse_args(argv)

    def interrupted(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C, even where a shell started us ignoring it
    opts = Options(
        documents=args.documents,
        minutes=args.minutes,
        seed=args.seed,
        concurrency=args.concurrency,
        kill_every=args.kill_every,
        settle_seconds=args.settle,
        workdir=args.workdir,
    )
    try:
        report = run(opts)
    except KeyboardInterrupt:
        print("chaos: interrupted; every process it started is stopped", file=sys.stderr)
        return 130
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
