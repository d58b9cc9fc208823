"""``/v/<id>``: a forged id and a missing one answered in the same time (issue 16), over real HTTP and at the store.

The tests (tests/public_verify/test_verdict_page.py) prove the two take the same code: the same answer bytes and
headers, the same one query. This measures it: 5,000 documents with public ids, a real ``klikdok serve``, and
rounds alternating a forged id (well-formed, 128 random bits), a missing one (malformed) and a real one, each
round's best kept (the machine is shared; alternating exposes all three to the same load). Reported, never
asserted: the forged/missing ratio should stay within noise of 1.0.

Run standalone for a table: ``.venv/bin/python benchmarks/bench_public_verdict.py``.
"""

from __future__ import annotations

import secrets
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import sqlite_utils

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from server.db import Database, migrations  # noqa: E402  after the sys.path line that lets the file run standalone
from server.workflow import public_verdict_store, states  # noqa: E402  after the sys.path line that lets the file run standalone
from tests.support.server import start_server  # noqa: E402  after the sys.path line that lets the file run standalone

DOCS = 5_000
ROUNDS_HTTP = 300
ROUNDS_STORE = 3_000
ENV = {
    "KLIKDOK_PORTAL_URL": "http://127.0.0.1:9",
    "KLIKDOK_LIMITS_PUBLIC_READS_PER_MINUTE": "1000000",
    "KLIKDOK_LIMITS_PUBLIC_READS_PER_LINK_PER_MINUTE": "1000000",
    "KLIKDOK_LIMITS_PUBLIC_REQUESTS_PER_MINUTE": "1000000",
    "KLIKDOK_LIMITS_PUBLIC_BAD_LINKS_PER_HOUR": "1000000",
}


def populate(path: Path, count: int = DOCS) -> str:
    """``count`` drafts, each with a public id; returns one real id."""
    db = Database(path)
    db.open()
    db.write_sync(migrations.apply, transaction=False)

    def write(d: sqlite_utils.Database) -> str:
        last = ""
        for i in range(count):
            doc = states.create_draft(
                d,
                title=f"Договор {i}",
                entity_type="deal",
                entity_id=1,
                company_id=2,
                author_id=4,
                author_name="Морозова Ольга Ивановна",
                department_id=4,
                files=[],
                signers=[(1, "Соколов Андрей Викторович")],
                counterparty={"name": "ООО «Альфа-Поставка»"},
                disk_folder_id=None,
            )
            last = public_verdict_store.id_for(d, doc)
        return last

    real = db.write_sync(write)
    db.close()
    return real


def paired(pairs: dict[str, Callable[[], Any]], rounds: int) -> dict[str, float]:
    """Each contender once per round, in turn; the best round of each."""
    best = {name: float("inf") for name in pairs}
    for _ in range(rounds):
        for name, fn in pairs.items():
            start = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - start)
    return best


def measure(data_dir: Path) -> dict[str, float]:
    data_dir.mkdir(parents=True, exist_ok=True)
    real = populate(data_dir / "klikdok.db")
    forged = secrets.token_urlsafe(16)
    results: dict[str, float] = {}
    conn = sqlite_utils.Database(data_dir / "klikdok.db")
    try:
        store = paired(
            {
                "store_forged": lambda: public_verdict_store.document_for(conn, forged),
                "store_missing": lambda: public_verdict_store.document_for(conn, "nope"),
                "store_real": lambda: public_verdict_store.document_for(conn, real),
            },
            ROUNDS_STORE,
        )
    finally:
        conn.close()
    results.update(store)
    srv = start_server(data_dir, env=ENV)
    try:
        with httpx.Client(base_url=srv.url, timeout=30) as http:
            http.get(f"/v/{real}")  # templates compiled, connections warm
            results.update(
                paired(
                    {
                        "http_forged": lambda: http.get(f"/v/{forged}"),
                        "http_missing": lambda: http.get("/v/nope"),
                        "http_real": lambda: http.get(f"/v/{real}"),
                    },
                    ROUNDS_HTTP,
                )
            )
    finally:
        srv.stop()
    return results


def test_forged_and_missing_public_ids_take_the_same_time(benchmark: Any, tmp_path: Path) -> None:
    from benchmarks.conftest import RESULTS

    results = benchmark.pedantic(lambda: measure(tmp_path / "data"), rounds=1, iterations=1)
    RESULTS.update({f"public_verdict_{k}": v for k, v in results.items()})
    benchmark.extra_info.update({k: round(v * 1e6, 1) for k, v in results.items()})
    benchmark.extra_info["http_forged_over_missing"] = round(results["http_forged"] / results["http_missing"], 3)
    benchmark.extra_info["store_forged_over_missing"] = round(results["store_forged"] / results["store_missing"], 3)


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        found = measure(Path(tmp) / "data")
    for name, value in found.items():
        print(f"{name:16s} {value * 1e6:10.1f} µs (best round)")
    print(f"forged/missing over HTTP: {found['http_forged'] / found['http_missing']:.3f}")
    print(f"forged/missing at the store: {found['store_forged'] / found['store_missing']:.3f}")
