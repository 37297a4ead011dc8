"""Live status: ``GET /api/v1/media/events``, server-sent events of the caller's uploads.

Each connection subscribes its own callback to the in-process publisher (``container.publisher()``)
and unsubscribes when the client goes away, the stream overflows or the service shuts down. The
callback keeps only the caller's events and puts them in a bounded queue, so a slow client can never
make the publisher (and with it the webhook that caused the event) wait or grow memory: when the
queue is full the stream ends with an ``event: resync`` and the client re-reads the list. A comment
line every ``heartbeat_seconds`` keeps proxies from closing an idle stream and tells the server
that a silent client is gone.

Authentication is the ordinary ``Authorization: Bearer`` header (or whatever the host's
authenticator reads). Browsers' ``EventSource`` cannot send headers, so the page reads this stream
with ``fetch()`` and a stream reader instead; the alternative, a short-lived signed token in the
query string, would put a credential into access logs and browser history and would bypass a host
application's own authenticator. Any SSE client that can set a header (curl, ``fetch``) works.

The frames::

    event: open          data: {"user": "alice"}            once, when subscribed
    event: upload        data: {"event": "upload.ready", "upload": {…the status route's body…}}
    event: resync        data: {}                            then the stream ends

Events cover changes made by this process (a single service, or the process that received the
webhook); the page also polls the status route, so it converges on any deployment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web
from attrs import define, frozen

from entrypoints.http.keys import AUTHENTICATOR, CONTAINER
from entrypoints.http.pipeline import ObservedRoutes, request_id_header
from entrypoints.http.problems import HttpProblem
from entrypoints.http.schemas import upload_json
from media_core.events import DomainEvent

log = logging.getLogger("entrypoints.http.live")

HEARTBEAT_SECONDS = 15.0
QUEUE_SIZE = 64
_POLL_SECONDS = 1.0
"""How often an idle stream checks that its client is still connected."""


class Subscribable(Protocol):
    """A publisher that takes subscribers (``adapters.publisher.InProcessEventPublisher``)."""

    def subscribe(
        self, subscriber: Callable[[DomainEvent], Awaitable[None]], event_type: type[DomainEvent]
    ) -> Callable[[], None]:
        """Call ``subscriber`` for each event of ``event_type``; returns an unsubscribe function."""
        ...


@frozen
class LiveConfig:
    """How live streams behave."""

    heartbeat_seconds: float = HEARTBEAT_SECONDS
    queue_size: int = QUEUE_SIZE


@define(eq=False)
class _Stream:
    """One client's queue; ``None`` in it ends the stream."""

    user: str
    queue: asyncio.Queue[DomainEvent | None]
    capacity: int
    overflowed: bool = False
    closed: bool = False

    async def deliver(self, event: DomainEvent) -> None:
        """The publisher's callback: keep the owner's events, never block."""
        if self.closed or event.upload.owner_id != self.user:
            return
        if self.queue.qsize() >= self.capacity:
            self.overflowed = True
            self.close()
            return
        self.queue.put_nowait(event)

    def close(self) -> None:
        """End the stream (the queue keeps one slot free for this)."""
        if not self.closed:
            self.closed = True
            self.queue.put_nowait(None)


LIVE_CONFIG = web.AppKey("live_config", LiveConfig)
LIVE_STREAMS = web.AppKey("live_streams", set[_Stream])


def _frame(event: str, data: object) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _connected(request: web.Request) -> bool:
    transport = request.transport
    return transport is not None and not transport.is_closing()


async def events(request: web.Request) -> web.StreamResponse:
    """``GET /api/v1/media/events``: the caller's upload changes as server-sent events."""
    user = await request.app[AUTHENTICATOR].authenticate(request)
    publisher = request.app[CONTAINER].publisher()
    if not callable(getattr(publisher, "subscribe", None)):
        raise HttpProblem("not-found", "live status needs an in-process event publisher")
    config = request.app[LIVE_CONFIG]
    stream = _Stream(
        user=user, queue=asyncio.Queue(maxsize=config.queue_size + 1), capacity=config.queue_size
    )
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream; charset=utf-8",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
            **request_id_header(),
        }
    )
    subscribable: Subscribable = publisher
    unsubscribe = subscribable.subscribe(stream.deliver, DomainEvent)
    streams = request.app[LIVE_STREAMS]
    streams.add(stream)
    try:
        await response.prepare(request)
        await response.write(b"retry: 3000\n" + _frame("open", {"user": user}))
        await _pump(request, response, stream, config.heartbeat_seconds)
    except ConnectionResetError:
        pass  # the client went away while we wrote
    finally:
        stream.closed = True
        unsubscribe()
        streams.discard(stream)
    return response


async def _pump(
    request: web.Request, response: web.StreamResponse, stream: _Stream, heartbeat: float
) -> None:
    next_beat = time.monotonic() + heartbeat
    while _connected(request):
        wait = max(0.0, min(_POLL_SECONDS, next_beat - time.monotonic()))
        try:
            item = await asyncio.wait_for(stream.queue.get(), wait)
        except TimeoutError:
            if time.monotonic() >= next_beat:
                await response.write(b": heartbeat\n\n")
                next_beat = time.monotonic() + heartbeat
            continue
        if item is None:
            if stream.overflowed:
                log.info("live stream of %s overflowed; asking the client to resync", stream.user)
                await response.write(_frame("resync", {}))
            return
        await response.write(
            _frame("upload", {"event": item.name, "upload": upload_json(item.upload)})
        )


async def _close_streams(app: web.Application) -> None:
    streams: set[_Stream] = app[LIVE_STREAMS]
    for stream in list(streams):
        stream.close()


def add_live_routes(app: web.Application, config: LiveConfig | None = None) -> None:
    """Mount ``GET /api/v1/media/events``; open streams end when the application shuts down."""
    app[LIVE_CONFIG] = config or LiveConfig()
    app[LIVE_STREAMS] = set()
    app.on_shutdown.append(_close_streams)
    routes = ObservedRoutes(app)
    routes.add_get("/api/v1/media/events", events)
