"""The shared provider HTTP policy: bounded retries with jitter, Retry-After, error translation.

Every test runs over ``httpx.MockTransport`` and an injected sleep that records the delays it is
asked for instead of sleeping, so nothing here waits or touches the network.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable, Iterator
from unittest import mock

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.providers._breaker import CircuitBreaker
from adapters.providers._http import (
    RETRYABLE_STATUSES,
    HttpPolicy,
    RetrySettings,
    default_timeout,
    parse_retry_after,
    utc_from_timestamp,
)
from media_core.errors import ProviderRejected, ProviderUnavailable

Reply = httpx.Response | Exception
REQUEST = httpx.Request("GET", "https://api.acme.test/assets/1")


class Script:
    """A mock server that answers each request with the next scripted reply."""

    def __init__(self, *replies: Reply) -> None:
        self._replies: Iterator[Reply] = iter(replies)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        reply = next(self._replies)
        if isinstance(reply, Exception):
            raise reply
        return reply


class SleepRecorder:
    """An async sleep that records the requested delays and returns at once."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def make_policy(
    attempts: int = 3,
    *,
    on_attempt: Callable[[str, str, float], None] | None = None,
    **settings: float,
) -> tuple[HttpPolicy, SleepRecorder]:
    """A policy with a recording sleep and a seeded RNG."""
    sleep = SleepRecorder()
    policy = HttpPolicy(
        provider="acme",
        settings=RetrySettings(attempts=attempts, **settings),
        sleep=sleep,
        rng=random.Random(7),
        on_attempt=on_attempt,
    )
    return policy, sleep


async def send(
    policy: HttpPolicy, script: Script, *, retry: bool = True, allow: tuple[int, ...] = ()
) -> httpx.Response:
    """Send one GET through ``policy`` to the scripted server."""
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(script), base_url="https://api.acme.test"
    ) as client:
        return await policy.send(
            client, "get_asset", "GET", "/assets/1", retry=retry, allow_statuses=allow
        )


def status(code: int, headers: dict[str, str] | None = None, text: str = "") -> httpx.Response:
    """A scripted response."""
    return httpx.Response(code, headers=headers, text=text)


async def test_success_on_first_attempt_does_not_sleep() -> None:
    """A 2xx is returned at once."""
    policy, sleep = make_policy()
    script = Script(status(200, text="ok"))
    response = await send(policy, script)
    assert response.text == "ok"
    assert sleep.delays == []
    assert len(script.requests) == 1


@pytest.mark.parametrize("code", sorted(RETRYABLE_STATUSES))
async def test_retryable_status_is_retried_then_succeeds(code: int) -> None:
    """429 and 5xx (and 408/425) are retried; a later success is returned."""
    policy, sleep = make_policy()
    script = Script(status(code), status(code), status(201))
    assert (await send(policy, script)).status_code == 201
    assert len(script.requests) == 3
    assert len(sleep.delays) == 2


@pytest.mark.parametrize("attempts", [1, 2, 5])
async def test_retries_are_bounded_by_attempts(attempts: int) -> None:
    """After ``attempts`` tries it gives up with ProviderUnavailable, sleeping in between."""
    policy, sleep = make_policy(attempts)
    script = Script(*[status(503)] * attempts, status(200))
    with pytest.raises(ProviderUnavailable, match="HTTP 503"):
        await send(policy, script)
    assert len(script.requests) == attempts
    assert len(sleep.delays) == attempts - 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 409, 422])
async def test_other_4xx_is_rejected_without_retry(code: int) -> None:
    """A 4xx that is not retryable becomes ProviderRejected with a short summary, at once."""
    policy, sleep = make_policy()
    script = Script(status(code, text="bad\nthing"))
    with pytest.raises(ProviderRejected, match=f"acme get_asset: HTTP {code}: bad thing"):
        await send(policy, script)
    assert len(script.requests) == 1
    assert sleep.delays == []


