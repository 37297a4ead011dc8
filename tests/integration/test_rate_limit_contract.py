"""The ``RateLimiter`` contract, run unchanged over the in-memory and the Redis limiters.

Both run on real time here (the in-memory one on ``time.monotonic``, the Redis one on the
server's clock), so the assertions allow for the few milliseconds the calls themselves take:
each bound is derived from the elapsed time measured around the calls.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable

import pytest
from redis.asyncio import Redis

from adapters.rate_limit import InMemoryRateLimiter, RedisRateLimiter
from media_core.ports import RateDecision, RateLimiter
from tests.conftest import need

MakeLimiter = Callable[[int, float, int], RateLimiter]
EPSILON = 0.002
"""Seconds of slack for clock granularity between the two clocks that measure a test."""


@pytest.fixture(params=["memory", "redis"])
async def make_limiter(request: pytest.FixtureRequest) -> AsyncIterator[MakeLimiter]:
    """Builds limiters of one kind; the Redis ones under a prefix unique to this test."""
    if request.param == "memory":
        yield InMemoryRateLimiter
        return
    url = os.environ.get("MEDIA_TEST_REDIS_URL")
    need(url, "set MEDIA_TEST_REDIS_URL to a Redis server to run the Redis contract")
    assert url is not None
    client = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
    prefix = f"media-core-test:rl:{uuid.uuid4().hex}:"
    errors: list[Exception] = []

    def make(rate: int, period: float, burst: int) -> RateLimiter:
        return RedisRateLimiter(
            client,
            rate=rate,
            period=period,
            burst=burst,
            prefix=prefix,
            fail_open=False,
            on_error=errors.append,
            timeout=5.0,
        )

    try:
        yield make
    finally:
        keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()
    assert errors == []


async def take(limiter: RateLimiter, key: str, count: int) -> list[RateDecision]:
    """``count`` decisions for ``key``, one after the other."""
    return [await limiter.acquire(key) for _ in range(count)]


async def test_burst_is_admitted_then_refused(make_limiter: MakeLimiter) -> None:
    """``burst`` requests pass with remaining counting down to 0; the next is refused."""
    limiter = make_limiter(5, 1.0, 5)
    decisions = await take(limiter, "user", 6)
    assert [d.allowed for d in decisions] == [True] * 5 + [False]
    assert [d.remaining for d in decisions] == [4, 3, 2, 1, 0, 0]
    assert {d.limit for d in decisions} == {5}
    assert [d.retry_after for d in decisions[:5]] == [0.0] * 5


async def test_reset_after_grows_by_one_interval_per_request(make_limiter: MakeLimiter) -> None:
    """After k requests the bucket is full again in k intervals, less the time they took."""
    limiter = make_limiter(5, 1.0, 5)
    start = time.monotonic()
    decisions = await take(limiter, "user", 5)
    elapsed = time.monotonic() - start
    for count, decision in enumerate(decisions, start=1):
        assert count * 0.2 - elapsed - EPSILON <= decision.reset_after <= count * 0.2 + EPSILON


async def test_retry_after_says_when_the_next_request_passes(make_limiter: MakeLimiter) -> None:
    """A refusal's ``retry_after`` shrinks as time passes, and a request made then passes."""
    limiter = make_limiter(5, 1.0, 5)
    start = time.monotonic()
    await take(limiter, "user", 5)
    refused = await limiter.acquire("user")
    elapsed = time.monotonic() - start
    assert not refused.allowed
    assert 0.2 - elapsed - EPSILON <= refused.retry_after <= 0.2 + EPSILON
    assert 1.0 - elapsed - EPSILON <= refused.reset_after <= 1.0 + EPSILON

    await asyncio.sleep(refused.retry_after / 2)
    still = await limiter.acquire("user")
    assert not still.allowed
    assert 0 < still.retry_after <= refused.retry_after / 2 + EPSILON

    await asyncio.sleep(still.retry_after + 0.01)
    admitted = await limiter.acquire("user")
    assert admitted.allowed
    assert admitted.remaining == 0
    assert not (await limiter.acquire("user")).allowed


async def test_an_emptied_bucket_refills_over_time(make_limiter: MakeLimiter) -> None:
    """A pause of two intervals and a bit gives back exactly two requests; a full period, all."""
    limiter = make_limiter(5, 1.0, 5)
    await take(limiter, "user", 6)
    await asyncio.sleep(0.45)
    partial = await take(limiter, "user", 3)
    assert [d.allowed for d in partial] == [True, True, False]
    assert [d.remaining for d in partial] == [1, 0, 0]

    await asyncio.sleep(1.05)
    full = await take(limiter, "user", 6)
    assert [d.allowed for d in full] == [True] * 5 + [False]
    assert [d.remaining for d in full] == [4, 3, 2, 1, 0, 0]


async def test_keys_are_independent(make_limiter: MakeLimiter) -> None:
    """Emptying one key's bucket leaves another key's full."""
    limiter = make_limiter(5, 60.0, 2)
    assert [d.allowed for d in await take(limiter, "alice", 3)] == [True, True, False]
    bob = await limiter.acquire("bob")
    assert bob.allowed
    assert bob.remaining == 1


async def test_limit_is_the_burst_and_retry_is_one_interval(make_limiter: MakeLimiter) -> None:
    """With 2 per second and a burst of 4, four pass, the limit is 4 and a retry waits ≤ 0.5 s."""
    limiter = make_limiter(2, 1.0, 4)
    decisions = await take(limiter, "user", 5)
    assert [d.allowed for d in decisions] == [True] * 4 + [False]
    assert {d.limit for d in decisions} == {4}
    assert 0.4 < decisions[-1].retry_after <= 0.5 + EPSILON


async def test_concurrent_requests_share_one_bucket(make_limiter: MakeLimiter) -> None:
    """Fifty concurrent requests on one key: exactly ``burst`` pass, each with its own remaining."""
    limiter = make_limiter(5, 60.0, 5)
    decisions = await asyncio.gather(*(limiter.acquire("user") for _ in range(50)))
    admitted = [d for d in decisions if d.allowed]
    assert sorted(d.remaining for d in admitted) == [0, 1, 2, 3, 4]
    assert all(0 < d.retry_after <= 12.0 + EPSILON for d in decisions if not d.allowed)
