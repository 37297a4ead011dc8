"""What every use case of :class:`~media_core.services.MediaService` shares: its ports and
settings (the service's fields), and the read → change → write of one upload."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence

import attrs
from attrs import define

from media_core.creation import Quota
from media_core.errors import UploadNotFound, VersionConflict
from media_core.events import DomainEvent
from media_core.model import MediaUpload
from media_core.policy import UploadPolicy
from media_core.ports import (
    Clock,
    EventPublisher,
    IdGenerator,
    MediaRepository,
    ProviderSelector,
    RateLimiter,
)
from media_core.providers import InOrderSelector, ProviderSet
from media_core.state_machine import Transition

log = logging.getLogger("media_core")

Change = Callable[[MediaUpload], Transition]


@define
class ServiceBase:
    """The fields of :class:`~media_core.services.MediaService`, and the two steps every use case
    takes: change one upload under its version (:meth:`_mutate`) and publish what changed."""

    providers: ProviderSet
    repository: MediaRepository
    clock: Clock
    ids: IdGenerator
    rate_limiter: RateLimiter
    publisher: EventPublisher
    policy: UploadPolicy = attrs.field(factory=UploadPolicy)
    max_update_attempts: int = 10
    quota: Quota = attrs.field(factory=Quota)
    idempotency_wait_seconds: float = 10.0
    """How long a request waits for another one with the same ``Idempotency-Key`` to finish."""
    idempotency_poll_seconds: float = 0.05
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    selector: ProviderSelector = attrs.field(factory=InOrderSelector)

    async def _mutate(
        self, upload_id: str, change: Change, *, known: MediaUpload | None = None
    ) -> Transition:
        """Read, change and store one upload, retrying from a fresh read on a lost race.

        ``known`` is a version believed current; the first attempt starts from it (saving a
        read), and a lost race falls back to reading. Returns the transition stored (or the
        no-op one).
        """
        for _ in range(self.max_update_attempts):
            current = known if known is not None else await self.repository.get(upload_id)
            known = None
            if current is None:
                raise UploadNotFound(f"upload {upload_id} does not exist")
            transition = change(current)
            if not transition.changed:
                return transition
            try:
                await self.repository.update(transition.upload, expected_version=current.version)
            except VersionConflict:
                continue
            await self._publish(transition.events)
            return transition
        raise VersionConflict(f"upload {upload_id} kept changing; gave up after retries")

    async def _publish(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        try:
            await self.publisher.publish(events)
        except Exception:  # a subscriber's bug must not undo a committed change
            log.exception("publishing domain events failed")
