"""The use cases, over the ports: request an upload, take a webhook, read, list, cancel, delete.

What a create takes and returns (``RequestUpload``, ``UploadSlot``, ``Quota``) lives in
:mod:`media_core.creation` and is re-exported here.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import math
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta

import attrs
from attrs import define

from media_core.creation import (
    IDEMPOTENCY_KEY_PATTERN,
    Quota,
    RequestUpload,
    UploadSlot,
    check_idempotency_key,
    request_fingerprint,
)
from media_core.errors import (
    Conflict,
    DuplicateDelivery,
    IdempotencyKeyReused,
    MediaCoreError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    UploadNotFound,
    VersionConflict,
)
from media_core.events import (
    DomainEvent,
    ProviderEvent,
    UploadDeleted,
    UploadFailedOver,
    UploadRequested,
)
from media_core.model import (
    FailureCode,
    MediaUpload,
    Page,
    UploadMetadata,
    UploadStatus,
)
from media_core.policy import UploadPolicy, check_file, sanitize_metadata, sanitize_text
from media_core.ports import (
    Clock,
    DeliveryKey,
    DirectUploadRequest,
    DirectUploadTicket,
    EventPublisher,
    IdempotencyRecord,
    IdGenerator,
    MediaRepository,
    NewUploadChoice,
    Playback,
    ProviderSelector,
    RateDecision,
    RateLimiter,
    Usage,
    VideoProvider,
    WebhookVerifier,
)
from media_core.providers import Failover, InOrderSelector, ProviderSet, UploadPlan
from media_core.state_machine import (
    Transition,
    abandon,
    apply_event,
    attach_slot,
    cancel,
    expire,
    fail,
    reassign,
)
from media_core.strict import plausible_id

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "MediaService",
    "Quota",
    "RequestUpload",
    "UploadSlot",
    "WebhookOutcome",
    "check_idempotency_key",
    "request_fingerprint",
]

log = logging.getLogger("media_core")

_Change = Callable[[MediaUpload], Transition]


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
    """The use cases of media-core, wired to its providers and one repository.

    Every operation on an existing upload goes to the provider that created it
    (:meth:`ProviderSet.holding`); ``selector`` chooses the provider of each new one.
    """

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

    async def request_upload(
        self,
        owner_id: str,
        command: RequestUpload,
        *,
        idempotency_key: str | None = None,
        provider: str | None = None,
    ) -> UploadSlot:
        """Validate, rate-limit, record the upload as UPLOADING, then open the provider's slot.

        The provider is ``provider`` when the host names one (and only it is tried), else the
        first accepting one in the selector's ranking. A create that fails having done nothing
        there (``ProviderUnavailable.nothing_done``: never sent, refused, 5xx, throttled,
        circuit open) goes on to the next accepting provider of the ranking, and the slot says
        so (``failover``, and an ``UploadFailedOver`` event); only a create no provider took
        raises.

        The order of writes leaves nothing half-done:

        1. the record is written (UPLOADING, no provider id) before the provider is called, so
           a provider slot never exists without a record of ours;
        2. if the provider fails, the record ends FAILED (``provider_error``);
        3. if recording the provider's answer fails, the slot is cancelled at the provider
           (best effort) and the record ends FAILED (``cancelled``);
        4. if even that write fails, the record stays UPLOADING without a provider id, and the
           reconciler fails it once it is older than its ``pending_after``.

        With ``idempotency_key``, the same owner sending the same request again (even at the
        same time) gets the first request's upload and slot back; a different request under the
        same key raises ``IdempotencyKeyReused``. A request that failed releases its key.
        """
        mime_type = check_file(self.policy, command.file_name, command.file_size, command.mime_type)
        metadata = sanitize_metadata(
            self.policy,
            title=command.title,
            description=command.description,
            visibility=command.visibility,
            extra=command.extra,
        )
        choice = NewUploadChoice(
            owner_id=owner_id,
            file_name=command.file_name,
            file_size=command.file_size,
            mime_type=mime_type,
            visibility=metadata.visibility,
        )
        plan = self.providers.plan(choice, self.selector, provider=provider)
        if idempotency_key is not None:
            check_idempotency_key(idempotency_key)
            return await self._idempotent_upload(
                owner_id, command, mime_type, metadata, idempotency_key, plan=plan
            )
        rate = await self._admit(owner_id, command.file_size)
        return await self._new_upload(
            owner_id,
            command,
            mime_type=mime_type,
            metadata=metadata,
            rate=rate,
            upload_id=self.ids.new_id(),
            key=None,
            plan=plan,
        )

    async def _idempotent_upload(
        self,
        owner_id: str,
        command: RequestUpload,
        mime_type: str,
        metadata: UploadMetadata,
        key: str,
        *,
        plan: UploadPlan,
    ) -> UploadSlot:
        fingerprint = request_fingerprint(command)
        attempts = max(1, math.ceil(self.idempotency_wait_seconds / self.idempotency_poll_seconds))
        for _ in range(attempts):
            record = await self.repository.get_idempotency_key(owner_id, key)
            if record is None:
                rate = await self._admit(owner_id, command.file_size)
                mine = IdempotencyRecord(
                    owner_id=owner_id,
                    key=key,
                    fingerprint=fingerprint,
                    upload_id=self.ids.new_id(),
                    created_at=self.clock.now(),
                )
                record = await self.repository.claim_idempotency_key(mine)
                if record.upload_id == mine.upload_id:
                    return await self._new_upload(
                        owner_id,
                        command,
                        mime_type=mime_type,
                        metadata=metadata,
                        rate=rate,
                        upload_id=mine.upload_id,
                        key=key,
                        plan=plan,
                    )
            if record.fingerprint != fingerprint:
                raise IdempotencyKeyReused(
                    f"Idempotency-Key {key!r} was used for a different request"
                )
            upload = await self.repository.get(record.upload_id)
            if record.ticket is not None and upload is not None:
                return UploadSlot(upload=upload, ticket=record.ticket, rate=None, replayed=True)
            if self._abandoned(record, upload):
                await self.repository.release_idempotency_key(owner_id, key, record.upload_id)
                continue
            await self.sleep(self.idempotency_poll_seconds)  # the first request is under way
        raise Conflict(f"a request with Idempotency-Key {key!r} is still in progress; retry")

    def _abandoned(self, record: IdempotencyRecord, upload: MediaUpload | None) -> bool:
        """True when the request behind ``record`` will never complete it."""
        if upload is None:
            # Deleted since, or never written (its request died between claim and write).
            waited = timedelta(seconds=self.idempotency_wait_seconds)
            return record.ticket is not None or record.created_at < self.clock.now() - waited
        return record.ticket is None and upload.status is UploadStatus.FAILED

    async def _admit(self, owner_id: str, file_size: int) -> RateDecision:
        rate = await self.rate_limiter.acquire(f"create:{owner_id}")
        if not rate.allowed:
            raise RateLimited(
                "too many uploads requested; try again later",
                retry_after=rate.retry_after,
                limit=rate.limit,
                remaining=rate.remaining,
                reset_after=rate.reset_after,
            )
        if not self.quota.unlimited:
            self.quota.check(await self.repository.usage_for_owner(owner_id), file_size)
        return rate

    async def _new_upload(
        self,
        owner_id: str,
        command: RequestUpload,
        *,
        mime_type: str,
        metadata: UploadMetadata,
        rate: RateDecision,
        upload_id: str,
        key: str | None,
        plan: UploadPlan,
    ) -> UploadSlot:
        now = self.clock.now()
        upload = MediaUpload(
            id=upload_id,
            owner_id=owner_id,
            provider=plan.attempts[0].name,
            file_name=sanitize_text(command.file_name),
            file_size=command.file_size,
            mime_type=mime_type,
            metadata=metadata,
            created_at=now,
            updated_at=now,
        )
        try:
            await self.repository.add(upload)
        except Exception:
            await self._release_key(owner_id, key, upload.id)
            raise
        request = DirectUploadRequest(
            upload_id=upload.id,
            owner_id=owner_id,
            file_name=upload.file_name,
            file_size=upload.file_size,
            mime_type=mime_type,
            metadata=metadata,
            now=now,
        )
        try:
            upload, provider, ticket, failover = await self._open_slot(upload, request, plan)
        except ProviderError as exc:
            await self._fail_quietly(
                upload.id, FailureCode.PROVIDER_ERROR, f"provider: {exc.detail}"
            )
            await self._release_key(owner_id, key, upload.id)
            raise
        try:
            stored = await self._attach_ticket(upload, ticket)
            if key is not None:
                await self.repository.complete_idempotency_key(owner_id, key, upload.id, ticket)
        except Exception:
            await self._compensate(upload, ticket, provider)
            await self._release_key(owner_id, key, upload.id)
            raise
        log.info(
            "upload requested",
            extra={"upload_id": stored.id, "provider": stored.provider, "bytes": stored.file_size},
        )
        events: tuple[DomainEvent, ...] = (UploadRequested(upload=stored, occurred_at=now),)
        if failover is not None:
            moved = UploadFailedOver(
                upload=stored,
                occurred_at=now,
                from_provider=failover.from_provider,
                reason=failover.reason,
            )
            events = (moved, *events)
        await self._publish(events)
        return UploadSlot(upload=stored, ticket=ticket, rate=rate, failover=failover)

    async def _open_slot(
        self, upload: MediaUpload, request: DirectUploadRequest, plan: UploadPlan
    ) -> tuple[MediaUpload, VideoProvider, DirectUploadTicket, Failover | None]:
        """Open the slot at the first provider of ``plan`` that takes it, failing over (and
        moving the record to the next provider) while a create fails having done nothing."""
        error: ProviderUnavailable | None = None
        reason: str | None = None  # why the first one that failed did
        for provider in plan.attempts:
            if provider.name != upload.provider:
                upload = (
                    await self._mutate(upload.id, self._reassign_to(provider.name), known=upload)
                ).upload
                if upload.provider != provider.name:
                    assert error is not None
                    raise error  # the record moved on meanwhile (cancelled): stop here
            try:
                ticket = await provider.create_direct_upload(request)
            except ProviderUnavailable as exc:
                if not exc.nothing_done:
                    raise  # it may exist there: another provider's slot would be an orphan
                log.warning("%s; trying the next provider", exc.detail)
                error, reason = exc, reason or exc.detail
                continue
            failover = plan.failover(provider.name, reason)
            if failover is not None:
                log.warning("upload %s failed over: %s", upload.id, failover)
            return upload, provider, ticket, failover
        assert error is not None
        raise error

    def _reassign_to(self, provider: str) -> _Change:
        return lambda current: reassign(current, provider, self.clock.now())

    async def _compensate(
        self, upload: MediaUpload, ticket: DirectUploadTicket, provider: VideoProvider
    ) -> None:
        """Undo a provider slot whose recording failed: cancel it there, fail the record here."""
        try:
            await provider.cancel_upload(_with_slot(upload, ticket).upload)
        except MediaCoreError as exc:
            # Nobody got the URL, so the slot stays unused until the provider expires it.
            log.warning("cancelling the unrecorded slot of %s failed: %s", upload.id, exc.detail)
        await self._fail_quietly(
            upload.id,
            FailureCode.CANCELLED,
            "the provider's upload slot could not be recorded, so it was cancelled",
        )

    async def _fail_quietly(self, upload_id: str, code: FailureCode, reason: str) -> None:
        """Fail an unfinished upload; if storage fails too, leave it to the reconciler."""
        try:
            await self._mutate(
                upload_id, lambda current: fail(current, code, reason, self.clock.now())
            )
        except MediaCoreError as exc:
            log.warning("could not fail upload %s (%s); the reconciler will", upload_id, exc.detail)

    async def _release_key(self, owner_id: str, key: str | None, upload_id: str) -> None:
        """Forget a failed request's idempotency key so that a retry starts afresh."""
        if key is None:
            return
        try:
            await self.repository.release_idempotency_key(owner_id, key, upload_id)
        except MediaCoreError as exc:
            # A retry finds the upload FAILED and releases the key itself.
            log.warning("could not release idempotency key of %s: %s", upload_id, exc.detail)

    async def expire_upload(self, upload_id: str) -> bool:
        """FAILED (``expired``) if still UPLOADING after its upload URL expired.

        True if this call failed it.
        """
        transition = await self._mutate(
            upload_id, lambda current: expire(current, self.clock.now())
        )
        return transition.changed

    async def abandon_upload(self, upload_id: str, *, created_before: datetime) -> bool:
        """FAILED (``provider_error``) if still UPLOADING without a provider slot and created
        before ``created_before``: its create died between our first write and the last one.

        True if this call failed it.
        """
        transition = await self._mutate(
            upload_id, lambda current: abandon(current, created_before, self.clock.now())
        )
        return transition.changed

    async def _attach_ticket(self, upload: MediaUpload, ticket: DirectUploadTicket) -> MediaUpload:
        # The record was written a moment ago: start from it rather than read it back.
        transition = await self._mutate(
            upload.id, lambda current: _with_slot(current, ticket), known=upload
        )
        return transition.upload

    async def _mutate(
        self, upload_id: str, change: _Change, *, known: MediaUpload | None = None
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

    async def get_status(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """The caller's upload by our id or its playback id; anyone else's is not found.

        A value that has no id's shape (:func:`~media_core.strict.plausible_id`) is not found
        either, without a query: no store is asked to look up NUL bytes or 5,000 characters.
        """
        if not plausible_id(id_or_playback_id):
            raise UploadNotFound("no upload by that id")
        upload = await self.repository.get(id_or_playback_id)
        if upload is None:
            upload = await self.repository.get_by_playback_id(id_or_playback_id)
        if upload is None or upload.owner_id != owner_id:
            raise UploadNotFound("no upload by that id")
        return upload

    async def usage(self, owner_id: str) -> Usage:
        """What the owner's uploads that did not fail take up; compare with :attr:`quota`."""
        return await self.repository.usage_for_owner(owner_id)

    async def list_uploads(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The caller's uploads, newest first."""
        return await self.repository.list_for_owner(owner_id, limit=limit, cursor=cursor)

    async def cancel_upload(self, owner_id: str, id_or_playback_id: str) -> MediaUpload:
        """Cancel an unfinished upload: FAILED with code ``cancelled``, and the slot closed.

        ``ProviderNotConfigured``, with nothing changed, when its provider was removed.
        """
        upload = await self.get_status(owner_id, id_or_playback_id)
        provider = self.providers.holding(upload)
        transition = await self._mutate(
            upload.id, lambda current: cancel(current, self.clock.now())
        )
        stored = transition.upload
        try:
            if stored.status is UploadStatus.FAILED and upload.status is UploadStatus.UPLOADING:
                await provider.cancel_upload(stored)
            else:
                await provider.delete_video(stored)
        except ProviderError as exc:
            # Our record is final either way; the reconciler or the provider's own expiry
            # cleans up a slot we could not close now.
            log.warning("provider cleanup after cancel failed: %s", exc.detail)
        return stored

    async def delete_upload(self, owner_id: str, id_or_playback_id: str) -> None:
        """Delete the caller's upload here and at its provider.

        ``ProviderNotConfigured``, with nothing deleted, when its provider was removed: its
        copy there would be left behind unseen.
        """
        upload = await self.get_status(owner_id, id_or_playback_id)
        provider = self.providers.holding(upload)
        if upload.status is UploadStatus.UPLOADING:
            await provider.cancel_upload(upload)
        elif upload.provider_asset_id or upload.playback_id:
            await provider.delete_video(upload)
        await self.repository.delete(upload.id)
        await self._publish((UploadDeleted(upload=upload, occurred_at=self.clock.now()),))

    async def playback(self, owner_id: str, id_or_playback_id: str) -> Playback:
        """How the owner plays a READY upload (signed when PRIVATE), through its provider; once
        that provider is removed, from the stored ids where that is possible (public)."""
        upload = await self.get_status(owner_id, id_or_playback_id)
        if upload.status is not UploadStatus.READY:
            raise Conflict(f"upload {upload.id} is {upload.status.value}, not ready")
        provider = self.providers.get(upload.provider)
        if provider is None:
            return self.providers.stored_playback(upload)
        return await provider.playback(upload, self.clock.now())

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of a user (the host deletes the user); returns how many.

        Each video is deleted at its own provider first (best effort: a provider that fails,
        or is no longer configured, is logged, and its copy expires or is removed by hand),
        then every record goes in one write.
        """
        uploads: list[MediaUpload] = []
        cursor: str | None = None
        while True:
            page = await self.repository.list_for_owner(owner_id, limit=100, cursor=cursor)
            uploads.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        for upload in uploads:
            try:
                provider = self.providers.holding(upload)
                if upload.status is UploadStatus.UPLOADING:
                    await provider.cancel_upload(upload)
                elif upload.provider_asset_id or upload.playback_id:
                    await provider.delete_video(upload)
            except ProviderError as exc:
                log.warning("provider cleanup of upload %s failed: %s", upload.id, exc.detail)
        count = await self.repository.delete_all_for_user(owner_id)
        now = self.clock.now()
        await self._publish(tuple(UploadDeleted(upload=u, occurred_at=now) for u in uploads))
        return count

    async def _publish(self, events: Sequence[DomainEvent]) -> None:
        if not events:
            return
        try:
            await self.publisher.publish(events)
        except Exception:  # a subscriber's bug must not undo a committed change
            log.exception("publishing domain events failed")


def _with_slot(upload: MediaUpload, ticket: DirectUploadTicket) -> Transition:
    return attach_slot(
        upload,
        provider_upload_id=ticket.provider_upload_id,
        playback_id=ticket.playback_id,
        asset_id=ticket.asset_id,
        expires_at=ticket.expires_at,
    )
