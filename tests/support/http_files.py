"""A loopback HTTP server that serves bytes by path: a CA's CRL distribution point and AIA caIssuers address.

Real HTTP over a real socket (httpx in the code under test talks to it as to a CA's site). Tests change what it
serves while it runs (a new CRL after a revocation), take it down (``down = True`` answers every request with a
dropped connection) and read which paths were asked for, to prove a warm cache made no call.

POST requests under a path prefix in :attr:`FileServer.relay` are passed on to another loopback address (an
``openssl ocsp`` responder, whose port is known only once it runs, after the certificates naming this server's
address were issued) and its answer is sent back as is.
"""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["FileServer", "serve_files"]


class FileServer:
    def __init__(self) -> None:
        self.files: dict[str, bytes] = {}
        self.requests: list[str] = []
        self.down = False
        self.relay: dict[str, str] = {}  # path prefix -> base URL that POSTs are forwarded to
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

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            with state.lock:
                state.requests.append(self.path)
                down = state.down
                target = next((url for prefix, url in state.relay.items() if self.path.startswith(prefix)), None)
            if down:
                self.close_connection = True
                self.connection.close()
                return
            if target is None:
                self.send_error(404)
                return
            request = urllib.request.Request(
                target, data=body, headers={"Content-Type": self.headers.get("Content-Type", "")}
            )
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    status, reply = answer.status, answer.read()
            except urllib.error.HTTPError as exc:
                status, reply = exc.code, exc.read()
            except OSError:
                self.send_error(502)
                return
            self.send_response(status)
            self.send_header("Content-Type", "application/ocsp-response")
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

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
