"""The GCRA arithmetic and the in-memory rate limiter, on an injected clock (exact values)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.rate_limit import GcraLimit, InMemoryRateLimiter
from adapters.rate_limit.gcra import empty_decision, fresh_decision, gcra_step
from media_core.ports import RateDecision
from tests.strategies import gcra_limits
from tests.support.fakes import FrozenClock


class FakeSeconds:
    """A clock returning seconds that only moves when told to."""

    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def clock() -> FakeSeconds:
    """A fresh fake clock."""
    return FakeSeconds()


async def take(limiter: InMemoryRateLimiter, key: str, count: int) -> list[RateDecision]:
    """``count`` decisions for ``key`` in a row, without time passing."""
    return [await limiter.acquire(key) for _ in range(count)]


async def test_first_request_reports_a_full_bucket_minus_one(clock: FakeSeconds) -> None:
    """The first request is admitted with burst - 1 remaining and one interval to be full."""
    limiter = InMemoryRateLimiter(rate=30, period=60, burst=10, clock=clock)
    decision = await limiter.acquire("u")
    assert decision == RateDecision(
        allowed=True, limit=10, remaining=9, reset_after=2.0, retry_after=0.0
    )


async def test_burst_is_admitted_then_refused_with_exact_headers(clock: FakeSeconds) -> None:
    """``burst`` requests pass counting down; the next waits one interval, full after burst*T."""
    limiter = InMemoryRateLimiter(rate=30, period=60, burst=10, clock=clock)
    decisions = await take(limiter, "u", 11)
    assert [d.allowed for d in decisions] == [True] * 10 + [False]
    assert [d.remaining for d in decisions] == [9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0]
    assert [d.reset_after for d in decisions[:10]] == [2.0 * k for k in range(1, 11)]
    assert {d.limit for d in decisions} == {10}
    assert decisions[-1] == RateDecision(
        allowed=False, limit=10, remaining=0, reset_after=20.0, retry_after=2.0
    )


async def test_retry_after_is_exact(clock: FakeSeconds) -> None:
    """A request one microsecond before ``retry_after`` is refused; one at it is admitted."""
    limiter = InMemoryRateLimiter(rate=5, period=1, burst=5, clock=clock)
    await take(limiter, "u", 5)
    clock.advance(0.05)
    refused = await limiter.acquire("u")
    assert not refused.allowed
    assert refused.retry_after == pytest.approx(0.15, abs=1e-6)
    clock.advance(refused.retry_after - 1e-6)
    assert not (await limiter.acquire("u")).allowed
    clock.advance(1e-6)
    admitted = await limiter.acquire("u")
    assert admitted.allowed
    assert admitted.remaining == 0
    assert admitted.retry_after == 0


async def test_refusals_consume_nothing(clock: FakeSeconds) -> None:
    """Hammering a refused key does not push its next admission further away."""
    limiter = InMemoryRateLimiter(rate=1, period=10, burst=1, clock=clock)
    await limiter.acquire("u")
    refusals = []
    for _ in range(5):
        clock.advance(1)
        refusals.append(await limiter.acquire("u"))
    assert [r.retry_after for r in refusals] == [9.0, 8.0, 7.0, 6.0, 5.0]
    clock.advance(5)
    assert (await limiter.acquire("u")).allowed


async def test_refill_over_time(clock: FakeSeconds) -> None:
    """An emptied bucket regains one request per interval, and is full after burst intervals."""
    limiter = InMemoryRateLimiter(rate=5, period=1, burst=5, clock=clock)
    await take(limiter, "u", 5)
    clock.advance(0.45)
    assert [d.allowed for d in await take(limiter, "u", 3)] == [True, True, False]
    clock.advance(10)
    again = await take(limiter, "u", 6)
    assert [d.remaining for d in again] == [4, 3, 2, 1, 0, 0]
    assert [d.allowed for d in again] == [True] * 5 + [False]


async def test_limit_is_the_burst_not_the_rate(clock: FakeSeconds) -> None:
    """With 2 per second and a burst of 4, four pass at once and the limit header says 4."""
    limiter = InMemoryRateLimiter(rate=2, period=1, burst=4, clock=clock)
    decisions = await take(limiter, "u", 5)
    assert [d.allowed for d in decisions] == [True] * 4 + [False]
    assert {d.limit for d in decisions} == {4}
    assert decisions[-1].retry_after == 0.5
    assert decisions[-1].reset_after == 2.0


async def test_keys_are_independent(clock: FakeSeconds) -> None:
    """Emptying one key's bucket leaves another key's untouched."""
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=2, clock=clock)
    await take(limiter, "a", 3)
    assert (await limiter.acquire("b")).remaining == 1


async def test_a_media_core_clock_is_accepted() -> None:
    """A ``Clock`` returning datetimes drives the limiter like a seconds function."""
    clock = FrozenClock()
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=1, clock=clock)
    assert (await limiter.acquire("u")).allowed
    clock.advance(timedelta(seconds=59))
    assert (await limiter.acquire("u")).retry_after == pytest.approx(1.0)
    clock.advance(timedelta(seconds=1))
    assert (await limiter.acquire("u")).allowed


async def test_idle_keys_are_forgotten(clock: FakeSeconds) -> None:
    """Keys whose bucket is full again are dropped; memory follows the recently active keys."""
    limiter = InMemoryRateLimiter(rate=1, period=1, burst=3, clock=clock)
    for index in range(50):
        await limiter.acquire(f"k{index}")
    assert limiter.tracked_keys == 50
    clock.advance(3.0)
    await limiter.acquire("fresh")
    assert limiter.tracked_keys == 1


async def test_a_live_key_is_kept_behind_idle_ones(clock: FakeSeconds) -> None:
    """Eviction drops only keys whose bucket is full, so an active key keeps its state."""
    limiter = InMemoryRateLimiter(rate=1, period=10, burst=2, clock=clock)
    await limiter.acquire("idle")
    clock.advance(5)
    await take(limiter, "busy", 2)
    clock.advance(5.5)
    assert not (await limiter.acquire("busy")).allowed
    assert limiter.tracked_keys == 1


async def test_max_keys_caps_memory_by_forgetting_the_least_recently_used(
    clock: FakeSeconds,
) -> None:
    """Past ``max_keys`` the least recently used key is forgotten, and starts full again."""
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=1, clock=clock, max_keys=3)
    for key in ["a", "b", "c"]:
        await limiter.acquire(key)
    assert not (await limiter.acquire("a")).allowed  # "a" is now the most recently used
    await limiter.acquire("d")
    assert limiter.tracked_keys == 3
    assert (await limiter.acquire("b")).allowed  # "b" was forgotten
    assert not (await limiter.acquire("a")).allowed


async def test_concurrent_acquires_admit_exactly_the_burst(clock: FakeSeconds) -> None:
    """A hundred concurrent tasks on one key get exactly ``burst`` admissions."""
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=10, clock=clock)
    decisions = await asyncio.gather(*(limiter.acquire("u") for _ in range(100)))
    admitted = [d for d in decisions if d.allowed]
    assert sorted(d.remaining for d in admitted) == list(range(10))


async def test_the_default_clock_is_real_time() -> None:
    """Without a clock the limiter runs on ``time.monotonic``: one passes, the next waits ~60 s."""
    limiter = InMemoryRateLimiter(rate=1, period=60, burst=1)
    assert (await limiter.acquire("u")).allowed
    refused = await limiter.acquire("u")
    assert 59 < refused.retry_after <= 60


@pytest.mark.parametrize(
    ("rate", "period", "burst", "max_keys"),
    [(0, 1, 1, 1), (1, 0, 1, 1), (1, -1.0, 1, 1), (1, 1, 0, 1), (1, 1, 1, 0)],
)
def test_nonsense_settings_are_refused(rate: int, period: float, burst: int, max_keys: int) -> None:
    """A rate, period, burst or key cap below its minimum raises ``ValueError``."""
    with pytest.raises(ValueError, match="must be"):
        InMemoryRateLimiter(rate, period, burst, max_keys=max_keys)


def test_a_clock_that_is_neither_callable_nor_a_clock_is_refused() -> None:
    """Passing something that cannot tell the time fails at construction."""
    with pytest.raises(TypeError, match="clock"):
        InMemoryRateLimiter(1, 1, 1, clock=42)  # type: ignore[arg-type]


def test_fail_decisions_match_a_full_and_an_empty_bucket() -> None:
    """The decisions used when Redis fails are a fresh bucket (open) and an empty one (closed)."""
    limit = GcraLimit(rate=30, period=60, burst=10)
    assert fresh_decision(limit) == RateDecision(True, 10, 9, 2.0, 0.0)
    assert empty_decision(limit) == RateDecision(False, 10, 0, 20.0, 2.0)


limits = gcra_limits()


@given(limit=limits, steps=st.lists(st.floats(0, 1.5), max_size=60), start=st.integers(0, 2**50))
def test_gcra_decisions_tell_the_truth(limit: GcraLimit, steps: list[float], start: int) -> None:
    """For any limit and any arrival times, every reported number is exact.

    ``remaining`` more requests pass at the same instant and not one more; a request exactly
    ``retry_after`` later passes and one a microsecond earlier does not; after ``reset_after`` the
    bucket is full; and no window of length L ever admits more than ``burst + L // T``.
    """
    interval = limit.interval_us
    tat: int | None = None
    now = start
    admitted_at: list[int] = []
    for fraction in steps:
        now += int(fraction * interval)
        step = gcra_step(limit, tat, now)
        decision = step.decision
        assert decision.limit == limit.burst
        reset_us = round(decision.reset_after * 1_000_000)
        retry_us = round(decision.retry_after * 1_000_000)
        if decision.allowed:
            assert step.new_tat_us is not None
            assert retry_us == 0
            assert 0 <= decision.remaining < limit.burst
            assert 0 < reset_us <= limit.capacity_us
            probe: int | None = step.new_tat_us
            for _ in range(decision.remaining):
                more = gcra_step(limit, probe, now)
                assert more.decision.allowed
                probe = more.new_tat_us
            assert not gcra_step(limit, probe, now).decision.allowed
            full = gcra_step(limit, step.new_tat_us, now + reset_us).decision
            assert full.remaining == limit.burst - 1
            tat = step.new_tat_us
            admitted_at.append(now)
        else:
            assert step.new_tat_us is None
            assert decision.remaining == 0
            assert 0 < retry_us <= interval
            assert not gcra_step(limit, tat, now + retry_us - 1).decision.allowed
            assert gcra_step(limit, tat, now + retry_us).decision.allowed
    for first, at_first in enumerate(admitted_at):
        for last in range(first, len(admitted_at)):
            window = admitted_at[last] - at_first
            assert last - first + 1 <= limit.burst + window // interval
