"""The Redis rate limiter: one GCRA limit shared by every service instance.

Each decision is one Lua script (run by ``EVALSHA``, loaded again if the server lost it), so
reading and writing a key's TAT is atomic however many instances ask at once. The script takes
the time from the Redis server (``TIME``), never from the caller: instances whose clocks disagree
still share one timeline. The key expires when its bucket is full again, so idle keys cost
nothing. The arithmetic mirrors :func:`adapters.rate_limit.gcra.gcra_step` in microseconds.

Build the client with socket timeouts so that a dead or slow server cannot stall a request::

    client = redis.asyncio.Redis.from_url(
        url, socket_timeout=0.5, socket_connect_timeout=0.5, health_check_interval=30
    )

(``from_url`` does not retry by default, unlike the ``Redis(...)`` constructor, whose default
policy retries ten times; if you pass a ``retry`` policy, keep it short.) The limiter also bounds
each call by ``timeout`` seconds. When Redis fails or times out the limiter admits, reporting a
fresh bucket (``fail_open=True``), or refuses as if the bucket were empty, with a ``retry_after``
of one emission interval (``fail_open=False``). It logs one warning per incident (with any URL
credentials removed) and one note on recovery, and calls ``on_error`` with the exception on every
failed call, for metrics. The limiter never closes the client: whoever built it does.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence

from redis.asyncio import Redis
from redis.exceptions import RedisError

from adapters.rate_limit.gcra import GcraLimit, decision_from_us, empty_decision, fresh_decision
from media_core.ports import RateDecision

log = logging.getLogger("adapters.rate_limit")

# KEYS[1]: the key; ARGV[1]: emission interval (µs); ARGV[2]: burst. Replies
# {allowed (0/1), remaining, reset_after (µs), retry_after (µs)}. Lua numbers are doubles: every
# value here is an integer below 2**53, and the TAT is stored formatted as a plain integer.
_SERVER_NOW = """
if redis.replicate_commands then redis.replicate_commands() end
local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000000 + tonumber(clock[2])
"""
_GCRA = """
local interval = tonumber(ARGV[1])
local capacity = interval * tonumber(ARGV[2])
local tat = now
local stored = redis.call('GET', KEYS[1])
if stored then tat = math.max(tonumber(stored), now) end
local new_tat = tat + interval
local allow_at = new_tat - capacity
if now < allow_at then
  return {0, 0, tat - now, allow_at - now}
end
redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', math.ceil((new_tat - now) / 1000))
return {1, math.floor((now + capacity - new_tat) / interval), new_tat - now, 0}
"""
GCRA_SCRIPT = _SERVER_NOW + _GCRA
"""The Lua script every decision runs."""

_CREDENTIALS = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]*@")


def redact(text: str) -> str:
    """``text`` with the user and password of any URL in it replaced by ``***``."""
    return _CREDENTIALS.sub(r"\1***@", text)


class RedisRateLimiter:
    """A ``RateLimiter`` over Redis: ``rate`` per ``period`` seconds per key, ``burst`` at once.

    Keys are stored as ``prefix + key``. See the module docstring for the client's timeouts and
    for what happens when Redis is down (``fail_open``, ``on_error``).
    """

    def __init__(
        self,
        client: Redis,
        *,
        rate: int,
        period: float,
        burst: int,
        prefix: str = "media-core:rl:",
        fail_open: bool,
        on_error: Callable[[Exception], None] | None = None,
        timeout: float | None = 1.0,
    ) -> None:
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be positive seconds or None, got {timeout!r}")
        self.limit = GcraLimit(rate=rate, period=period, burst=burst)
        self.prefix = prefix
        self.fail_open = fail_open
        self.on_error = on_error
        self.timeout = timeout
        self._script = client.register_script(GCRA_SCRIPT)
        self._args = (self.limit.interval_us, self.limit.burst)
        self._failures = 0
        """Consecutive failed calls; > 0 means an incident is under way."""

    async def acquire(self, key: str) -> RateDecision:
        """Take one unit for ``key`` if there is one; on a Redis failure, admit or refuse."""
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._script(keys=[self.prefix + key], args=self._args)
        except (RedisError, OSError, TimeoutError) as exc:
            return self._failed(exc)
        decision = self._decision(reply)
        if self._failures:
            log.info("Redis rate limiter answers again after %d failed call(s)", self._failures)
            self._failures = 0
        return decision

    def _decision(self, reply: Sequence[int]) -> RateDecision:
        allowed, remaining, reset_after_us, retry_after_us = (int(value) for value in reply)
        return decision_from_us(
            self.limit,
            allowed=bool(allowed),
            remaining=remaining,
            reset_after_us=reset_after_us,
            retry_after_us=retry_after_us,
        )

    def _failed(self, exc: Exception) -> RateDecision:
        if not self._failures:
            log.warning(
                "Redis rate limiter unavailable (%s: %s); %s every request until it answers",
                type(exc).__name__,
                redact(str(exc)) or "no detail",
                "admitting" if self.fail_open else "refusing",
            )
        self._failures += 1
        if self.on_error is not None:
            try:
                self.on_error(exc)
            except Exception:
                log.exception("the rate limiter's on_error hook failed")
        return fresh_decision(self.limit) if self.fail_open else empty_decision(self.limit)
