"""Rate limiting and retries: the emulator enforces the portal's leaky bucket; the client must pace itself
and recover from 503s, 5xx and network errors within a bounded number of attempts."""

from __future__ import annotations

import asyncio
import socket

import pytest

from demo.portal_emulator import PortalEmulator
from server.bitrix24 import (
    Bitrix24Client,
    MemoryTokenStore,
    PortalSettings,
    RateLimited,
    ServerError,
    TransportError,
)

from .conftest import oauth_settings


async def test_burst_of_200_calls_is_paced_without_a_single_failure(
    portal: PortalEmulator, token_store: MemoryTokenStore
) -> None:
    # A faster bucket than a real portal's 2/s keeps the test short; the shape (burst, then drain) is the same.
    portal.state.config.rate_per_second = 40.0
    portal.state.config.burst = 50
    settings = oauth_settings(portal, rate_per_second=40.0, burst=50, max_retries=0)
    async with Bitrix24Client(settings, token_store=token_store) as c:
        results = await asyncio.gather(
            *(c.call("crm.deal.get", {"id": 1 + i % 4}) for i in range(200)), return_exceptions=True
        )
    failures = [r for r in results if isinstance(r, BaseException)]
    assert failures == []
    assert [r["ID"] for r in results] == [str(1 + i % 4) for i in range(200)]  # type: ignore[index]  # no exceptions, asserted above; gather's type keeps them
    assert portal.state.rejected == 0  # paced, not rescued by retries (max_retries=0)
    assert portal.state.calls.count("crm.deal.get") == 200


async def test_emulator_enforces_its_limit_on_an_unpaced_client(
    portal: PortalEmulator, token_store: MemoryTokenStore
) -> None:
    """Control for the test above: without pacing the portal does refuse, and each refusal is typed."""
    settings = oauth_settings(portal, rate_per_second=10_000.0, burst=10_000, max_retries=0)
    async with Bitrix24Client(settings, token_store=token_store) as c:
        results = await asyncio.gather(*(c.call("user.current") for _ in range(80)), return_exceptions=True)
    refused = [r for r in results if isinstance(r, RateLimited)]
    assert portal.state.rejected >= 20  # 80 at once into a bucket of 50 draining at 2/s
    assert len(refused) == portal.state.rejected
    assert all(r.code == "QUERY_LIMIT_EXCEEDED" and r.status == 503 and r.method == "user.current" for r in refused)


async def test_rate_limited_calls_are_retried_with_backoff(
    portal: PortalEmulator, token_store: MemoryTokenStore
) -> None:
    # The portal's bucket does not drain until 20 calls have been turned away, so 70 calls against a burst of 50
    # are rejected however slowly a loaded machine sends them (a draining bucket let them all through when the
    # calls took longer than the drain); then it drains at 50 a second and the retries get through.
    portal.state.config.rate_per_second = 0.0
    assert portal.state.config.burst == 50

    async def drain_once_20_were_rejected() -> None:
        while portal.state.rejected < 20:
            await asyncio.sleep(0.01)
        portal.state.config.rate_per_second = 50.0

    settings = oauth_settings(portal, rate_per_second=10_000.0, burst=10_000, max_retries=8)
    async with Bitrix24Client(settings, token_store=token_store, backoff_base=0.1) as c:
        opener = asyncio.create_task(drain_once_20_were_rejected())
        results = await asyncio.gather(*(c.call("user.current") for _ in range(70)), return_exceptions=True)
        await opener
        assert not [r for r in results if isinstance(r, BaseException)]
        assert portal.state.rejected > 0
        assert c.stats["retries"] >= portal.state.rejected
        assert c.stats["rate_limited"] == portal.state.rejected


async def test_server_error_is_retried_for_reads(portal: PortalEmulator, client: Bitrix24Client) -> None:
    portal.state.inject("crm.deal.get", status=500, code="INTERNAL_SERVER_ERROR", times=2)
    assert (await client.call("crm.deal.get", {"id": 1}))["ID"] == "1"
    assert client.stats["retries"] == 2


async def test_server_error_is_not_retried_for_writes(portal: PortalEmulator, client: Bitrix24Client) -> None:
    """A 500 on a write may have happened after the write: repeating it could add a second comment."""
    portal.state.inject("crm.timeline.comment.add", status=500, times=1)
    with pytest.raises(ServerError) as caught:
        await client.call(
            "crm.timeline.comment.add", {"fields": {"ENTITY_ID": 1, "ENTITY_TYPE": "deal", "COMMENT": "x"}}
        )
    assert caught.value.method == "crm.timeline.comment.add"
    assert client.stats["retries"] == 0


async def test_retries_are_bounded(portal: PortalEmulator, token_store: MemoryTokenStore) -> None:
    portal.state.inject(
        "user.current", status=503, code="QUERY_LIMIT_EXCEEDED", description="Too many requests", times=100
    )
    async with Bitrix24Client(oauth_settings(portal, max_retries=3), token_store=token_store, backoff_base=0.01) as c:
        with pytest.raises(RateLimited):
            await c.call("user.current")
        assert c.stats["requests"] == 4  # the first attempt and three retries


async def test_network_errors_are_retried_then_reported() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
    settings = PortalSettings(
        mode="webhook", webhook_url=f"http://127.0.0.1:{port}/rest/1/abcdef123/", max_retries=2, timeout_seconds=2.0
    )
    async with Bitrix24Client(settings, backoff_base=0.01) as c:
        with pytest.raises(TransportError) as caught:
            await c.call("crm.timeline.comment.add", {"fields": {}})  # a write: connect errors are still safe
        assert c.stats["requests"] == 3
    assert caught.value.method == "crm.timeline.comment.add"


async def test_bulk_lane_leaves_the_reserve_to_ordinary_requests() -> None:
    """Bulk work (Disk copies) fills the bucket only up to its own share; an ordinary request (a notification)
    then still gets a slot at once, inside the same total budget."""
    from server.bitrix24 import bulk_lane
    from server.bitrix24.limiter import LeakyBucket

    bucket = LeakyBucket(rate=0.001, burst=6)  # 5 usable slots, 1 of them kept from bulk work; no drain to speak of
    with bulk_lane():
        for _ in range(4):
            await asyncio.wait_for(bucket.acquire(), 1)
            await bucket.release()
        blocked = asyncio.create_task(bucket.acquire())  # inherits the bulk lane
    await asyncio.sleep(0.1)
    assert not blocked.done()
    await asyncio.wait_for(bucket.acquire(), 1)  # the ordinary request is not queued behind it
    assert bucket.level > 4.9
    blocked.cancel()
