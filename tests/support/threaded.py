"""The real service on its own event loop in a thread, for synchronous (hypothesis) tests.

Hypothesis drives plain functions, so the property tests over HTTP run the service in a thread
(its loop, its container) and talk to it with a synchronous ``httpx.Client``. ``backend`` picks
the store: the embedded SQLite file, or a fresh PostgreSQL database dropped afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from tests.support.processes import fresh_postgres_database
from tests.support.repositories import postgres_url
from tests.support.service import RunningService, running_service, service_settings

BACKENDS = ("sqlite", "postgres")


@contextlib.contextmanager
def service_in_thread(data_dir: Path, backend: str, **changes: Any) -> Iterator[RunningService]:
    """The service with ``service_settings(data_dir, **changes)`` on ``backend``, until exit.

    The yielded :class:`RunningService`'s async client belongs to the service's loop: use its
    ``base_url`` and ``auth`` with a client of your own.
    """
    if backend == "postgres":
        postgres_url()  # skips (or fails under CI) here, in the test's thread
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def serve() -> None:
        stop = asyncio.Event()
        holder["stop"] = (asyncio.get_running_loop(), stop)
        async with contextlib.AsyncExitStack() as stack:
            settings_changes = dict(changes)
            if backend == "postgres":
                url = await stack.enter_async_context(fresh_postgres_database())
                settings_changes["database_url"] = url
            settings = service_settings(data_dir, **settings_changes)
            holder["service"] = await stack.enter_async_context(running_service(settings))
            ready.set()
            await stop.wait()

    def run() -> None:
        try:
            asyncio.run(serve())
        except BaseException as exc:  # reported to the test's thread below
            holder["error"] = exc
        finally:
            ready.set()

    thread = threading.Thread(target=run, name=f"service-{backend}", daemon=True)
    thread.start()
    assert ready.wait(60), "the service did not start"
    assert "service" in holder, f"the service failed to start: {holder.get('error')!r}"
    try:
        yield holder["service"]
    finally:
        loop, stop = holder["stop"]
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
