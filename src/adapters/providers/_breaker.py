"""A circuit breaker for one provider: stop calling a provider that keeps failing.

::

    CLOSED ──(failure_threshold consecutive failures)──► OPEN
    OPEN ──(reset_timeout seconds later, one call let through)──► HALF_OPEN
    HALF_OPEN ──(the probe succeeds)──► CLOSED
    HALF_OPEN ──(the probe fails)──► OPEN (for another reset_timeout)

While OPEN (and while a HALF_OPEN probe is under way) every call is refused at once with
``ProviderUnavailable`` whose ``retry_after`` says when the next probe may go, so requests
answer 503 with ``Retry-After`` instead of waiting on timeouts. Failures are what says the
provider is unwell (timeouts, dropped connections, 5xx, 429); a 4xx refusal is an answer, and
counts as a success. :class:`~adapters.providers._http.HttpPolicy` drives it, so both real
adapters get it. ``state`` and :meth:`CircuitBreaker.snapshot` are for health checks and metrics;
``on_change`` is called with every new state.
"""

from __future__ import annotations

import enum
import logging
import time
from collections.abc import Callable

from attrs import define, field, frozen

from media_core.errors import ProviderUnavailable

log = logging.getLogger("adapters.providers.breaker")


class CircuitState(enum.Enum):
    """Where a circuit breaker is."""

    CLOSED = "closed"
    """Calls go through."""
    OPEN = "open"
    """Calls are refused until the reset timeout has passed."""
    HALF_OPEN = "half_open"
    """One probe call is under way; the others are refused until it ends."""


@frozen
class BreakerSnapshot:
    """The breaker's state for health and metrics."""

    provider: str
    state: CircuitState
    consecutive_failures: int
    opened_count: int
    """How many times the circuit opened since the process started."""
    retry_after: float
    """Seconds until a call may go through again (0 when closed)."""


def _at_least_one(_: object, attribute: object, value: float) -> None:
    if value <= 0:
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be positive")


@define
class CircuitBreaker:
    """Counts consecutive failures of one provider and refuses calls while it is down."""

    provider: str
    failure_threshold: int = field(default=5, validator=_at_least_one)
    reset_timeout: float = field(default=30.0, validator=_at_least_one)
    clock: Callable[[], float] = time.monotonic
    on_change: Callable[[CircuitState], None] | None = None
    _state: CircuitState = CircuitState.CLOSED
    _failures: int = 0
    _opened_at: float = 0.0
    _probing: bool = False
    _probe_started: float = 0.0
    _opened_count: int = 0

    @property
    def state(self) -> CircuitState:
        """The current state (an OPEN circuit whose timeout passed reads HALF_OPEN)."""
        if self._state is CircuitState.OPEN and self._remaining() <= 0:
            return CircuitState.HALF_OPEN
        return self._state

    def snapshot(self) -> BreakerSnapshot:
        """State, failure count and how long until calls go through again."""
        state = self.state
        return BreakerSnapshot(
            provider=self.provider,
            state=state,
            consecutive_failures=self._failures,
            opened_count=self._opened_count,
            retry_after=max(0.0, self._remaining()) if state is CircuitState.OPEN else 0.0,
        )

    def accepting(self) -> bool:
        """True when a call would go through now: the circuit is closed, or a probe is due.

        This is the provider's health for choosing where a new upload goes
        (:class:`media_core.ports.ProviderHealth`).
        """
        if self._state is CircuitState.CLOSED:
            return True
        if self.state is not CircuitState.HALF_OPEN:
            return False
        return not self._probing or self._probe_stuck()

    def before_call(self, operation: str) -> None:
        """Let a call through, or raise ``ProviderUnavailable`` while the circuit is open."""
        if self._state is CircuitState.CLOSED:
            return
        remaining = self._remaining()
        if self._state is CircuitState.OPEN and remaining <= 0:
            self._set(CircuitState.HALF_OPEN)
        if self._state is CircuitState.HALF_OPEN and (not self._probing or self._probe_stuck()):
            self._probing = True
            self._probe_started = self.clock()
            return
        raise ProviderUnavailable(
            f"{self.provider} {operation}: circuit open after {self._failures} consecutive "
            "failures; not calling the provider for now",
            retry_after=max(1.0, remaining),
            nothing_done=True,
        )

    def record_success(self) -> None:
        """The provider answered: close the circuit."""
        self._failures = 0
        self._probing = False
        if self._state is not CircuitState.CLOSED:
            log.info("%s answers again: circuit closed", self.provider)
            self._set(CircuitState.CLOSED)

    def record_failure(self) -> None:
        """The provider failed a call: count it, and open the circuit at the threshold."""
        self._failures += 1
        probe_failed = self._state is CircuitState.HALF_OPEN
        self._probing = False
        if probe_failed or (
            self._state is CircuitState.CLOSED and self._failures >= self.failure_threshold
        ):
            self._opened_at = self.clock()
            self._opened_count += 1
            log.warning(
                "%s failed %d calls in a row: circuit open for %.0fs",
                self.provider,
                self._failures,
                self.reset_timeout,
            )
            self._set(CircuitState.OPEN)

    def _probe_stuck(self) -> bool:
        """A probe that never reported back (its task was cancelled) does not block forever."""
        return self._probing and self.clock() - self._probe_started > self.reset_timeout

    def _remaining(self) -> float:
        return self._opened_at + self.reset_timeout - self.clock()

    def _set(self, state: CircuitState) -> None:
        self._state = state
        if self.on_change is not None:
            try:
                self.on_change(state)
            except Exception:
                log.exception("the circuit breaker's on_change hook failed")
