"""The ports: what the core needs from the outside world, as ``typing.Protocol``s.

Adapters in ``adapters`` implement them; the core never imports an adapter. I/O methods are async.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Protocol, runtime_checkable

import attrs
from attrs import frozen

from media_core.events import DomainEvent, ProviderEvent
from media_core.model import (
    MediaUpload,
    Page,
    UploadMetadata,
    UploadProtocol,
    UploadStatus,
    Visibility,
)


@frozen
class DirectUploadRequest:
    """What a provider needs to open a direct-upload slot for ``upload_id``."""

    upload_id: str
    owner_id: str
    file_name: str
    file_size: int
    mime_type: str
    metadata: UploadMetadata
    now: datetime


@frozen
class DirectUploadTicket:
    """Where and how the client sends the bytes.

    ``playback_id`` is known here for Cloudflare (the uid) and ``None`` for Mux.
    """

    provider_upload_id: str
    url: str
    protocol: UploadProtocol
    method: str
    expires_at: datetime
    headers: Mapping[str, str] = attrs.field(factory=dict)
    playback_id: str | None = None
    asset_id: str | None = None
    chunk_size: int | None = None
    """A chunk size the client should use for chunked or resumable protocols, if any."""


@frozen
class Playback:
    """How to play a READY upload; ``token`` and ``expires_at`` are set for signed playback."""

    url: str
    mime_type: str
    thumbnail_url: str | None = None
    token: str | None = None
    thumbnail_token: str | None = None
    expires_at: datetime | None = None


@frozen
class WebhookDelivery:
    """A verified webhook: its provider event, or ``None`` for one we acknowledge and ignore."""

    provider: str
    event_type: str
    event: ProviderEvent | None


class VideoProvider(Protocol):
    """A video platform that takes direct uploads and processes them (Mux, Cloudflare, fake)."""

    @property
    def name(self) -> str:
        """The provider's stable name, stored with each upload (``mux``, ``cloudflare``)."""
        ...

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """Open an upload slot; raises ``ProviderUnavailable`` or ``ProviderRejected``."""
        ...

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """Read the provider's current view of ``upload`` as events (for the reconciler)."""
        ...

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Stop accepting bytes for ``upload``; a slot that is already gone is not an error."""
        ...

    async def delete_video(self, upload: MediaUpload) -> None:
        """Delete the provider's copy of ``upload``; a video already gone is not an error."""
        ...

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """Playback URLs for a READY upload, signed when its visibility is PRIVATE."""
        ...


StoredPlayback = Callable[[MediaUpload], Playback | None]
"""Playback built from an upload's stored ids alone, with no call and no credentials (public Mux
and Cloudflare URLs), or None when that is not possible: how an upload whose provider was removed
from the configuration is still played."""


class ProviderHealth(Protocol):
    """Whether a provider can take a new upload now (its circuit breaker, for a real one)."""

    def accepting(self) -> bool:
        """True when a call would go through now (closed circuit, or a probe is due)."""
        ...


@frozen
class ProviderCandidate:
    """One configured provider, as a :class:`ProviderSelector` sees it."""

    name: str
    accepting: bool
    """What its :class:`ProviderHealth` says now."""


@frozen
class NewUploadChoice:
    """What a :class:`ProviderSelector` knows about a new upload (sanitized and checked)."""

    owner_id: str
    file_name: str
    file_size: int
    mime_type: str
    visibility: Visibility


class ProviderSelector(Protocol):
    """Chooses the provider of each new upload, for example very large files to Cloudflare.

    The default, :class:`media_core.providers.InOrderSelector`, prefers the configured order.
    """

    def select(
        self, upload: NewUploadChoice, candidates: Sequence[ProviderCandidate]
    ) -> Sequence[str]:
        """The names of the providers that may hold ``upload``, most preferred first.

        The service gives the upload to the first one that is accepting and fails over to the
        next when a create fails before anything exists there; names not among ``candidates``
        are an error. Pure and quick: it runs on every create.
        """
        ...


class WebhookVerifier(Protocol):
    """Checks and parses the webhooks of one route: signature, timestamp, then body."""

    @property
    def provider(self) -> str:
        """The provider whose deliveries this verifier accepts."""
        ...

    def verify(self, headers: Mapping[str, str], body: bytes, now: datetime) -> WebhookDelivery:
        """Raise ``InvalidSignature``, ``StaleWebhook`` or ``MalformedWebhook``, or parse."""
        ...


@frozen
class DeliveryKey:
    """Identifies one webhook delivery for at-most-once application."""

    provider: str
    delivery_id: str


@frozen
class StaleCriteria:
    """Which unfinished uploads the reconciler claims in one batch, and for how long.

    An upload qualifies when no lease on it runs past ``now`` and it is UPLOADING with no
    provider upload id since before ``pending_before`` (a create that never recorded its slot),
    UPLOADING with ``upload_expires_at`` at or before ``now``, UPLOADING unchanged since before
    ``uploading_before``, or PROCESSING unchanged since before ``processing_before``. Claimed
    uploads are leased until ``lease_until``: every other claimer skips them until then.
    """

    now: datetime
    pending_before: datetime
    uploading_before: datetime
    processing_before: datetime
    lease_until: datetime
    limit: int


@frozen
class IdempotencyRecord:
    """A create request remembered under its owner's ``Idempotency-Key``.

    ``fingerprint`` identifies the request's content; ``ticket`` is set once the provider's slot
    is recorded, and is what a retry of the same request gets back.
    """

    owner_id: str
    key: str
    fingerprint: str
    upload_id: str
    created_at: datetime
    ticket: DirectUploadTicket | None = None


