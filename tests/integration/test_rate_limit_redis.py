"""What only the Redis limiter promises: one limit across instances, server time, key expiry,
and a bounded, logged, counted answer when Redis is down or hangs."""

from __future__ import annotations

import asyncio
import logging
import os
import time
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import Any, cast
from unittest import mock

import pytest
import redis
from hypothesis import given
from hypothesis import strategies as st
from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.rate_limit import GcraLimit, RedisRateLimiter
from adapters.rate_limit.gcra import gcra_step
from adapters.rate_limit.redis import _GCRA, redact
from tests.conftest import need
from tests.strategies import gcra_limits

CLOSED_PORT_URL = "redis://:s3cret-pass@127.0.0.1:1/0"
"""Nothing listens on port 1; the password must never reach a log."""
LOGGER = "adapters.rate_limit"


def redis_url() -> str:
    """The test server's URL, or skip (fail under CI) without one."""
    url = os.environ.get("MEDIA_TEST_REDIS_URL")
    need(url, "set MEDIA_TEST_REDIS_URL to a Redis server to run the Redis limiter tests")
    assert url is not None
    return url


def quick_client(url: str, **options: Any) -> Redis:
    """A client built as the module docstring of the adapter recommends."""
    options.setdefault("socket_timeout", 0.5)
    options.setdefault("socket_connect_timeout", 0.5)
    return Redis.from_url(url, **options)


@pytest.fixture
def prefix() -> str:
    """A key prefix no other test run shares."""
    return f"media-core-test:rl:{uuid.uuid4().hex}:"


