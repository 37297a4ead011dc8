"""The generic cell rate algorithm (GCRA), in integer microseconds, shared by every limiter.

A limit of ``rate`` requests per ``period`` seconds with a ``burst`` capacity is kept as one
number per key, the *theoretical arrival time* (TAT): the instant at which the key's bucket is
full again. With the emission interval ``T = period / rate`` and the capacity ``C = burst * T``::

    tat      = max(stored TAT, now)          # a bucket never fills beyond full
    new_tat  = tat + T                       # what admitting one more request costs
    allow_at = new_tat - C                   # the earliest instant that request fits
    admitted if now >= allow_at, and then the stored TAT becomes new_tat

What the decision reports (the values behind ``RateLimit-*`` and ``Retry-After``):

- ``remaining``: requests that would still be admitted right now, ``(now + C - TAT) // T``;
- ``reset_after``: seconds until the bucket is full, ``TAT - now``;
- ``retry_after``: 0 when admitted, else ``allow_at - now`` (> 0): a request made exactly then
  is admitted.

Times are integers (microseconds) so that Python and the Redis Lua script (whose numbers are
doubles, exact below 2**53) compute the very same answers; :mod:`adapters.rate_limit.redis`
mirrors :func:`gcra_step` line for line.
"""

from __future__ import annotations

from typing import NamedTuple

from attrs import field, frozen, validators

from media_core.ports import RateDecision

MICROS_PER_SECOND = 1_000_000


def _positive_period(_instance: object, _attribute: object, value: float) -> None:
    if not value > 0:
        raise ValueError(f"period must be a positive number of seconds, got {value!r}")


@frozen
class GcraLimit:
    """``rate`` requests per ``period`` seconds, at most ``burst`` of them at once."""

    rate: int = field(validator=[validators.instance_of(int), validators.ge(1)])
    period: float = field(validator=_positive_period)
    burst: int = field(validator=[validators.instance_of(int), validators.ge(1)])
    # Derived once (every decision reads them), after the validators have run.
    interval_us: int = field(init=False, eq=False, repr=False)
    """The emission interval ``T``: microseconds one request costs (at least 1)."""
    capacity_us: int = field(init=False, eq=False, repr=False)
    """The capacity ``C = burst * T``: how far ahead of now the TAT may run."""

    def __attrs_post_init__(self) -> None:
        interval = max(1, round(self.period * MICROS_PER_SECOND / self.rate))
        object.__setattr__(self, "interval_us", interval)
        object.__setattr__(self, "capacity_us", interval * self.burst)


class GcraStep(NamedTuple):
    """One decision, and the TAT to store for the key (``None``: leave it as it was).

    A named tuple rather than an attrs class: one is made per rate-limited request, and a
    tuple is the cheapest record to make.
    """

    decision: RateDecision
    new_tat_us: int | None


def decision_from_us(
    limit: GcraLimit, *, allowed: bool, remaining: int, reset_after_us: int, retry_after_us: int
) -> RateDecision:
    """Build the port's decision from integer microseconds."""
    return RateDecision(
        allowed=allowed,
        limit=limit.burst,
        remaining=remaining,
        reset_after=reset_after_us / MICROS_PER_SECOND,
        retry_after=retry_after_us / MICROS_PER_SECOND,
    )


def gcra_step(limit: GcraLimit, stored_tat_us: int | None, now_us: int) -> GcraStep:
    """Decide one request at ``now_us`` for a key whose stored TAT is ``stored_tat_us``."""
    interval = limit.interval_us
    capacity = limit.capacity_us
    tat = now_us if stored_tat_us is None else max(stored_tat_us, now_us)
    new_tat = tat + interval
    allow_at = new_tat - capacity
    if now_us < allow_at:
        return GcraStep(
            decision_from_us(
                limit,
                allowed=False,
                remaining=0,
                reset_after_us=tat - now_us,
                retry_after_us=allow_at - now_us,
            ),
            None,
        )
    return GcraStep(
        decision_from_us(
            limit,
            allowed=True,
            remaining=(now_us + capacity - new_tat) // interval,
            reset_after_us=new_tat - now_us,
            retry_after_us=0,
        ),
        new_tat,
    )


def fresh_decision(limit: GcraLimit) -> RateDecision:
    """The decision for the first request on an empty (full) bucket."""
    return gcra_step(limit, None, 0).decision


def empty_decision(limit: GcraLimit) -> RateDecision:
    """A refusal as if the bucket were empty: one interval to wait, the capacity to be full."""
    return decision_from_us(
        limit,
        allowed=False,
        remaining=0,
        reset_after_us=limit.capacity_us,
        retry_after_us=limit.interval_us,
    )
