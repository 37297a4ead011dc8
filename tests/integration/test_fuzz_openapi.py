"""Schemathesis against our own OpenAPI document, served by the real service in-process.

Every documented operation (but the endless live-event stream and the web page's files) gets a
seeded set of generated requests, valid and invalid ones, with a valid bearer token so the
authenticated paths are reached: no answer may be a 5xx, and every answer must match the
document (status, content type, headers, body schema).

The suite runs a bounded count on SQLite and PostgreSQL (``MEDIA_FUZZ_EXAMPLES``, 30 per
operation by default; ``MEDIA_FUZZ_BACKENDS``, both by default). ``nox -s fuzz`` is the full
run: 1,000 per operation on PostgreSQL.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from typing import Any

import hypothesis
import pytest
import schemathesis
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.support.service import RunningService
from tests.support.threaded import BACKENDS, service_in_thread

MAX_EXAMPLES = int(os.environ.get("MEDIA_FUZZ_EXAMPLES", "30"))
"""Generated requests per operation (positive and negative together)."""
FUZZ_BACKENDS = [
    name for name in os.environ.get("MEDIA_FUZZ_BACKENDS", ",".join(BACKENDS)).split(",") if name
]
SKIPPED = {"streamEvents", "webPage", "webAsset", "webLibrary"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module", params=FUZZ_BACKENDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningService]:
    """The service on its own loop in a thread, on each backend, until the module is done.

    Rate limits are out of reach, so generated requests get past them to the code behind.
    """
    with service_in_thread(
        tmp_path_factory.mktemp(f"fuzz-{request.param}"),
        request.param,
        metrics_mode="open",
        create_rate_per_minute=1_000_000,
        create_rate_burst=1_000_000,
        webhook_rate_per_minute=1_000_000,
    ) as service:
        yield service


def test_every_operation_survives_generated_requests(live: RunningService) -> None:
    """Generated requests for each operation: no 5xx, every answer as documented."""
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/v1/openapi.json")
    headers = live.auth("fuzzer")
    started = time.monotonic()
    tested: list[str] = []
    failures: list[str] = []
    statuses: Counter[int] = Counter()
    per_operation: Counter[str] = Counter()
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.definition.raw.get("operationId") in SKIPPED:
            continue
        tested.append(operation.label)

        @hypothesis.settings(
            max_examples=MAX_EXAMPLES,
            derandomize=True,
            deadline=None,
            database=None,
            suppress_health_check=list(hypothesis.HealthCheck),
        )
        @hypothesis.given(
            case=operation.as_strategy(GenerationMode.POSITIVE)
            | operation.as_strategy(GenerationMode.NEGATIVE)
        )
        def fuzz(case: Any) -> None:
            response = case.call_and_validate(
                base_url=live.base_url, headers=headers, checks=CHECKS
            )
            statuses[response.status_code] += 1

        sent = statuses.total()
        try:
            fuzz()
        except Exception as exc:  # collect every operation's failures before failing
            failures.append(f"{operation.label}: {exc}")
        per_operation[operation.label] = statuses.total() - sent
    assert not failures, "\n\n".join(failures)
    assert len(tested) >= 10, tested
    assert sum(statuses.values()) >= 10 * len(tested), statuses
    assert sum(n for status, n in statuses.items() if status < 300) > 0, statuses
    print(
        f"\n{len(tested)} operations, {sum(statuses.values())} requests in "
        f"{time.monotonic() - started:.0f} s (up to {MAX_EXAMPLES} per operation; fewer where "
        f"hypothesis exhausts an operation's inputs): {dict(statuses)}\n{dict(per_operation)}"
    )
