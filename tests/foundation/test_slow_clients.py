"""Slow and idle clients against the real server over real sockets.

An attack run held 20,500 idle half-sent requests open until the server ran out of file descriptors (and the
accept loop logged a million lines a minute). Now a request's headers must arrive within
``[server] header_timeout_seconds``, idle keep-alive connections end after ``keepalive_seconds``, and past
``max_connections`` new connections are closed at once, with one log line now and then, not one each.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from server import logs
from tests.support.server import ServerProcess, start_server

HALF = b"GET /healthz HTTP/1.1\r\nHost: klikdok\r\nX-Slow: "  # headers never finished


def connect(srv: ServerProcess, first: bytes = b"") -> socket.socket:
    host, port = srv.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=5)
    if first:
        sock.sendall(first)
    return sock


def closed_by_server(sock: socket.socket, deadline: float) -> bool:
    """Whether the server ends this connection before ``deadline`` (monotonic; EOF or reset, data read past)."""
    while True:
        sock.settimeout(max(deadline - time.monotonic(), 0.01))
        try:
            if sock.recv(65536) == b"":
                return True
        except (ConnectionResetError, BrokenPipeError):
            return True
        except TimeoutError:
            return False
        if time.monotonic() >= deadline:
            return False
        if time.monotonic() >= deadline:
            return False
    return False


@pytest.fixture
def sockets() -> Iterator[list[socket.socket]]:
    opened: list[socket.socket] = []
    yield opened
    for sock in opened:
        sock.close()


def healthz_answers(srv: ServerProcess, attempts: int = 50) -> bool:
    for _ in range(attempts):
        try:
            if httpx.get(f"{srv.url}/healthz", timeout=2).status_code == 200:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False


def test_idle_and_half_sent_requests_are_closed(tmp_path: Path, sockets: list[socket.socket]) -> None:
    srv = start_server(
        tmp_path / "data",
        env={
            "KLIKDOK_SERVER_HEADER_TIMEOUT_SECONDS": "1",
            "KLIKDOK_SERVER_BODY_TIMEOUT_SECONDS": "1",
            "KLIKDOK_SERVER_KEEPALIVE_SECONDS": "1",
        },
    )
    try:
        sockets += [connect(srv, HALF) for _ in range(10)]  # half the headers, then silence
        sockets += [connect(srv) for _ in range(5)]  # connected, never a byte
        # One full request on a keep-alive connection, then half of the next one.
        reused = connect(srv, b"GET /healthz HTTP/1.1\r\nHost: klikdok\r\n\r\n")
        sockets.append(reused)
        reused.settimeout(5)
        assert reused.recv(65536).startswith(b"HTTP/1.1 200")
        reused.sendall(HALF)
        # A POST whose body stops half-way.
        sockets.append(
            connect(
                srv,
                b"POST /api/v1/agents/pair HTTP/1.1\r\nHost: klikdok\r\n"
                b'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"code": ',
            )
        )
        deadline = time.monotonic() + 20
        still_open = [s for s in sockets if not closed_by_server(s, deadline)]
        assert not still_open, f"{len(still_open)} of {len(sockets)} idle connections were never closed"
        assert healthz_answers(srv)
    finally:
        srv.stop()


def test_past_the_connection_limit_new_connections_are_closed_and_service_resumes(
    tmp_path: Path, sockets: list[socket.socket]
) -> None:
    limit = 40
    srv = start_server(
        tmp_path / "data",
        env={"KLIKDOK_SERVER_MAX_CONNECTIONS": str(limit), "KLIKDOK_SERVER_HEADER_TIMEOUT_SECONDS": "60"},
    )
    try:
        idle = [connect(srv, HALF) for _ in range(limit)]
        sockets += idle
        time.sleep(0.5)  # let the server accept them all before the extra ones arrive
        extra = [connect(srv, HALF) for _ in range(60)]
        sockets += extra
        deadline = time.monotonic() + 10
        refused = sum(closed_by_server(s, deadline) for s in extra)
        assert refused >= 55, f"only {refused} of 60 connections past the limit were closed"
        # The connections inside the limit are still being served.
        assert not any(closed_by_server(s, time.monotonic() + 0.2) for s in idle[:5])
        for sock in idle:  # the slow clients go away ...
            sock.close()
        assert healthz_answers(srv)  # ... and a normal client is served again
        noted = [line for line in srv.logs().splitlines() if "connection limit" in line]
        assert 1 <= len(noted) <= 3, noted  # noted, but not once per refused connection
    finally:
        srv.stop()


def test_repeated_server_loop_lines_are_rate_limited() -> None:
    """The accept loop's "out of system resource" line, once per failed accept, must not flood the log."""
    stream = io.StringIO()
    logs.configure("info", "json", "stderr")
    root = logging.getLogger()
    handler = root.handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(stream)
    try:
        for _ in range(1000):
            logging.getLogger("asyncio").error("socket.accept() out of system resource")
        logging.getLogger("klikdok").info("document sent")  # other lines are untouched
        logging.getLogger("klikdok").info("document sent")
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    accept = [entry for entry in lines if entry["msg"].startswith("socket.accept()")]
    assert 1 <= len(accept) <= 3, len(accept)
    assert [entry["msg"] for entry in lines].count("document sent") == 2


def test_nginx_sample_is_in_step_with_the_server_limits() -> None:
    """nginx waits for slow clients first; its limits must not be looser than the application's own."""
    import re

    from server.config import ServerSettings
    from tests.support.server import REPO

    conf = (REPO / "config" / "nginx-klikdok.conf").read_text()
    upstream = conf[conf.index("upstream klikdok_app {") :]
    upstream = upstream[: upstream.index("}")]

    def seconds(directive: str, text: str = conf) -> int:
        match = re.search(rf"^\s*{directive}\s+(\d+)s;", text, re.M)
        assert match, f"{directive} is missing from the nginx sample"
        return int(match.group(1))

    defaults = ServerSettings()
    assert seconds("client_header_timeout") <= defaults.header_timeout_seconds
    assert seconds("client_body_timeout") <= defaults.body_timeout_seconds
    assert seconds("keepalive_timeout", upstream) < defaults.keepalive_seconds  # nginx lets go first
    assert re.search(r"^\s*limit_conn_zone\s+\$binary_remote_addr\s+zone=(\w+):", conf, re.M)
    assert re.search(r"^\s*limit_conn\s+klikdok_conn\s+\d+;", conf, re.M)
