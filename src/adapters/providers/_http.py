"""One HTTP call policy for every provider adapter: timeouts, bounded retries with jitter.

Providers take an ``httpx.AsyncClient`` (tests hand them one over ``httpx.MockTransport``) and call
:meth:`HttpPolicy.send`. It retries 429, 5xx and transport errors with full-jitter exponential
backoff, honours ``Retry-After`` up to a cap, and turns what is left into domain errors::

    httpx.TimeoutException, httpx.TransportError, 5xx, 429  →  ProviderUnavailable (after retries)
    other 4xx                                                 →  ProviderRejected
    404 where the caller allows it                            →  returned to the caller

With a :class:`~adapters.providers._breaker.CircuitBreaker`, every attempt asks it first (an open
circuit raises ``ProviderUnavailable`` at once, with ``retry_after``) and tells it how it went.

``ProviderUnavailable.nothing_done`` is True unless some attempt may have reached the provider
and been acted on (a read timeout, a connection dropped after sending): only then could a create
have left an upload there, so only then may a new upload not fail over to another provider.

Credentials live in the client's default headers or auth and are never part of a message.
"""

from __future__ import annotations

import asyncio
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Collection
from datetime import UTC, datetime
from typing import Any

import httpx
from attrs import define, field, frozen

from adapters.providers._breaker import CircuitBreaker
from media_core.errors import ProviderRejected, ProviderUnavailable
from media_core.strict import ascii_int

log = logging.getLogger("adapters.providers")

RETRYABLE_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
# Failures that prove the request never reached the provider: safe to repeat, or to send elsewhere.
_UNSENT = (httpx.ConnectTimeout, httpx.ConnectError, httpx.PoolTimeout)


@frozen
class RetrySettings:
    """How hard to try: attempts, backoff base and cap, the longest Retry-After honoured."""

    attempts: int = 3
    backoff_base: float = 0.2
    backoff_cap: float = 5.0
    max_retry_after: float = 30.0
    timeout: float = 10.0
    """Seconds for each attempt (connect, read, write and pool), applied per request."""


def default_timeout(seconds: float) -> httpx.Timeout:
    """The timeout every provider client is built with."""
    return httpx.Timeout(seconds, connect=min(seconds, 5.0))


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    seconds = ascii_int(value)
    if seconds is not None:
        return float(seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    reference = now if now is not None else time.time()
    return max(0.0, when.timestamp() - reference)


@define
class HttpPolicy:
    """Sends requests for one provider under the retry settings; see the module docstring."""

    provider: str
    settings: RetrySettings = field(factory=RetrySettings)
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(factory=random.Random)
    on_attempt: Callable[[str, str, float], None] | None = None
    """Called with (operation, outcome, seconds) after each attempt, for metrics."""
    breaker: CircuitBreaker | None = None
    """Refuses calls while the provider is down; see the module docstring."""

    def backoff(self, attempt: int) -> float:
        """Full-jitter exponential backoff for retry number ``attempt`` (1-based)."""
        ceiling = min(self.settings.backoff_cap, self.settings.backoff_base * 2 ** (attempt - 1))
        return self.rng.uniform(0, ceiling)

    async def send(
        self,
        client: httpx.AsyncClient,
        operation: str,
        method: str,
        url: str,
        *,
        allow_statuses: Collection[int] = (),
        retry: bool = True,
        **kwargs: Any,
    ) -> httpx.Response:
        """Send one request with retries; return a 2xx response or one in ``allow_statuses``.

        ``retry=False`` is for calls that must not be repeated blindly (a create whose first
        attempt may have succeeded): errors are still translated, but only failures that prove
        nothing was done (connect errors, 429) are retried.
        """
        kwargs.setdefault("timeout", default_timeout(self.settings.timeout))
        last_detail = "no attempt made"
        retry_after: float | None = None
        maybe_done = False  # an attempt whose request may have been acted on
        for attempt in range(1, self.settings.attempts + 1):
            started = time.perf_counter()
            retry_after = None  # only the latest answer's Retry-After counts
            self._before(operation)
            try:
                response = await client.request(method, url, **kwargs)
            except httpx.TransportError as exc:  # timeouts included
                self._failed()
                timed_out = isinstance(exc, httpx.TimeoutException)
                self._observe(operation, "timeout" if timed_out else "transport_error", started)
                what = "timed out" if timed_out else "connection failed"
                last_detail = f"{operation}: {what} ({type(exc).__name__})"
                unsent = isinstance(exc, _UNSENT)
                maybe_done = maybe_done or not unsent
                if not retry and not unsent:
                    break
            else:
                status = response.status_code
                if 200 <= status < 300 or status in allow_statuses:
                    self._succeeded()
                    self._observe(operation, "ok", started)
                    return response
                if status not in RETRYABLE_STATUSES:
                    self._succeeded()  # a refusal is an answer: the provider is up
                    self._observe(operation, "rejected", started)
                    raise ProviderRejected(
                        f"{self.provider} {operation}: HTTP {status}: {_summary(response)}"
                    )
                self._failed()
                self._observe(operation, "throttled" if status == 429 else "server_error", started)
                retry_after = parse_retry_after(response.headers.get("retry-after"))
                last_detail = f"{operation}: HTTP {status}"
                if not retry and status != 429:
                    break  # a 429 proves the request was not processed: safe to repeat
            if attempt == self.settings.attempts:
                break
            delay = self.backoff(attempt)
            if retry_after is not None:
                if retry_after > self.settings.max_retry_after:
                    break  # waiting that long inside a request helps nobody; tell the caller
                delay = max(delay, retry_after)
            log.info("%s %s: retrying in %.2fs (%s)", self.provider, operation, delay, last_detail)
            await self.sleep(delay)
        raise ProviderUnavailable(
            f"{self.provider} {last_detail}", retry_after=retry_after, nothing_done=not maybe_done
        )

    def _before(self, operation: str) -> None:
        if self.breaker is not None:
            self.breaker.before_call(operation)

    def _succeeded(self) -> None:
        if self.breaker is not None:
            self.breaker.record_success()

    def _failed(self) -> None:
        if self.breaker is not None:
            self.breaker.record_failure()

    def _observe(self, operation: str, outcome: str, started: float) -> None:
        if self.on_attempt is not None:
            self.on_attempt(operation, outcome, time.perf_counter() - started)


def _summary(response: httpx.Response) -> str:
    """A short, secret-free description of an error body (providers echo no credentials)."""
    text = response.text.strip().replace("\n", " ")
    return text[:300] if text else response.reason_phrase


def utc_from_timestamp(seconds: float) -> datetime:
    """An aware UTC datetime from Unix seconds."""
    return datetime.fromtimestamp(seconds, tz=UTC)
