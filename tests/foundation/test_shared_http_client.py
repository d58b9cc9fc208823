"""The suites' module-level ``httpx`` calls share one client (tests/support/http.py) and behave as before: a new
connection per request and no cookie carried from one call to the next."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.support import http


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str]] = []

    def do_GET(self) -> None:  # the http.server hook's name
        _Handler.seen.append((self.headers.get("Cookie") or "", self.client_address[1].__str__()))
        self.send_response(200)
        self.send_header("Set-Cookie", "kd=1; Path=/")
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def loopback() -> Iterator[str]:
    _Handler.seen = []
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{srv.server_address[1]}/"
    finally:
        srv.shutdown()
        srv.server_close()


def test_module_level_calls_go_through_the_shared_client_without_cookies_or_kept_connections(loopback: str) -> None:
    assert getattr(httpx.request, "_shared", False), "tests/conftest.py shares one client"
    for _ in range(3):
        assert httpx.get(loopback, timeout=5).text == "ok"
    assert httpx.request("GET", loopback, timeout=5).status_code == 200
    cookies = [cookie for cookie, _ in _Handler.seen]
    ports = {port for _, port in _Handler.seen}
    assert cookies == ["", "", "", ""]  # the server's Set-Cookie never came back
    assert len(ports) == 4  # a new connection each time: a restarted server never meets a stale one
    assert http.client() is http.client()
