""":meth:`MediaRepository.write_event` from the repository's other methods.

For repositories without a faster way (the in-memory one, a host's own): a read, then either a
guarded update that records the delivery with the change, or the delivery alone.
"""

from __future__ import annotations

from datetime import datetime

from media_core.errors import DuplicateDelivery, VersionConflict
from media_core.events import ProviderEvent
from media_core.ports import (
    DeliveryKey,
    EventDecision,
    EventWrite,
    EventWriteOutcome,
    MediaRepository,
)


async def write_event_in_steps(
    repository: MediaRepository,
    event: ProviderEvent,
    decide: EventDecision,
    delivery: DeliveryKey,
    received_at: datetime,
) -> EventWrite:
    """:meth:`MediaRepository.write_event` through ``find_for_event``, ``update`` and
    ``record_delivery``."""
    found = await repository.find_for_event(event)
    if found is None:
        return EventWrite(EventWriteOutcome.UNKNOWN, None, None)
    transition = decide(found)
    if transition is None:
        return EventWrite(EventWriteOutcome.UNKNOWN, found, None)
    if not transition.changed:
        fresh = await repository.record_delivery(delivery, received_at)
        outcome = EventWriteOutcome.UNCHANGED if fresh else EventWriteOutcome.DUPLICATE
        return EventWrite(outcome, found, transition)
    try:
        await repository.update(
            transition.upload, expected_version=found.version, delivery=delivery
        )
    except VersionConflict:
        return EventWrite(EventWriteOutcome.CONFLICT, found, transition)
    except DuplicateDelivery:
        return EventWrite(EventWriteOutcome.DUPLICATE, found, transition)
    return EventWrite(EventWriteOutcome.APPLIED, found, transition)
