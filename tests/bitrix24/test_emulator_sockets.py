"""The emulator answers kept-alive connections without Nagle's delay, as a portal behind nginx does.

asyncio sets TCP_NODELAY only on accepted sockets whose protocol number says TCP; the emulator's listening socket
was made with the default 0, so every answer on a reused connection waited for the client's delayed ACK (44 ms a
REST call: an install's 29 calls took 1.3 s, the whole suite paid it on every call the server makes).
"""

from __future__ import annotations

import socket

import httpx

from demo.portal_emulator import PortalEmulator


def _server_sockets(emulator: PortalEmulator) -> list[socket.socket]:
    server = emulator._server
    assert server is not None
    return [
        conn.transport.get_extra_info("socket")  # type: ignore[attr-defined]  # uvicorn's protocols keep .transport
        for conn in server.server_state.connections
    ]


def test_accepted_connections_have_nagle_off(portal: PortalEmulator) -> None:
    with httpx.Client() as http:
        for _ in range(2):  # the second request rides the kept-alive connection
            http.post(f"{portal.base_url}/rest/placement.get.json", json={"auth": "x"})
        sockets = _server_sockets(portal)
        assert sockets, "the kept-alive connection is open on the emulator's side"
        for sock in sockets:
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0