class MediaRepository(Protocol):
    """Stores uploads and the webhook deliveries already applied; it runs none of the core's
    rules: the service reads, decides with the state machine, and writes.

    Writes are atomic: a ``record_delivery`` with a ``change`` stores both or neither.
    """

    async def add(self, upload: MediaUpload) -> None:
        """Insert a new upload (version 0)."""
        ...

    async def get(self, upload_id: str) -> MediaUpload | None:
        """The upload with our id ``upload_id``."""
        ...

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """The upload with this playback id."""
        ...

    async def find_for_event(self, event: ProviderEvent) -> MediaUpload | None:
        """The upload an event refers to: by our id, else provider upload, asset or playback id."""
        ...

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Store ``upload`` if the stored version is still ``expected_version``.

        Returns the stored upload (version ``expected_version + 1``). Raises ``VersionConflict``
        if another writer got there first (or the upload is gone), and ``Conflict`` if the
        upload takes another one's unique key; in both cases nothing is written.
        """
        ...

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """Record a webhook delivery once, with the change it made, in one transaction.

        ``change`` is the next version of the upload the delivery changed (``None`` when it
        changed nothing): it is stored only if the stored version is still
        ``change.version - 1``. Raises ``DuplicateDelivery`` if the delivery was recorded
        before, ``VersionConflict`` if another writer changed the upload since it was read,
        and ``Conflict`` if the change takes another upload's unique key; in each case
        nothing is written.
        """
        ...

    async def has_delivery(self, delivery: DeliveryKey) -> bool:
        """True if the delivery was recorded."""
        ...

    async def list_for_owner(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """The owner's uploads, newest first, ``limit`` at a time."""
        ...

    async def delete(self, upload_id: str) -> None:
        """Remove one upload record."""
        ...

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Remove every upload of ``owner_id``; returns how many."""
        ...

    async def prune_deliveries(self, older_than: datetime) -> int:
        """Forget deliveries received before ``older_than``; returns how many."""
        ...

    async def claim_stale(self, criteria: StaleCriteria) -> Sequence[MediaUpload]:
        """Lease up to ``criteria.limit`` stale unfinished uploads, oldest change first.

        Atomic: concurrent claimers (other instances included) never get the same upload
        while its lease runs.
        """
        ...

    async def get_idempotency_key(self, owner_id: str, key: str) -> IdempotencyRecord | None:
        """The request remembered under ``owner_id`` and ``key``."""
        ...

    async def claim_idempotency_key(self, record: IdempotencyRecord) -> IdempotencyRecord:
        """Store ``record`` unless its (owner, key) exists; return what is stored (atomic)."""
        ...

    async def complete_idempotency_key(
        self, owner_id: str, key: str, upload_id: str, ticket: DirectUploadTicket
    ) -> None:
        """Attach ``ticket`` to the record of ``upload_id`` under ``key``."""
        ...

    async def release_idempotency_key(self, owner_id: str, key: str, upload_id: str) -> None:
        """Forget ``key`` if it still refers to ``upload_id`` (a failed request may be retried)."""
        ...

    async def prune_idempotency_keys(self, older_than: datetime) -> int:
        """Forget keys created before ``older_than``; returns how many."""
        ...

    async def usage_for_owner(self, owner_id: str) -> Usage:
        """What ``owner_id``'s uploads that did not fail take up (for quotas)."""
        ...


@frozen
class Usage:
    """One owner's storage: bytes stored and number of their uploads that did not fail.

    Bytes are what the provider reports storing where it does (the local provider, once it
    processed a video: source and renditions), else the declared sizes.
    """

    bytes: int
    count: int


@frozen
class StorageTally:
    """How many uploads one provider holds in one status, and their bytes (as :class:`Usage`)."""

    provider: str
    status: UploadStatus
    count: int
    bytes: int
    cancelled: int = 0
    """Of ``count``, the FAILED uploads that were cancelled (failure code ``cancelled``)."""


class StorageStatistics(Protocol):
    """Aggregates over every stored upload, for metrics and the operator's ``stats`` command."""

    async def storage_tallies(self) -> tuple[StorageTally, ...]:
        """Count and bytes per (provider, status); one grouped query, no rows loaded."""
        ...

    async def recent_ready(self, limit: int) -> tuple[MediaUpload, ...]:
        """Up to ``limit`` READY uploads, the most recently changed first."""
        ...


class ErrorReporter(Protocol):
    """Tells someone about an unexpected exception (a bug, not a business outcome).

    ``context`` says where it happened (request id, route, event name); it must hold no
    secrets and no personal data beyond ids.
    """

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Record ``error``; never raises."""
        ...


class Clock(Protocol):
    """The time, as an aware UTC ``datetime``."""

    def now(self) -> datetime:
        """The current time."""
        ...


class IdGenerator(Protocol):
    """New unique, URL-safe ids."""

    def new_id(self) -> str:
        """A fresh id."""
        ...


@frozen
class RateDecision:
    """The answer of a rate limiter: whether to admit, and what to tell the client."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: float
    """Seconds until the bucket is full again."""
    retry_after: float
    """Seconds until one more request would be admitted (0 when allowed)."""


class RateLimiter(Protocol):
    """Admits or refuses one request under ``key`` (a user, an address)."""

    async def acquire(self, key: str) -> RateDecision:
        """Take one unit for ``key`` if there is one."""
        ...


@runtime_checkable
class EventPublisher(Protocol):
    """Carries domain events to whoever listens (the host application, live status)."""

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Deliver ``events``, after the change that caused them was stored."""
        ...
