"""HTTP connections that cannot be held open for nothing: header and body deadlines, a connection limit.

uvicorn closes an idle keep-alive connection, but a connection that sends half a request line and then
waits is kept forever: an attack run held 20,500 of them until the process ran out of file descriptors.
:func:`protocol_class` returns uvicorn's h11 protocol with three more rules:

- the headers of a request must be complete ``header_timeout`` seconds after the connection opened or the
  previous response ended (nginx's ``client_header_timeout``);
- while a request body is being received, a pause longer than ``body_timeout`` ends the connection (nginx's
  ``client_body_timeout``), unless the server itself stopped reading (flow control);
- past ``max_connections`` open connections (websockets included) a new one is closed at once, before it
  costs more than its socket; the log says so at most once a minute (:mod:`server.logs` rate-limits it).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("klikdok.connections")

LIMIT_MESSAGE = "connection limit reached; new connections are closed"


class GuardedH11Protocol(H11Protocol):
    header_timeout: float = 10.0
    body_timeout: float = 60.0
    max_connections: int = 1000

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._served_cycle: object = None  # the request whose headers already arrived
        self._refused = False

    # -- deadlines ---------------------------------------------------------------------------------------------
    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        if self._receiving_body() and self.flow.read_paused:  # we stopped reading, not the client: wait
            self._arm(self.body_timeout)
            return
        self.transport.close()

    def _receiving_body(self) -> bool:
        return self.cycle is not None and self.cycle is self._served_cycle and self.conn.their_state is h11.SEND_BODY

    def _after_input(self) -> None:
        """Set the deadline for what the connection waits for now: headers, more body, or nothing."""
        if self.transport.is_closing() or self.transport.get_protocol() is not self:  # closed or a websocket now
            self._disarm()
            return
        if self.cycle is not None and self.cycle is not self._served_cycle:  # a new request's headers arrived
            self._served_cycle = self.cycle
            self._disarm()
        if self._receiving_body():
            self._arm(self.body_timeout)  # moved on by every piece of the body
        elif self.cycle is None or self.cycle.response_complete:
            if self._deadline is None:  # the next request's headers: one deadline, not moved by partial headers
                self._arm(self.header_timeout)
        else:
            self._disarm()  # the request is in; however long the application takes is not the client's doing

    # -- uvicorn's protocol hooks ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]  # uvicorn's own signature (Transport, not BaseTransport)
        if len(self.server_state.connections) >= self.max_connections:
            self._refused = True
            self.transport = transport
            log.warning(LIMIT_MESSAGE, extra={"limit": self.max_connections})
            transport.abort()  # a reset frees the socket now; a lingering close would keep it
            return
        super().connection_made(transport)
        self._arm(self.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._refused:
            return
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return
        super().data_received(data)
        self._after_input()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # may already have started a pipelined request
        self._after_input()


def protocol_class(*, header_timeout: float, body_timeout: float, max_connections: int) -> type[H11Protocol]:
    """uvicorn's ``http=`` protocol with these limits (uvicorn makes one instance per connection)."""
    return type(
        "KlikdokH11Protocol",
        (GuardedH11Protocol,),
        {"header_timeout": header_timeout, "body_timeout": body_timeout, "max_connections": max_connections},
    )
