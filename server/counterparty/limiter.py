"""Rate limits for the public (counterparty) endpoints, in memory.

Three windows, all sliding over the last N seconds:
- per client IP, every public request (``[limits] public_requests_per_minute``);
- per link, every request carrying that token from anywhere (``public_requests_per_link_per_minute``), so a
  leaked link cannot be hammered from many addresses;
- per client IP, requests whose token is unknown or malformed (``public_bad_links_per_hour``): guessing
  a 256-bit token is hopeless anyway, this makes trying expensive and visible.
In memory is enough: there is one server process, and a restart forgetting the counters is harmless.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable

from server.ratelimit import SlidingWindow


class PublicLimiter:
    def __init__(
        self,
        *,
        per_ip_per_minute: int,
        per_link_per_minute: int,
        bad_links_per_hour: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_ip = SlidingWindow(per_ip_per_minute, 60.0, clock=clock)
        self.per_link = SlidingWindow(per_link_per_minute, 60.0, clock=clock)
        self.bad_links = SlidingWindow(bad_links_per_hour, 3600.0, clock=clock)

    def admit(self, ip: str, token_key: str) -> float | None:
        """Before a request is served: the seconds to wait, or None."""
        wait = self.bad_links.blocked(ip)
        if wait is not None:
            return wait
        wait = self.per_ip.hit(ip)
        if wait is not None:
            return wait
        return self.per_link.hit(token_key)

    def bad_link(self, ip: str) -> None:
        """A request's token matched no link (or was malformed)."""
        self.bad_links.hit(ip)


def client_ip(peer: str, forwarded_for: str | None, trusted_proxies: Iterable[str]) -> str:
    """The client's address: the peer, or, behind a trusted proxy, the last address that proxy appended.

    Only the last entry is believed: anything before it came from the client and may be forged.
    """
    if forwarded_for and peer in set(trusted_proxies):
        last = forwarded_for.split(",")[-1].strip()
        try:
            return str(ipaddress.ip_address(last))
        except ValueError:
            return peer
    return peer
