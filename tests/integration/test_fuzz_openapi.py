"""Schemathesis against our own OpenAPI document, served by the real service in-process.

Every documented operation (but the endless live-event stream and the web page's files) gets a
bounded, seeded set of generated requests, valid and invalid ones, with a valid bearer token so
the authenticated paths are reached: no answer may be a 5xx, and every answer must match the
document (status, content type, headers, body schema).
"""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
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

from tests.support.service import RunningService, running_service, service_settings

MAX_EXAMPLES = 30
SKIPPED = {"streamEvents", "webPage", "webAsset", "webLibrary"}
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningService]:
    """The service, running on its own event loop in a thread, until the module is done."""
    data_dir: Path = tmp_path_factory.mktemp("fuzz")
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"] = (asyncio.get_running_loop(), stop)
        settings = service_settings(data_dir, metrics_mode="open")
        async with running_service(settings) as service:
            holder["service"] = service
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        finally:
            ready.set()

    thread = threading.Thread(target=run, name="fuzzed-service", daemon=True)
    thread.start()
    assert ready.wait(30), "the service did not start"
    assert "service" in holder, "the service failed to start"
    try:
        yield holder["service"]
    finally:
        loop, stop = holder["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)


def test_every_operation_survives_generated_requests(live: RunningService) -> None:
    """Generated requests for each operation: no 5xx, every answer as documented."""
    schema = schemathesis.openapi.from_url(f"{live.base_url}/api/v1/openapi.json")
    headers = live.auth("fuzzer")
    tested: list[str] = []
    failures: list[str] = []
    statuses: Counter[int] = Counter()
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

        try:
            fuzz()
        except BaseExceptionGroup as exc:  # collect every operation's failures before failing
            failures.append(f"{operation.label}: {exc}")
    assert not failures, "\n\n".join(failures)
    assert len(tested) >= 10, tested
    assert sum(statuses.values()) >= 10 * len(tested), statuses
    assert sum(n for status, n in statuses.items() if status < 300) > 0, statuses
    print(f"\n{len(tested)} operations, {sum(statuses.values())} requests: {dict(statuses)}")