@pytest.fixture
async def client(prefix: str) -> AsyncIterator[Redis]:
    """A client of the test server; the keys under ``prefix`` are removed afterwards."""
    connection = quick_client(redis_url(), socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        yield connection
    finally:
        keys = [key async for key in connection.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await connection.delete(*keys)
        await connection.aclose()


def warnings_of(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    """The warnings the limiter logged."""
    return [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]


async def test_two_instances_share_one_limit_exactly(prefix: str, client: Redis) -> None:
    """Two instances (two clients) firing 200 concurrent requests at 20 per minute admit 20.

    Each admitted request saw a different ``remaining``, so no two decisions overlapped.
    """
    second = quick_client(redis_url(), socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        errors: list[Exception] = []
        instances = [
            RedisRateLimiter(
                c,
                rate=20,
                period=60,
                burst=20,
                prefix=prefix,
                fail_open=False,
                on_error=errors.append,
                timeout=5.0,
            )
            for c in (client, second)
        ]
        start = time.monotonic()
        decisions = await asyncio.gather(*(instances[i % 2].acquire("user-1") for i in range(200)))
        elapsed = time.monotonic() - start
    finally:
        await second.aclose()
    assert errors == []
    assert elapsed < 3.0, "a refill (one per 3 s) could have happened; the count proves nothing"
    admitted = [d for d in decisions if d.allowed]
    assert len(admitted) == 20
    assert sorted(d.remaining for d in admitted) == list(range(20))
    refused = [d for d in decisions if not d.allowed]
    assert all(3.0 - elapsed - 0.01 <= d.retry_after <= 3.0 for d in refused)


async def test_the_state_lives_on_the_server_clock_and_expires(prefix: str, client: Redis) -> None:
    """The stored TAT is server time plus one interval; the key lives until the bucket is full."""
    limiter = RedisRateLimiter(client, rate=5, period=1, burst=5, prefix=prefix, fail_open=False)
    before_s, before_us = await client.time()
    decision = await limiter.acquire("user")
    after_s, after_us = await client.time()
    stored = int(cast(bytes, await client.get(f"{prefix}user")))
    interval = 200_000
    assert before_s * 1_000_000 + before_us + interval <= stored
    assert stored <= after_s * 1_000_000 + after_us + interval
    ttl_ms = await client.pttl(f"{prefix}user")
    assert 0 < ttl_ms <= round(decision.reset_after * 1000) + 1

    await asyncio.sleep(0.3)
    assert await client.exists(f"{prefix}user") == 0


async def test_a_full_bucket_key_lives_the_whole_capacity(prefix: str, client: Redis) -> None:
    """After the burst the key's time to live is the time to refill it, about one period."""
    limiter = RedisRateLimiter(client, rate=5, period=1, burst=5, prefix=prefix, fail_open=False)
    decisions = [await limiter.acquire("user") for _ in range(5)]
    ttl_ms = await client.pttl(f"{prefix}user")
    assert 900 < ttl_ms <= 1000
    assert decisions[-1].reset_after * 1000 >= ttl_ms - 1


@pytest.fixture(scope="module")
def sync_client() -> Iterator[redis.Redis]:
    """A synchronous client for the differential test (hypothesis drives it synchronously)."""
    connection = redis.Redis.from_url(redis_url(), socket_timeout=2.0, socket_connect_timeout=2.0)
    try:
        yield connection
    finally:
        connection.close()


@given(
    limit=gcra_limits(max_rate=60, min_period=60, max_burst=20),
    steps=st.lists(st.floats(0, 1.5), min_size=1, max_size=25),
)
def test_the_lua_script_computes_what_python_computes(
    sync_client: redis.Redis, limit: GcraLimit, steps: Sequence[float]
) -> None:
    """Fed the same times, the script's arithmetic and ``gcra_step`` agree to the microsecond.

    The script runs with its clock line replaced by an argument; everything after it is the
    production text. Intervals are at least a second, so keys outlive each example.
    """
    script = sync_client.register_script("local now = tonumber(ARGV[3])\n" + _GCRA)
    key = f"media-core-test:rl:diff:{uuid.uuid4().hex}"
    now = 1_700_000_000_000_000
    tat: int | None = None
    try:
        for fraction in steps:
            now += int(fraction * limit.interval_us)
            expected = gcra_step(limit, tat, now)
            reply = script(keys=[key], args=[limit.interval_us, limit.burst, now])
            allowed, remaining, reset_us, retry_us = (int(v) for v in reply)
            decision = expected.decision
            assert bool(allowed) == decision.allowed
            assert remaining == decision.remaining
            assert reset_us == round(decision.reset_after * 1_000_000)
            assert retry_us == round(decision.retry_after * 1_000_000)
            if expected.new_tat_us is not None:
                tat = expected.new_tat_us
            stored = sync_client.get(key)
            assert stored is not None
            assert int(cast(bytes, stored)) == tat
    finally:
        sync_client.delete(key)


async def test_fail_open_admits_when_redis_is_down(caplog: pytest.LogCaptureFixture) -> None:
    """Against a closed port every request is admitted quickly, the hook fires each time, and
    one warning without the password is logged for the whole incident."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = quick_client(CLOSED_PORT_URL)
    on_error = mock.Mock()
    limiter = RedisRateLimiter(
        client, rate=30, period=60, burst=10, fail_open=True, on_error=on_error
    )
    start = time.monotonic()
    try:
        decisions = [await limiter.acquire("user") for _ in range(3)]
    finally:
        await client.aclose()
    assert time.monotonic() - start < 3.0
    assert all(d.allowed and d.limit == 10 and d.remaining == 9 for d in decisions)
    assert on_error.call_count == 3
    assert all(isinstance(c.args[0], RedisError) for c in on_error.call_args_list)
    assert len(warnings_of(caplog)) == 1
    assert "admitting" in caplog.text
    assert "s3cret-pass" not in caplog.text


async def test_fail_closed_refuses_with_a_retry_after(caplog: pytest.LogCaptureFixture) -> None:
    """Fail-closed refuses as an empty bucket would: one interval to retry, the hook fires."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    client = quick_client(CLOSED_PORT_URL)
    on_error = mock.Mock()
    limiter = RedisRateLimiter(
        client, rate=30, period=60, burst=10, fail_open=False, on_error=on_error
    )
    try:
        decision = await limiter.acquire("user")
    finally:
        await client.aclose()
    assert not decision.allowed
    assert decision.retry_after == 2.0
    assert decision.reset_after == 20.0
    assert decision.remaining == 0
    assert decision.limit == 10
    on_error.assert_called_once()
    assert "refusing" in caplog.text
    assert "s3cret-pass" not in caplog.text


class BlackHole:
    """A TCP server that accepts connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> str:
        async def hold(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.writers.append(writer)

        self.server = await asyncio.start_server(hold, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"redis://127.0.0.1:{port}/0"

    async def __aexit__(self, *_exc: object) -> None:
        for writer in self.writers:
            writer.close()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()


@pytest.mark.parametrize(
    ("socket_timeout", "limiter_timeout"), [(0.3, None), (None, 0.3)], ids=["socket", "limiter"]
)
async def test_a_hung_redis_is_bounded_by_the_timeouts(
    socket_timeout: float | None, limiter_timeout: float | None
) -> None:
    """A server that never answers costs one timeout, by the client's or the limiter's own."""
    async with BlackHole() as url:
        client = Redis.from_url(
            url, socket_timeout=socket_timeout, socket_connect_timeout=socket_timeout
        )
        on_error = mock.Mock()
        limiter = RedisRateLimiter(
            client,
            rate=30,
            period=60,
            burst=10,
            fail_open=False,
            on_error=on_error,
            timeout=limiter_timeout,
        )
        start = time.monotonic()
        try:
            decision = await limiter.acquire("user")
        finally:
            await client.aclose()
        elapsed = time.monotonic() - start
    assert 0.25 <= elapsed < 1.5
    assert not decision.allowed
    assert decision.retry_after == 2.0
    on_error.assert_called_once()
    assert isinstance(on_error.call_args.args[0], TimeoutError | RedisError)


class SwitchableProxy:
    """A TCP proxy to the real Redis that can be cut (connections dropped, new ones refused)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.down = False
        self.writers: list[asyncio.StreamWriter] = []
        self.pipes: set[asyncio.Task[None]] = set()
        self.server: asyncio.Server | None = None

    async def start(self) -> str:
        """Listen on a free loopback port; returns the URL to reach Redis through the proxy."""
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        return f"redis://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/0"

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.close()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.upstream)
        self.writers += [writer, up_writer]
        for source, sink in ((reader, up_writer), (up_reader, writer)):
            task = asyncio.create_task(self._pipe(source, sink))
            self.pipes.add(task)
            task.add_done_callback(self.pipes.discard)

    @staticmethod
    async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
        try:
            while data := await source.read(65536):
                sink.write(data)
                await sink.drain()
        except ConnectionError:
            pass
        finally:
            sink.close()

    def cut(self) -> None:
        """Drop every connection and refuse new ones until :meth:`restore`."""
        self.down = True
        for writer in self.writers:
            writer.close()
        self.writers.clear()

    def restore(self) -> None:
        """Accept and forward connections again."""
        self.down = False

    async def stop(self) -> None:
        """Close everything and wait for the pipes to end."""
        self.cut()
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()
        if self.pipes:
            await asyncio.wait(self.pipes, timeout=2.0)


async def test_one_warning_per_incident_and_a_note_on_recovery(
    prefix: str, client: Redis, caplog: pytest.LogCaptureFixture
) -> None:
    """Each outage logs one warning however many calls fail, and recovery is logged once."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    host, port = (
        client.connection_pool.connection_kwargs["host"],
        client.connection_pool.connection_kwargs["port"],
    )
    proxy = SwitchableProxy(host, port)
    through = quick_client(await proxy.start())
    on_error = mock.Mock()
    limiter = RedisRateLimiter(
        through, rate=1, period=60, burst=100, prefix=prefix, fail_open=True, on_error=on_error
    )
    try:
        assert (await limiter.acquire("user")).remaining == 99
        for outage in range(2):
            proxy.cut()
            outcomes = [await limiter.acquire("user") for _ in range(3)]
            assert all(d.allowed for d in outcomes)
            assert len(warnings_of(caplog)) == outage + 1
            proxy.restore()
            assert (await limiter.acquire("user")).remaining == 98 - outage
    finally:
        await through.aclose()
        await proxy.stop()
    assert on_error.call_count == 6
    recoveries = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.INFO]
    assert len(recoveries) == 2
    assert "after 3 failed call(s)" in recoveries[0].getMessage()


class ExplodingScript:
    """A stand-in for a registered script whose every call fails with ``error``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    async def __call__(self, **_kwargs: object) -> list[int]:
        raise self.error


class FakeClient:
    """Just enough of ``redis.asyncio.Redis`` for the limiter: ``register_script``."""

    def __init__(self, error: Exception) -> None:
        self.error = error

    def register_script(self, _text: str) -> ExplodingScript:
        return ExplodingScript(self.error)


async def test_credentials_in_an_error_message_are_not_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An error quoting a URL with a password is logged with the password replaced."""
    caplog.set_level(logging.INFO, logger=LOGGER)
    error = RedisError("cannot reach rediss://admin:hunter2@cache.internal:6380/0")
    client = cast(Redis, FakeClient(error))
    limiter = RedisRateLimiter(client, rate=1, period=1, burst=1, fail_open=True)
    assert (await limiter.acquire("user")).allowed
    assert "hunter2" not in caplog.text
    assert "rediss://***@cache.internal:6380/0" in caplog.text


async def test_a_failing_error_hook_does_not_break_the_decision(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """If the metrics hook raises, the limiter still answers and logs the hook's failure."""
    client = cast(Redis, FakeClient(RedisError("down")))

    def broken_hook(_exc: Exception) -> None:
        raise RuntimeError("metrics backend gone")

    limiter = RedisRateLimiter(
        client, rate=1, period=1, burst=1, fail_open=False, on_error=broken_hook
    )
    assert not (await limiter.acquire("user")).allowed
    assert "on_error hook failed" in caplog.text


def test_redact_hides_userinfo_only() -> None:
    """``redact`` removes user and password from URLs and leaves the rest of the text alone."""
    assert redact("x redis://u:p@h:1/0 y unix://@sock") == "x redis://***@h:1/0 y unix://***@sock"
    assert redact("Error 111 connecting to 127.0.0.1:1.") == "Error 111 connecting to 127.0.0.1:1."


def test_a_nonpositive_timeout_is_refused() -> None:
    """A zero or negative per-call timeout is a configuration error."""
    with pytest.raises(ValueError, match="timeout"):
        RedisRateLimiter(
            cast(Redis, FakeClient(RedisError("x"))),
            rate=1,
            period=1,
            burst=1,
            fail_open=True,
            timeout=0,
        )
