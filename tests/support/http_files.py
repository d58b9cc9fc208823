"""A loopback HTTP server that serves bytes by path: a CA's CRL distribution point and AIA caIssuers address.

Real HTTP over a real socket (httpx in the code under test talks to it as to a CA's site). Tests change what it
serves while it runs (a new CRL after a revocation), take it down (``down = True`` answers every request with a
dropped connection) and read which paths were asked for, to prove a warm cache made no call.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FileServer", "serve_files"]


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.down = False
        self.lock = threading.Lock()
        self.base_url = ""

    def put(self, path: str, body: bytes) -> None:
        with self.lock:
            self.files["/" + path.lstrip("/")] = body

    def hits(self, path: str) -> int:
        with self.lock:
            return self.requests.count("/" + path.lstrip("/"))


def _handler(state: FileServer) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            with state.lock:
                state.requests.append(self.path)
                down = state.down
                body = state.files.get(self.path)
            if down:
                self.close_connection = True
                self.connection.close()
                return
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler


@contextmanager
def serve_files() -> Iterator[FileServer]:
    """A :class:`FileServer` on 127.0.0.1 and a free port, stopped (thread joined) on exit."""
    state = FileServer()
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(state))
    httpd.daemon_threads = True
    state.base_url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, name="http-files", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)
