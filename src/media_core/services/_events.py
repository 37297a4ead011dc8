"""Applying a provider's events: a verified webhook delivery, or an event the reconciler read."""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from datetime import datetime

from media_core.errors import DuplicateDelivery, VersionConflict
from media_core.events import ProviderEvent
from media_core.model import MediaUpload
from media_core.ports import DeliveryKey, WebhookVerifier
from media_core.services._base import ServiceBase, log
from media_core.state_machine import apply_event


class WebhookOutcome(enum.Enum):
    """What became of a verified webhook delivery."""

    APPLIED = "applied"
    """It changed the upload."""
    UNCHANGED = "unchanged"
    """A first delivery that brought nothing new (late, or after the end)."""
    DUPLICATE = "duplicate"
    """This delivery was applied before."""
    IGNORED = "ignored"
    """An event type that does not concern upload state."""
    UNKNOWN_UPLOAD = "unknown_upload"
    """It refers to no upload of ours."""


class ApplyingProviderEvents(ServiceBase):
    """:meth:`receive_webhook` and :meth:`apply_provider_event`."""

    __slots__ = ()

    async def receive_webhook(
        self, verifier: WebhookVerifier, headers: Mapping[str, str], body: bytes
    ) -> tuple[WebhookOutcome, MediaUpload | None]:
        """Verify a raw webhook delivery and apply its event; see :meth:`apply_provider_event`."""
        now = self.clock.now()
        delivery = verifier.verify(headers, body, now)
        if delivery.event is None:
            outcome, upload = WebhookOutcome.IGNORED, None
        else:
            outcome, upload = await self._apply_provider_event(delivery.event, now)
        if log.isEnabledFor(logging.INFO):
            log.info(
                "webhook %s",
                outcome.value,
                extra={
                    "provider": delivery.provider,
                    "event_type": delivery.event_type,
                    "upload_id": upload.id if upload else None,
                },
            )
        return outcome, upload

    async def apply_provider_event(
        self, event: ProviderEvent
    ) -> tuple[WebhookOutcome, MediaUpload | None]:
        """Apply a provider event at most once, through the state machine.

        Read, decide, write: find the upload the event refers to, apply the state machine, and
        record the delivery with the change in one write guarded by the version read
        (:meth:`MediaRepository.record_delivery`); a lost race is retried from a fresh read.
        Safe under concurrent deliveries, with no separate "seen before?" read: applying an
        event twice changes nothing, so a duplicate ends as DUPLICATE in that write.
        """
        return await self._apply_provider_event(event, self.clock.now())

    async def _apply_provider_event(
        self, event: ProviderEvent, now: datetime
    ) -> tuple[WebhookOutcome, MediaUpload | None]:
        """:meth:`apply_provider_event`, the first attempt at ``now`` (a retry reads the clock)."""
        key = DeliveryKey(provider=event.provider, delivery_id=event.delivery_id)
        for attempt in range(self.max_update_attempts):
            if attempt:
                now = self.clock.now()
            found = await self.repository.find_for_event(event)
            # An upload belongs to the provider that created it: another's event is not its.
            if found is None or found.provider != event.provider:
                return WebhookOutcome.UNKNOWN_UPLOAD, None
            transition = apply_event(found, event, now)
            change = transition.upload if transition.changed else None
            try:
                await self.repository.record_delivery(key, now, change=change)
            except VersionConflict:
                continue
            except DuplicateDelivery:
                return WebhookOutcome.DUPLICATE, found
            if change is None:
                return WebhookOutcome.UNCHANGED, found
            await self._publish(transition.events)
            return WebhookOutcome.APPLIED, change
        raise VersionConflict(f"event {event.delivery_id} lost every race; gave up after retries")
