"""Creating an upload: validate, rate-limit, record, open the provider's slot (failing over),
and undo what a failure leaves half-done; ``Idempotency-Key`` replays."""

from __future__ import annotations

import math
from datetime import timedelta

from media_core.creation import (
    RequestUpload,
    UploadSlot,
    check_idempotency_key,
    request_fingerprint,
)
from media_core.errors import (
    Conflict,
    IdempotencyKeyReused,
    MediaCoreError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from media_core.events import DomainEvent, UploadFailedOver, UploadRequested
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus
from media_core.policy import check_file, sanitize_metadata, sanitize_text
from media_core.ports import (
    DirectUploadRequest,
    DirectUploadTicket,
    IdempotencyRecord,
    NewUploadChoice,
    RateDecision,
    VideoProvider,
)
from media_core.providers import Failover, UploadPlan
from media_core.services._base import Change, ServiceBase, log
from media_core.state_machine import Transition, attach_slot, fail, reassign


class CreatingUploads(ServiceBase):
    """:meth:`request_upload` and its steps."""

    __slots__ = ()

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

    def _reassign_to(self, provider: str) -> Change:
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

    async def _attach_ticket(self, upload: MediaUpload, ticket: DirectUploadTicket) -> MediaUpload:
        # The record was written a moment ago: start from it rather than read it back.
        transition = await self._mutate(
            upload.id, lambda current: _with_slot(current, ticket), known=upload
        )
        return transition.upload


def _with_slot(upload: MediaUpload, ticket: DirectUploadTicket) -> Transition:
    return attach_slot(
        upload,
        provider_upload_id=ticket.provider_upload_id,
        playback_id=ticket.playback_id,
        asset_id=ticket.asset_id,
        expires_at=ticket.expires_at,
    )