async def test_rejection_summary_is_truncated_and_falls_back_to_reason() -> None:
    """Error bodies are cut to 300 characters; an empty body shows the reason phrase."""
    policy, _ = make_policy()
    with pytest.raises(ProviderRejected) as caught:
        await send(policy, Script(status(400, text="x" * 1000)))
    assert caught.value.detail.endswith("x" * 300)
    assert "x" * 301 not in caught.value.detail
    with pytest.raises(ProviderRejected, match="Not Found"):
        await send(policy, Script(status(404)))


async def test_allowed_status_is_returned_to_the_caller() -> None:
    """A 404 the caller allows comes back as a response, not an error."""
    policy, _ = make_policy()
    assert (await send(policy, Script(status(404)), allow=(404,))).status_code == 404


async def test_retry_after_seconds_is_honoured() -> None:
    """A Retry-After of 4 seconds makes the next wait at least 4 seconds."""
    policy, sleep = make_policy(backoff_base=0.01)
    await send(policy, Script(status(429, {"Retry-After": "4"}), status(200)))
    assert sleep.delays == [4.0]


async def test_retry_after_http_date_is_honoured() -> None:
    """A Retry-After HTTP date about ten seconds ahead makes the wait about ten seconds."""
    policy, sleep = make_policy(backoff_base=0.01)
    when = email.utils.formatdate(time.time() + 10, usegmt=True)
    await send(policy, Script(status(503, {"Retry-After": when}), status(200)))
    assert len(sleep.delays) == 1
    assert 8.0 <= sleep.delays[0] <= 10.0


async def test_backoff_wins_when_longer_than_retry_after() -> None:
    """Retry-After is a minimum: a longer jittered backoff is kept."""
    policy, sleep = make_policy(backoff_base=100.0, backoff_cap=100.0)
    expected = random.Random(7).uniform(0, 100.0)
    await send(policy, Script(status(429, {"Retry-After": "0"}), status(200)))
    assert sleep.delays == [pytest.approx(expected)]


async def test_retry_after_over_the_cap_gives_up_at_once() -> None:
    """A Retry-After longer than the cap is not waited for; the caller gets it in the error."""
    policy, sleep = make_policy(attempts=5, max_retry_after=30.0)
    script = Script(status(429, {"Retry-After": "120"}), status(200))
    with pytest.raises(ProviderUnavailable) as caught:
        await send(policy, script)
    assert caught.value.retry_after == 120.0
    assert sleep.delays == []
    assert len(script.requests) == 1


async def test_retry_after_at_the_cap_is_waited_for() -> None:
    """Exactly the cap is still honoured."""
    policy, sleep = make_policy(max_retry_after=30.0, backoff_base=0.01)
    await send(policy, Script(status(503, {"Retry-After": "30"}), status(200)))
    assert sleep.delays == [30.0]


