"""1,000 connected signing agents on one server: heartbeats, then one job pushed to each.

Reported, never asserted (issue 6): the server's memory with 1,000 agents connected (RSS of the ``klikdok
serve`` process, and per connection), how long connecting them takes, and the time from 1,000 jobs becoming
pending to every agent holding its offer (and to every acknowledgement recorded in the database). The agents
are real websocket clients (``websockets``) in this process, with application heartbeats every
``heartbeat_seconds`` (5 s here, so a 12 s hold sees two rounds of 1,000); the server is a real subprocess.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import statistics
import time
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect

from benchmarks.conftest import RESULTS
from server.agents import tokens
from server.db import Database, migrations
from server.workflow import states
from server.workflow.files import digests
from tests.support.server import ServerProcess, start_server

AGENTS = 1000
HEARTBEAT = 5.0
HOLD_SECONDS = 12.0
FIRST_USER = 1001


def _rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def _populate(path: Path) -> tuple[list[str], list[tuple[int, int, int]]]:
    """AGENTS users, each with a paired agent and a document waiting for their signature."""
    db = Database(path)
    db.open()
    db.write_sync(migrations.apply, transaction=False)
    d256, d512 = digests(b"%PDF-1.4 bench")
    files = [
        {
            "name": "bench.pdf",
            "size": 14,
            "content_type": "application/pdf",
            "streebog256": d256,
            "streebog512": d512,
            "disk_file_id": None,
        }
    ]
    keys = [tokens.new_device_key() for _ in range(AGENTS)]

    def write(d: Any) -> list[tuple[int, int, int]]:
        out = []
        for i, key in enumerate(keys):
            user = FIRST_USER + i
            d.execute(
                "INSERT INTO agents (user_id, name, key_hash, created_at) VALUES (?, ?, ?, '2026-01-01')",
                [user, f"bench-{i}", tokens.digest(key)],
            )
            doc = states.create_draft(
                d,
                title=f"Договор {i}",
                entity_type="deal",
                entity_id=1,
                company_id=None,
                author_id=4,
                author_name="Бенчмарк",
                department_id=None,
                files=files,
                signers=[(user, f"Подписант {i}")],
                counterparty={},
                disk_folder_id=None,
            )
            states.send(d, doc, actor_id=4, counterparty_days=14)
            step = d.execute("SELECT id FROM route_steps WHERE document_id = ? AND state = 'current'", [doc]).fetchone()
            out.append((user, doc, step[0]))
        d.execute("DELETE FROM outbox")
        return out

    steps = db.write_sync(write)
    db.close()
    return keys, steps


class Fleet:
    def __init__(self, url: str, keys: list[str]) -> None:
        self.url = url.replace("http://", "ws://") + "/agent/ws"
        self.keys = keys
        self.connected = 0
        self.offers: dict[int, float] = {}  # agent index -> when its job offer arrived
        self.pongs = 0
        self.drops = 0
        self.all_connected = asyncio.Event()
        self.all_offered = asyncio.Event()
        self.stop = asyncio.Event()

    async def one(self, i: int, gate: asyncio.Semaphore) -> None:
        async with gate:
            ws = await connect(
                self.url,
                additional_headers={"Authorization": f"Bearer {self.keys[i]}"},
                ping_interval=None,
                open_timeout=60,
                max_queue=4,
            )
            hello = json.loads(await ws.recv())
            assert hello["type"] == "hello"
        self.connected += 1
        if self.connected == len(self.keys):
            self.all_connected.set()

        async def beat() -> None:
            while True:
                await asyncio.sleep(hello["heartbeat_seconds"])
                await ws.send('{"type":"ping"}')

        beats = asyncio.create_task(beat())
        try:
            async for raw in ws:
                msg = json.loads(raw)
                if msg["type"] == "job":
                    self.offers[i] = time.perf_counter()
                    await ws.send(
                        json.dumps({"type": "ack", "job_id": msg["job_id"], "delivery_id": msg["delivery_id"]})
                    )
                    if len(self.offers) == len(self.keys):
                        self.all_offered.set()
                elif msg["type"] == "pong":
                    self.pongs += 1
                if self.stop.is_set():
                    break
        except Exception:  # counted: a dropped agent is a finding
            self.drops += 1
        finally:
            beats.cancel()
            await ws.close()


def _add_jobs(db_path: Path, steps: list[tuple[int, int, int]]) -> float:
    """All jobs pending in one transaction (as if every signer pressed "sign" at once); returns when."""
    conn = sqlite3.connect(db_path, timeout=30)
    with conn:
        conn.executemany(
            "INSERT INTO jobs (document_id, step_id, user_id, channel, created_at, updated_at)"
            " VALUES (?, ?, ?, 'any', '2026-01-01', '2026-01-01')",
            [(doc, step, user) for user, doc, step in steps],
        )
    conn.close()
    return time.perf_counter()


def test_thousand_agents_heartbeats_and_one_job_each(benchmark: Any, tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    keys, steps = _populate(data / "klikdok.db")
    srv: ServerProcess = start_server(
        data, env={"KLIKDOK_SERVER_WATCHDOG": "false", "KLIKDOK_AGENTS_HEARTBEAT_SECONDS": str(HEARTBEAT)}
    )
    figures: dict[str, float] = {}
    try:
        time.sleep(1.0)
        figures["server_rss_idle_mib"] = _rss_kib(srv.proc.pid) / 1024

        async def scenario() -> None:
            fleet = Fleet(srv.url, keys)
            gate = asyncio.Semaphore(100)
            start = time.perf_counter()
            tasks = [asyncio.create_task(fleet.one(i, gate)) for i in range(AGENTS)]
            await asyncio.wait_for(fleet.all_connected.wait(), 300)
            figures["connect_all_s"] = time.perf_counter() - start
            await asyncio.sleep(HOLD_SECONDS)  # heartbeats from everyone, twice
            figures["server_rss_connected_mib"] = _rss_kib(srv.proc.pid) / 1024
            figures["pongs_during_hold"] = fleet.pongs
            t0 = await asyncio.to_thread(_add_jobs, data / "klikdok.db", steps)
            await asyncio.wait_for(fleet.all_offered.wait(), 300)
            latencies = sorted(t - t0 for t in fleet.offers.values())
            figures["deliver_all_s"] = latencies[-1]
            figures["deliver_median_s"] = statistics.median(latencies)

            def acked() -> int:
                conn = sqlite3.connect(f"file:{data / 'klikdok.db'}?mode=ro", uri=True)
                try:
                    return conn.execute("SELECT count(*) FROM jobs WHERE status = 'delivered'").fetchone()[0]
                finally:
                    conn.close()

            while await asyncio.to_thread(acked) < AGENTS:
                await asyncio.sleep(0.05)
            figures["acked_in_db_s"] = time.perf_counter() - t0
            figures["server_rss_after_jobs_mib"] = _rss_kib(srv.proc.pid) / 1024
            figures["client_rss_mib"] = _rss_kib(__import__("os").getpid()) / 1024
            figures["drops"] = fleet.drops
            fleet.stop.set()
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        benchmark.pedantic(lambda: asyncio.run(scenario()), rounds=1, iterations=1)
    finally:
        srv.stop()
    per_conn = (figures["server_rss_connected_mib"] - figures["server_rss_idle_mib"]) * 1024 / AGENTS
    figures["server_kib_per_agent"] = per_conn
    RESULTS["agents_1000_deliver_all"] = figures["deliver_all_s"]
    RESULTS["agents_1000_connect_all"] = figures["connect_all_s"]
    benchmark.extra_info.update({k: round(v, 3) for k, v in figures.items()})
    print(
        "\n1,000 agents: "
        + ", ".join(f"{k}={v:.3f}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
    )
