"""The live-status route: server-sent events of the caller's uploads, over real HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from dependency_injector import providers

from adapters.publisher import InProcessEventPublisher, Subscriber
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.http.live import LIVE_CONFIG, LiveConfig
from media_core.events import DomainEvent, UploadProgressed
from media_core.model import MediaUpload, UploadMetadata
from tests.support.service import RunningService, make_video, service_settings, serving

EVENTS = "/api/v1/media/events"


class CountingPublisher(InProcessEventPublisher):
    """The real in-process publisher, counting live subscriptions."""

    def __init__(self) -> None:
        super().__init__()
        self.active = 0

    def subscribe(
        self, subscriber: Subscriber, event_type: type[DomainEvent] = DomainEvent
    ) -> Callable[[], None]:
        """Subscribe, and count until the returned function unsubscribes."""
        unsubscribe = super().subscribe(subscriber, event_type)
        self.active += 1
        done = False

        def counted() -> None:
            nonlocal done
            if not done:
                done = True
                self.active -= 1
            unsubscribe()

        return counted


@contextlib.asynccontextmanager
async def live_service(
    tmp_path: Path, config: LiveConfig, publisher: InProcessEventPublisher
) -> AsyncIterator[RunningService]:
    """The service on memory storage with ``publisher`` and live settings ``config``."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    container.publisher.override(providers.Object(publisher))
    app = create_app(container)
    app[LIVE_CONFIG] = config
    async with serving(app, settings, container) as running:
        yield running


class Frames:
    """Reads an SSE stream frame by frame: (event, data) pairs; comment lines are counted."""

    def __init__(self, response: httpx.Response) -> None:
        self._lines = response.aiter_lines()
        self.comments = 0

    async def next(self, seconds: float = 5.0) -> tuple[str, Any]:
        """The next event frame, within ``seconds``."""
        event, data = "message", []
        async with asyncio.timeout(seconds):
            async for line in self._lines:
                if line.startswith(":"):
                    self.comments += 1
                elif line.startswith("event:"):
                    event = line.partition(":")[2].strip()
                elif line.startswith("data:"):
                    data.append(line.partition(":")[2].strip())
                elif not line and data:
                    return event, json.loads("\n".join(data))
        raise EOFError("the stream ended")


async def eventually(check: Callable[[], Awaitable[bool]], seconds: float = 5.0) -> None:
    """Wait until ``check()`` holds, polling; fail after ``seconds``."""
    for _ in range(int(seconds / 0.02)):
        if await check():
            return
        await asyncio.sleep(0.02)
    pytest.fail(f"not true within {seconds} s: {check.__name__}")


def _upload(owner: str) -> MediaUpload:
    now = datetime.now(UTC)
    return MediaUpload(
        id=f"up-{owner}",
        owner_id=owner,
        provider="fake",
        file_name="a.mp4",
        file_size=10,
        mime_type="video/mp4",
        metadata=UploadMetadata(title="t"),
        created_at=now,
        updated_at=now,
    )


async def test_events_need_a_valid_token(tmp_path: Path) -> None:
    """Without a bearer token the stream is refused with a problem, before anything streams."""
    publisher = CountingPublisher()
    async with live_service(tmp_path, LiveConfig(), publisher) as service:
        response = await service.client.get(EVENTS)
        forged = await service.client.get(EVENTS, headers={"Authorization": "Bearer x.y.z"})
    assert response.status_code == forged.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert publisher.active == 0


async def test_owner_sees_each_change_and_nobody_else_does(tmp_path: Path) -> None:
    """Alice's stream carries her upload from requested to ready; Mallory's carries none of it."""
    publisher = CountingPublisher()
    video = make_video(seconds=1.0)
    config = LiveConfig(heartbeat_seconds=0.2)
    async with (
        live_service(tmp_path, config, publisher) as service,
        service.client.stream("GET", EVENTS, headers=service.auth("alice")) as alice_response,
        service.client.stream("GET", EVENTS, headers=service.auth("mallory")) as mallory_response,
    ):
        assert alice_response.headers["content-type"].startswith("text/event-stream")
        assert alice_response.headers["cache-control"] == "no-store"
        alice, mallory = Frames(alice_response), Frames(mallory_response)
        assert await alice.next() == ("open", {"user": "alice"})
        assert await mallory.next() == ("open", {"user": "mallory"})
        assert publisher.active == 2

        created = (await service.create("alice", fileSize=len(video))).json()
        await service.client.put(created["uploadUrl"], content=video)
        seen: list[str] = []
        while not seen or seen[-1] != "upload.ready":
            event, data = await alice.next()
            assert event == "upload"
            assert data["upload"]["id"] == created["id"]
            seen.append(data["event"])
        assert seen[0] == "upload.requested"
        assert "upload.processing" in seen
        assert data["upload"]["status"] == "ready"
        assert data["upload"]["thumbnailUrl"]

        # Mallory's stream stays open (heartbeats keep coming) but carries no event of Alice's.
        with pytest.raises(TimeoutError):
            await mallory.next(seconds=0.7)
        assert mallory.comments >= 2


async def test_disconnect_unsubscribes(tmp_path: Path) -> None:
    """A client that goes away is unsubscribed from the publisher within moments."""
    publisher = CountingPublisher()
    async with live_service(tmp_path, LiveConfig(heartbeat_seconds=30.0), publisher) as service:
        async with service.client.stream("GET", EVENTS, headers=service.auth("alice")) as response:
            assert (await Frames(response).next())[0] == "open"
            assert publisher.active == 1

        async def nobody_listens() -> bool:
            return publisher.active == 0

        await eventually(nobody_listens)
        # A later event reaches no stale subscriber.
        await publisher.publish([UploadProgressed(upload=_upload("alice"), occurred_at=_now())])


def _now() -> datetime:
    return datetime.now(UTC)


async def test_a_client_that_falls_behind_is_told_to_resync(tmp_path: Path) -> None:
    """More events than the queue holds end the stream with 'resync' instead of growing memory."""
    publisher = CountingPublisher()
    async with (
        live_service(tmp_path, LiveConfig(queue_size=2), publisher) as service,
        service.client.stream("GET", EVENTS, headers=service.auth("alice")) as response,
    ):
        frames = Frames(response)
        assert (await frames.next())[0] == "open"
        burst = [UploadProgressed(upload=_upload("alice"), occurred_at=_now()) for _ in range(5)]
        await publisher.publish(burst)  # delivered in one go, before the stream can write
        events = [await frames.next() for _ in range(3)]
        assert [name for name, _ in events] == ["upload", "upload", "resync"]
        with pytest.raises(EOFError):
            await frames.next()

        async def nobody_listens() -> bool:
            return publisher.active == 0

        await eventually(nobody_listens)


async def test_shutdown_ends_open_streams(tmp_path: Path) -> None:
    """Stopping the service ends open streams at once rather than waiting for them."""
    publisher = CountingPublisher()
    started = 0.0
    async with live_service(tmp_path, LiveConfig(heartbeat_seconds=30.0), publisher) as service:
        client = httpx.AsyncClient(base_url=service.base_url, timeout=15.0)
        request = client.build_request("GET", EVENTS, headers=service.auth("alice"))
        response = await client.send(request, stream=True)
        frames = Frames(response)
        assert (await frames.next())[0] == "open"
        started = time.monotonic()
    assert time.monotonic() - started < 3.0
    with pytest.raises((EOFError, httpx.ReadError, httpx.RemoteProtocolError)):
        await frames.next(seconds=3.0)
    await response.aclose()
    await client.aclose()
    assert publisher.active == 0