async def test_exhausted_retries_report_the_last_retry_after() -> None:
    """When every attempt is throttled, the error carries the provider's last Retry-After."""
    policy, _ = make_policy(attempts=2, backoff_base=0.01)
    script = Script(status(429, {"Retry-After": "1"}), status(429, {"Retry-After": "2"}))
    with pytest.raises(ProviderUnavailable) as caught:
        await send(policy, script)
    assert caught.value.retry_after == 2.0


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("  5 ", 5.0),
        ("0", 0.0),
        ("soon", None),
        ("-3", None),
        ("1.5", None),
        ("Wed, 21 Oct 2015 07:28:00 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    """Delta-seconds or an HTTP date (relative to ``now``, never negative); junk is None."""
    now = email.utils.parsedate_to_datetime("Wed, 21 Oct 2015 07:27:50 GMT").timestamp()
    assert parse_retry_after(value, now=now) == expected


@given(attempt=st.integers(min_value=1, max_value=40), seed=st.integers(0, 2**32))
def test_jitter_stays_within_the_exponential_ceiling(attempt: int, seed: int) -> None:
    """Full jitter: each backoff is in [0, min(cap, base * 2^(attempt-1))]."""
    policy = HttpPolicy(
        provider="acme",
        settings=RetrySettings(backoff_base=0.2, backoff_cap=5.0),
        rng=random.Random(seed),
    )
    delay = policy.backoff(attempt)
    assert 0.0 <= delay <= min(5.0, 0.2 * 2 ** (attempt - 1))


async def test_recorded_delays_follow_the_jittered_schedule() -> None:
    """The delays actually slept are the seeded RNG's draws under growing ceilings."""
    policy, sleep = make_policy(attempts=5, backoff_base=1.0, backoff_cap=3.0)
    with pytest.raises(ProviderUnavailable):
        await send(policy, Script(*[status(500)] * 5))
    rng = random.Random(7)
    assert sleep.delays == [pytest.approx(rng.uniform(0, c)) for c in (1.0, 2.0, 3.0, 3.0)]
    assert len(set(sleep.delays)) == 4


async def test_timeouts_are_retried_then_become_provider_unavailable() -> None:
    """Read timeouts are retried; when all attempts time out, ProviderUnavailable says so."""
    policy, sleep = make_policy()
    script = Script(*[httpx.ReadTimeout("slow", request=REQUEST)] * 3, status(200))
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await send(policy, script)
    assert len(script.requests) == 3
    assert len(sleep.delays) == 2


async def test_transport_error_then_success() -> None:
    """A dropped connection is retried."""
    policy, sleep = make_policy()
    script = Script(httpx.RemoteProtocolError("reset", request=REQUEST), status(200))
    assert (await send(policy, script)).status_code == 200
    assert len(sleep.delays) == 1


async def test_default_timeout_is_applied_per_request() -> None:
    """Each request carries the configured timeout, with connect capped at five seconds."""
    policy, _ = make_policy(timeout=12.0)
    script = Script(status(200))
    await send(policy, script)
    timeout = script.requests[0].extensions["timeout"]
    assert timeout == default_timeout(12.0).as_dict()
    assert timeout["connect"] == 5.0
    assert timeout["read"] == 12.0


# retry=False: for calls that must not be repeated blindly.


async def test_no_retry_on_5xx_when_retry_is_false() -> None:
    """With retry=False a 503 is reported after one attempt."""
    policy, sleep = make_policy()
    script = Script(status(503), status(200))
    with pytest.raises(ProviderUnavailable):
        await send(policy, script, retry=False)
    assert len(script.requests) == 1
    assert sleep.delays == []


async def test_429_is_retried_even_when_retry_is_false() -> None:
    """A 429 proves the request was not processed, so even a create may repeat it."""
    policy, sleep = make_policy(backoff_base=0.01)
    script = Script(status(429, {"Retry-After": "2"}), status(201))
    assert (await send(policy, script, retry=False)).status_code == 201
    assert sleep.delays == [2.0]


async def test_no_retry_on_read_timeout_when_retry_is_false() -> None:
    """A read timeout may mean the request was applied: no retry."""
    policy, _ = make_policy()
    script = Script(httpx.ReadTimeout("slow", request=REQUEST), status(200))
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await send(policy, script, retry=False)
    assert len(script.requests) == 1


async def test_no_retry_on_mid_request_transport_error_when_retry_is_false() -> None:
    """A connection lost after sending may mean the request was applied: no retry."""
    policy, _ = make_policy()
    script = Script(httpx.RemoteProtocolError("reset", request=REQUEST), status(200))
    with pytest.raises(ProviderUnavailable, match="connection failed"):
        await send(policy, script, retry=False)
    assert len(script.requests) == 1


@pytest.mark.parametrize(
    "error",
    [httpx.ConnectError, httpx.ConnectTimeout],
    ids=["connect-error", "connect-timeout"],
)
async def test_connect_failures_are_retried_even_when_retry_is_false(
    error: type[httpx.TransportError],
) -> None:
    """Nothing was sent when the connection never opened, so retrying is safe."""
    policy, sleep = make_policy()
    script = Script(error("refused", request=REQUEST), status(200))
    assert (await send(policy, script, retry=False)).status_code == 200
    assert len(sleep.delays) == 1


async def test_rejection_is_still_translated_when_retry_is_false() -> None:
    """retry=False changes retries, not translation: 400 is ProviderRejected."""
    policy, _ = make_policy()
    with pytest.raises(ProviderRejected):
        await send(policy, Script(status(400)), retry=False)


# on_attempt: one callback per attempt, for metrics.


async def test_on_attempt_reports_every_outcome() -> None:
    """The callback fires once per attempt with the operation, outcome and a duration."""
    observed = mock.Mock()
    policy, _ = make_policy(attempts=5, on_attempt=observed)
    script = Script(
        status(429),
        status(502),
        httpx.ReadTimeout("slow", request=REQUEST),
        httpx.ConnectError("refused", request=REQUEST),
        status(200),
    )
    await send(policy, script)
    outcomes = [c.args[1] for c in observed.call_args_list]
    assert outcomes == ["throttled", "server_error", "timeout", "transport_error", "ok"]
    assert all(c.args[0] == "get_asset" for c in observed.call_args_list)
    assert all(c.args[2] >= 0 for c in observed.call_args_list)


async def test_on_attempt_reports_rejection() -> None:
    """A rejected attempt is reported as ``rejected`` before the error is raised."""
    observed = mock.Mock()
    policy, _ = make_policy(on_attempt=observed)
    with pytest.raises(ProviderRejected):
        await send(policy, Script(status(422)))
    observed.assert_called_once()
    assert observed.call_args.args[:2] == ("get_asset", "rejected")


def test_utc_from_timestamp_is_aware() -> None:
    """Unix seconds become an aware UTC datetime."""
    when = utc_from_timestamp(0)
    assert when.utcoffset() is not None
    assert when.isoformat() == "1970-01-01T00:00:00+00:00"


@pytest.mark.parametrize(
    ("reply", "nothing_done"),
    [
        (httpx.ConnectTimeout("connect"), True),
        (httpx.ConnectError("refused"), True),
        (status(503), True),
        (status(429, {"Retry-After": "1"}), True),
        (httpx.ReadTimeout("read"), False),
        (httpx.RemoteProtocolError("dropped"), False),
    ],
)
async def test_unavailable_says_whether_the_request_may_have_been_acted_on(
    reply: Reply, *, nothing_done: bool
) -> None:
    """Only an answer lost after sending may have left something at the provider."""
    policy, _ = make_policy(attempts=1)
    with pytest.raises(ProviderUnavailable) as raised:
        await send(policy, Script(reply), retry=False)
    assert raised.value.nothing_done is nothing_done


async def test_one_lost_answer_among_the_attempts_is_remembered() -> None:
    """A read timeout followed by a refused connection may still have created something."""
    policy, _ = make_policy(attempts=2)
    script = Script(httpx.ReadTimeout("read"), httpx.ConnectError("refused"))
    with pytest.raises(ProviderUnavailable) as raised:
        await send(policy, script)
    assert len(script.requests) == 2
    assert raised.value.nothing_done is False


def test_breaker_accepts_while_closed_and_when_a_probe_is_due() -> None:
    """Open: not accepting until the reset timeout; then one probe; its success closes it."""
    now = [0.0]
    breaker = CircuitBreaker(
        provider="acme", failure_threshold=1, reset_timeout=10.0, clock=lambda: now[0]
    )
    assert breaker.accepting()
    breaker.record_failure()
    assert not breaker.accepting()
    with pytest.raises(ProviderUnavailable) as refused:
        breaker.before_call("create")
    assert refused.value.nothing_done is True
    now[0] = 10.5
    assert breaker.accepting()  # a probe is due
    breaker.before_call("create")  # the probe goes
    assert not breaker.accepting()  # while it is under way, nobody else goes
    breaker.record_success()
    assert breaker.accepting()
