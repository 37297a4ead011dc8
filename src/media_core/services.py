"""The use cases, over the ports: request an upload, take a webhook, read, list, cancel, delete."""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable, Mapping, Sequence

import attrs
from attrs import define, frozen

from media_core.errors import (
    Conflict,
    DuplicateDelivery,
    ProviderError,
    RateLimited,
    UploadNotFound,
    VersionConflict,
)
from media_core.events import DomainEvent, ProviderEvent, UploadDeleted, UploadRequested
from media_core.model import FailureCode, MediaUpload, Page, UploadStatus, Visibility
from media_core.policy import UploadPolicy, check_file, sanitize_metadata, sanitize_text
from media_core.ports import (
    Clock,
    DeliveryKey,
    DirectUploadRequest,
    DirectUploadTicket,
    EventPublisher,
    IdGenerator,
    MediaRepository,
    Playback,
    RateDecision,
    RateLimiter,
    VideoProvider,
    WebhookVerifier,
)
from media_core.state_machine import Transition, apply_event, cancel, fail

log = logging.getLogger("media_core")

_Change = Callable[[MediaUpload], Transition]


@frozen
class RequestUpload:
    """A user's request for an upload slot, as the client sent it (before sanitizing)."""

    file_name: str
    file_size: int
    mime_type: str
    title: str = ""
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    extra: Mapping[str, str] = attrs.field(factory=dict)


@frozen
class UploadSlot:
    """A new upload and where to send its bytes."""

    upload: MediaUpload
    ticket: DirectUploadTicket
    rate: RateDecision


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


