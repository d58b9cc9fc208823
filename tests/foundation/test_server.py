"""The server as a real process on loopback: health, schema, systemd notifications, logs, shutdown."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import httpx

from tests.support.server import ServerProcess, start_server


def test_healthz_reports_ok_with_database_and_version(server: ServerProcess) -> None:
    response = httpx.get(f"{server.url}/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["version"]
    assert body["database"]["status"] == "ok"
    assert body["database"]["pending_migrations"] == 0
    assert body["database"]["applied_migrations"] >= 1
    assert (server.data_dir / "klikdok.db").exists()


def test_api_description_is_off_by_default(server: ServerProcess) -> None:
    """``[server] api_docs`` is off: no schema, no CDN-loading pages (tests/workflow/test_api_docs.py: on)."""
    for path in ("/schema", "/schema/openapi.json", "/schema/swagger"):
        assert httpx.get(f"{server.url}{path}").status_code == 404


def test_unknown_path_is_a_russian_page_and_an_unknown_api_path_russian_json(server: ServerProcess) -> None:
    """Issue 15: a browser may land on any address, so outside /api/ a miss is a page (it was Litestar's JSON
    ``{"status_code": 404}``); the API keeps JSON, in its own ``{error, message}`` shape."""
    response = httpx.get(f"{server.url}/no/such/page")
    assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
    assert "Страница не найдена" in response.text and "status_code" not in response.text
    api = httpx.get(f"{server.url}/api/v1/no/such/thing")
    assert (
        api.status_code == 404 and api.json()["error"] == "not_found" and "Такой страницы нет" in api.json()["message"]
    )


def test_logs_are_json_lines_and_start_is_audited(server: ServerProcess) -> None:
    import sqlite3

    assert server.stop() == 0
    lines = [json.loads(line) for line in server.logs().splitlines() if line.strip()]
    assert any(entry["msg"] == "listening" for entry in lines)
    assert all({"ts", "level", "logger", "msg"} <= entry.keys() for entry in lines)
    conn = sqlite3.connect(server.data_dir / "klikdok.db")
    actions = [row[0] for row in conn.execute("SELECT action FROM audit_log")]
    conn.close()
    assert actions == ["server.start"]


def test_sd_notify_ready_and_watchdog(tmp_path: Path) -> None:
    sock_path = tmp_path / "notify.sock"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(sock_path))
    sock.settimeout(15)
    srv = start_server(tmp_path / "data", env={"NOTIFY_SOCKET": str(sock_path), "WATCHDOG_USEC": "400000"}, wait=False)
    messages: list[str] = []
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not ("READY=1" in messages and messages.count("WATCHDOG=1") >= 2):
            messages.append(sock.recv(256).decode())
    finally:
        code = srv.stop()
        sock.close()
    assert "READY=1" in messages, srv.logs()
    assert messages.count("WATCHDOG=1") >= 2
    assert code == 0
