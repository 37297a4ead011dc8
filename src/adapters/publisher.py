"""An in-process event publisher: host applications subscribe callbacks to domain events."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence

from media_core.events import DomainEvent
from media_core.ports import ErrorReporter

log = logging.getLogger("adapters.publisher")

Subscriber = Callable[[DomainEvent], Awaitable[None]]


class InProcessEventPublisher:
    """Calls every subscriber for every event, in order; one failing subscriber skips no other.

    A subscriber that raises is reported to ``error_reporter`` (default: logged here).
    """

    def __init__(self, *, error_reporter: ErrorReporter | None = None) -> None:
        # A tuple, replaced on every change: publishing iterates a snapshot without copying,
        # and a subscriber may unsubscribe (or subscribe another) while it is being called.
        self._subscribers: tuple[tuple[type[DomainEvent], Subscriber], ...] = ()
        self._error_reporter = error_reporter

    def subscribe(
        self, subscriber: Subscriber, event_type: type[DomainEvent] = DomainEvent
    ) -> Callable[[], None]:
        """Call ``subscriber`` for each event of ``event_type``; returns an unsubscribe function."""
        entry = (event_type, subscriber)
        self._subscribers = (*self._subscribers, entry)

        def unsubscribe() -> None:
            entries = list(self._subscribers)
            if entry in entries:
                entries.remove(entry)
                self._subscribers = tuple(entries)

        return unsubscribe

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver ``events`` to the matching subscribers."""
        for event in events:
            for event_type, subscriber in self._subscribers:
                if not isinstance(event, event_type):
                    continue
                try:
                    await subscriber(event)
                except Exception as exc:  # one subscriber's bug must not hide events from others
                    if self._error_reporter is None:
                        log.exception("subscriber %r failed on %s", subscriber, event.name)
                    else:
                        self._error_reporter.report(
                            exc,
                            {
                                "where": "event subscriber",
                                "subscriber": getattr(subscriber, "__qualname__", repr(subscriber)),
                                "event": event.name,
                                "upload_id": event.upload.id,
                                "provider": event.upload.provider,
                            },
                        )
