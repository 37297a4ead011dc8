"""The in-memory rate limiter of the embedded default (one process; GCRA per key).

Memory stays bounded: keys are kept in least-recently-used order and, on every call, the oldest
ones whose TAT has passed (a full bucket, the same as no record) are dropped. A key untouched for
``burst * period / rate`` seconds is therefore always gone, and ``max_keys`` caps the rest: past
it, the least recently used key is forgotten, which can only make the limiter more lenient for
that key, never stricter.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from adapters.rate_limit.gcra import MICROS_PER_SECOND, GcraLimit, gcra_step
from adapters.system import SystemClock
from media_core.ports import Clock, RateDecision


def _seconds(clock: Callable[[], float] | Clock) -> Callable[[], float]:
    """A function returning seconds, from a plain callable or from a media-core ``Clock``."""
    if type(clock) is SystemClock:
        return time.time  # what SystemClock().now().timestamp() is, without two objects
    now = getattr(clock, "now", None)
    if callable(now):

        def from_clock() -> float:
            return float(now().timestamp())

        return from_clock
    if not callable(clock):
        raise TypeError(f"clock must be a callable or a Clock, got {clock!r}")
    return clock


class InMemoryRateLimiter:
    """A ``RateLimiter`` of ``rate`` requests per ``period`` seconds per key, ``burst`` at once.

    ``clock`` returns seconds (``time.monotonic`` by default; any increasing float source), or is a
    media-core ``Clock``. Safe under asyncio (``acquire`` never awaits between reading and writing)
    and across threads (a lock guards the table).
    """

    def __init__(
        self,
        rate: int,
        period: float,
        burst: int,
        clock: Callable[[], float] | Clock = time.monotonic,
        *,
        max_keys: int = 100_000,
    ) -> None:
        if max_keys < 1:
            raise ValueError(f"max_keys must be at least 1, got {max_keys!r}")
        self.limit = GcraLimit(rate=rate, period=period, burst=burst)
        self.max_keys = max_keys
        self._seconds = _seconds(clock)
        self._tats: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def tracked_keys(self) -> int:
        """How many keys are tracked now (for tests and metrics)."""
        return len(self._tats)

    async def acquire(self, key: str) -> RateDecision:
        """Take one unit for ``key`` if there is one."""
        now_us = round(self._seconds() * MICROS_PER_SECOND)
        tats = self._tats
        with self._lock:
            decision, new_tat_us = gcra_step(self.limit, tats.get(key), now_us)
            if new_tat_us is not None:
                tats[key] = new_tat_us
            if key in tats:
                tats.move_to_end(key)
            # The front is the least recently used key; a TAT in the past means a full bucket.
            if tats and (tats[next(iter(tats))] <= now_us or len(tats) > self.max_keys):
                self._evict(now_us)
        return decision

    def _evict(self, now_us: int) -> None:
        # Keys behind a live one were touched later, so the scan stops at the first live key.
        tats = self._tats
        while tats:
            oldest_key, oldest_tat = next(iter(tats.items()))
            if oldest_tat > now_us and len(tats) <= self.max_keys:
                break
            del tats[oldest_key]