@define
class MediaService:
    """The use cases of media-core, wired to one provider and one repository."""

    provider: VideoProvider
    repository: MediaRepository
    clock: Clock
    ids: IdGenerator
    rate_limiter: RateLimiter
    publisher: EventPublisher
    policy: UploadPolicy = attrs.field(factory=UploadPolicy)
    max_update_attempts: int = 10

    async def request_upload(self, owner_id: str, command: RequestUpload) -> UploadSlot:
        """Validate, rate-limit, record the upload as UPLOADING, then open the provider's slot.

        The record is written before the provider is called, so that a provider slot never
        exists without a record of ours; if the provider fails, the record ends FAILED.
        """
        mime_type = check_file(self.policy, command.file_name, command.file_size, command.mime_type)
        metadata = sanitize_metadata(
            self.policy,
            title=command.title,
            description=command.description,
            visibility=command.visibility,
            extra=command.extra,
        )
        rate = await self.rate_limiter.acquire(f"create:{owner_id}")
        if not rate.allowed:
            raise RateLimited(
                "too many uploads requested; try again later",
                retry_after=rate.retry_after,
                limit=rate.limit,
                remaining=rate.remaining,
                reset_after=rate.reset_after,
            )
        now = self.clock.now()
        upload = MediaUpload(
            id=self.ids.new_id(),
            owner_id=owner_id,
            provider=self.provider.name,
            file_name=sanitize_text(command.file_name),
            file_size=command.file_size,
            mime_type=mime_type,
            metadata=metadata,
            created_at=now,
            updated_at=now,
        )
        await self.repository.add(upload)
        try:
            ticket = await self.provider.create_direct_upload(
                DirectUploadRequest(
                    upload_id=upload.id,
                    owner_id=owner_id,
                    file_name=upload.file_name,
                    file_size=upload.file_size,
                    mime_type=mime_type,
                    metadata=metadata,
                    now=now,
                )
            )
        except ProviderError as exc:
            reason = f"provider: {exc.detail}"
            await self._mutate(
                upload.id,
                lambda current: fail(current, FailureCode.PROVIDER_ERROR, reason, self.clock.now()),
            )
            raise
        stored = await self._attach_ticket(upload.id, ticket)
        await self._publish((UploadRequested(upload=stored, occurred_at=now),))
        return UploadSlot(upload=stored, ticket=ticket, rate=rate)

    async def _attach_ticket(self, upload_id: str, ticket: DirectUploadTicket) -> MediaUpload:
        def attach(current: MediaUpload) -> Transition:
            updated = attrs.evolve(
                current,
                provider_upload_id=current.provider_upload_id or ticket.provider_upload_id,
                playback_id=current.playback_id or ticket.playback_id,
                provider_asset_id=current.provider_asset_id or ticket.asset_id,
                upload_expires_at=ticket.expires_at,
            )
            return Transition(upload=updated, events=(), changed=updated != current)

        return await self._mutate(upload_id, attach)

    async def _mutate(
        self,
        upload_id: str,
        change: _Change,
        *,
        delivery: DeliveryKey | None = None,
    ) -> MediaUpload:
        """Read, change and store one upload, retrying from a fresh read on a lost race."""
        for _ in range(self.max_update_attempts):
            current = await self.repository.get(upload_id)
            if current is None:
                raise UploadNotFound(f"upload {upload_id} does not exist")
            transition = change(current)
            if not transition.changed:
                return current
            stored = attrs.evolve(transition.upload, version=current.version + 1)
            try:
                await self.repository.update(
                    stored, expected_version=current.version, delivery=delivery
                )
            except VersionConflict:
                continue
            await self._publish(tuple(attrs.evolve(e, upload=stored) for e in transition.events))
            return stored
        raise VersionConflict(f"upload {upload_id} kept changing; gave up after retries")

    async def receive_webhook(
        self, verifier: WebhookVerifier, headers: Mapping[str, str], body: bytes
    ) -> tuple[WebhookOutcome, MediaUpload | None]:
        """Verify a raw webhook delivery and apply its event; see :meth:`apply_provider_event`."""
        delivery = verifier.verify(headers, body, self.clock.now())
        if delivery.event is None:
            return WebhookOutcome.IGNORED, None
        return await self.apply_provider_event(delivery.event)

    async def apply_provider_event(
        self, event: ProviderEvent
    ) -> tuple[WebhookOutcome, MediaUpload | None]:
        """Apply a provider event at most once, through the state machine.

        Safe under concurrent deliveries: the delivery key and the new state are stored in one
        atomic write guarded by the version read, and a lost race is retried from a fresh read.
        """
        key = DeliveryKey(provider=event.provider, delivery_id=event.delivery_id)
        if await self.repository.has_delivery(key):
            return WebhookOutcome.DUPLICATE, None
        for _ in range(self.max_update_attempts):
            upload = await self.repository.find_for_event(event)
            if upload is None or upload.provider != event.provider:
                return WebhookOutcome.UNKNOWN_UPLOAD, None
            now = self.clock.now()
            transition = apply_event(upload, event, now)
            if not transition.changed:
                fresh = await self.repository.record_delivery(key, now)
                outcome = WebhookOutcome.UNCHANGED if fresh else WebhookOutcome.DUPLICATE
                return outcome, upload
            stored = attrs.evolve(transition.upload, version=upload.version + 1)
            try:
                await self.repository.update(stored, expected_version=upload.version, delivery=key)
            except VersionConflict:
                continue
            except DuplicateDelivery:
                return WebhookOutcome.DUPLICATE, None
            await self._publish(tuple(attrs.evolve(e, upload=stored) for e in transition.events))
            return WebhookOutcome.APPLIED, stored
        raise VersionConflict(f"event {event.delivery_id} lost every race; gave up after retries")

    async def get_status(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """The caller's upload by our id or its playback id; anyone else's is not found."""
        upload = await self.repository.get(id_or_playback_id)
        if upload is None:
            upload = await self.repository.get_by_playback_id(id_or_playback_id)
        if upload is None or upload.owner_id != owner_id:
            raise UploadNotFound(f"no upload {id_or_playback_id!r}")
        return upload

    async def list_uploads(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The caller's uploads, newest first."""
        return await self.repository.list_for_owner(owner_id, limit=limit, cursor=cursor)

    async def cancel_upload(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """Cancel an unfinished upload: FAILED with code ``cancelled``, and the slot closed."""
        upload = await self.get_status(owner_id, id_or_playback_id)
        stored = await self._mutate(upload.id, lambda current: cancel(current, self.clock.now()))
        try:
            if stored.status is UploadStatus.FAILED and upload.status is UploadStatus.UPLOADING:
                await self.provider.cancel_upload(stored)
            else:
                await self.provider.delete_video(stored)
        except ProviderError as exc:
            # Our record is final either way; the reconciler or the provider's own expiry
            # cleans up a slot we could not close now.
            log.warning("provider cleanup after cancel failed: %s", exc.detail)
        return stored

    async def delete_upload(self, owner_id: str, id_or_playback_id: str) -> None:
        """Delete the caller's upload here and at the provider."""
        upload = await self.get_status(owner_id, id_or_playback_id)
        if upload.status is UploadStatus.UPLOADING:
            await self.provider.cancel_upload(upload)
        elif upload.provider_asset_id or upload.playback_id:
            await self.provider.delete_video(upload)
        await self.repository.delete(upload.id)
        await self._publish((UploadDeleted(upload=upload, occurred_at=self.clock.now()),))

    async def playback(self, owner_id: str, id_or_playback_id: str) -> Playback:
        """How the owner plays a READY upload (signed when PRIVATE)."""
        upload = await self.get_status(owner_id, id_or_playback_id)
        if upload.status is not UploadStatus.READY:
            raise Conflict(f"upload {upload.id} is {upload.status.value}, not ready")
        return await self.provider.playback(upload, self.clock.now())

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of a user (the host deletes the user); returns how many."""
        return await self.repository.delete_all_for_user(owner_id)

    async def _publish(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        try:
            await self.publisher.publish(events)
        except Exception:  # a subscriber's bug must not undo a committed change
            log.exception("publishing domain events failed")
