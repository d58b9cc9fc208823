"""Rate limits for the public (counterparty) endpoints, in memory: actions are counted, reading is not.

A person's page view costs several requests (the page, each PDF preview, which the browser's viewer may fetch
twice, a download) and a failed upload re-renders the page: counted like uploads, a counterparty was locked out
after two to four attempts (issue 15). So each request is one of two kinds, each with its own windows, all
sliding over the last N seconds:
- actions (sign, reject, CryptoARM start): per client IP (``[limits] public_requests_per_minute``) and per link
  from anywhere (``public_requests_per_link_per_minute``, so a leaked link cannot be hammered from many
  addresses);
- reads of a link that works (its page, files, signatures, package, CryptoARM progress): per IP
  (``public_reads_per_minute``) and per link (``public_reads_per_link_per_minute``), generous enough for people
  and still a bound on a scraper;
- and, whatever the kind, requests whose token is unknown or malformed count hard: each is an action of its
  address and a bad link (``public_bad_links_per_hour``; at the limit the address is refused everything). Guessing
  a 256-bit token is hopeless anyway, this makes trying expensive and visible.
The style sheet and /static are not limited at all (the same bytes for everyone). In memory is enough: there is
one server process, and a restart forgetting the counters is harmless.
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
        reads_per_ip_per_minute: int = 300,
        reads_per_link_per_minute: int = 600,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_ip = SlidingWindow(per_ip_per_minute, 60.0, clock=clock)
        self.per_link = SlidingWindow(per_link_per_minute, 60.0, clock=clock)
        self.reads_per_ip = SlidingWindow(reads_per_ip_per_minute, 60.0, clock=clock)
        self.reads_per_link = SlidingWindow(reads_per_link_per_minute, 60.0, clock=clock)
        self.bad_links = SlidingWindow(bad_links_per_hour, 3600.0, clock=clock)

    def admit(self, ip: str, token_key: str, *, read: bool = False) -> float | None:
        """Before a request is served: the seconds to wait, or None. ``read``: it only reads a link."""
        wait = self.bad_links.blocked(ip)
        if wait is not None:
            return wait
        by_ip, by_link = (self.reads_per_ip, self.reads_per_link) if read else (self.per_ip, self.per_link)
        wait = by_ip.hit(ip)
        if wait is not None:
            return wait
        return by_link.hit(token_key)

    def bad_link(self, ip: str) -> None:
        """A request's token matched no link (or was malformed): an action of that address, and a bad link."""
        self.bad_links.hit(ip)
        self.per_ip.hit(ip)


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
