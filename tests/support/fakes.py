"""Small, honest fakes of the ports that the real adapters do not cover for unit tests.

The real in-memory repository, rate limiter and webhook verifier live in ``adapters``; these are
the pieces a use-case test must steer: a clock it advances, ids it can predict, a publisher it
reads back, a provider it scripts to fail, and a repository wrapper that loses a race on demand.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import attrs

from media_core.errors import VersionConflict
from media_core.events import DomainEvent, ProviderEvent
from media_core.model import MediaUpload, Page, UploadProtocol
from media_core.ports import (
    DeliveryKey,
    DirectUploadRequest,
    DirectUploadTicket,
    MediaRepository,
    Playback,
    RateDecision,
)

START = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@attrs.define
class FrozenClock:
    """A ``Clock`` that stands still until a test moves it (the one fake clock of the suite)."""

    now_value: datetime = START

    def now(self) -> datetime:
        """The current fake time."""
        return self.now_value

    def advance(self, delta: timedelta) -> datetime:
        """Move time forward by ``delta`` and return the new time."""
        self.now_value += delta
        return self.now_value


class SequentialIds:
    """An ``IdGenerator`` giving ``<prefix>1``, ``<prefix>2``, …"""

    def __init__(self, prefix: str = "up") -> None:
        self.prefix = prefix
        self.issued = 0

    def new_id(self) -> str:
        """The next id in sequence."""
        self.issued += 1
        return f"{self.prefix}{self.issued}"


class RecordingPublisher:
    """An ``EventPublisher`` that keeps every published event, in order."""

    def __init__(self) -> None:
        self.events: list[DomainEvent] = []

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Record ``events``."""
        self.events.extend(events)

    def names(self) -> list[str]:
        """The names of the recorded events, in order."""
        return [event.name for event in self.events]


class ExplodingPublisher:
    """An ``EventPublisher`` whose subscriber is broken: every publish raises."""

    def __init__(self) -> None:
        self.calls = 0

    async def publish(self, events: Sequence[DomainEvent]) -> None:
        """Count the call, then fail."""
        self.calls += 1
        raise RuntimeError("subscriber bug")


class FixedRateLimiter:
    """A ``RateLimiter`` that always admits, or always refuses, every key."""

    def __init__(self, *, allowed: bool, retry_after: float = 30.0) -> None:
        self.allowed = allowed
        self.retry_after = retry_after
        self.keys: list[str] = []

    async def acquire(self, key: str) -> RateDecision:
        """Admit or refuse ``key`` as configured."""
        self.keys.append(key)
        return RateDecision(
            allowed=self.allowed,
            limit=5,
            remaining=4 if self.allowed else 0,
            reset_after=self.retry_after,
            retry_after=0.0 if self.allowed else self.retry_after,
        )


@attrs.define
class ScriptedVideoProvider:
    """A ``VideoProvider`` whose answers and failures a test sets, and which records its calls.

    Set ``create_error`` (or ``cancel_error``, ``delete_error``) to an exception to make the next
    calls raise it; ``playback_id`` is handed out at creation when set (Cloudflare-like).
    """

    name: str = "scripted"
    playback_id: str | None = None
    create_error: Exception | None = None
    cancel_error: Exception | None = None
    delete_error: Exception | None = None
    events: list[ProviderEvent] = attrs.field(factory=list)
    created: list[DirectUploadRequest] = attrs.field(factory=list)
    cancelled: list[str] = attrs.field(factory=list)
    deleted: list[str] = attrs.field(factory=list)

    async def create_direct_upload(self, request: DirectUploadRequest) -> DirectUploadTicket:
        """A ticket for ``request`` (``ps-<upload id>``), or the scripted error."""
        self.created.append(request)
        if self.create_error is not None:
            raise self.create_error
        return DirectUploadTicket(
            provider_upload_id=f"ps-{request.upload_id}",
            url=f"https://upload.example/{request.upload_id}",
            protocol=UploadProtocol.PUT,
            method="PUT",
            expires_at=request.now + timedelta(hours=1),
            headers={"Content-Type": request.mime_type},
            playback_id=self.playback_id,
        )

    async def fetch_events(self, upload: MediaUpload, now: datetime) -> Sequence[ProviderEvent]:
        """The scripted events about ``upload``."""
        return [e for e in self.events if e.upload_id == upload.id]

    async def cancel_upload(self, upload: MediaUpload) -> None:
        """Record the cancellation, or raise the scripted error."""
        self.cancelled.append(upload.id)
        if self.cancel_error is not None:
            raise self.cancel_error

    async def delete_video(self, upload: MediaUpload) -> None:
        """Record the deletion, or raise the scripted error."""
        self.deleted.append(upload.id)
        if self.delete_error is not None:
            raise self.delete_error

    async def playback(self, upload: MediaUpload, now: datetime) -> Playback:
        """A playback URL from the playback id."""
        return Playback(url=f"https://play.example/{upload.playback_id}", mime_type="video/mp4")


class ConflictingRepository:
    """Wraps a ``MediaRepository``; the next ``conflicts`` guarded writes lose a race.

    Losing means what it means in production: another writer stores the upload first (its
    version goes up by one in the inner repository), then this write raises ``VersionConflict``,
    so a retry reads a genuinely newer version. Both guarded writes count: ``update`` and a
    ``record_delivery`` with a change.

    With ``stale_delivery_check``, ``has_delivery`` answers False as a check made just before
    another instance committed the same delivery would; the atomic write must then catch it.
    """

    def __init__(
        self, inner: MediaRepository, *, conflicts: int = 1, stale_delivery_check: bool = False
    ) -> None:
        self.inner = inner
        self.conflicts = conflicts
        self.stale_delivery_check = stale_delivery_check
        self.write_calls = 0

    async def _maybe_lose(self, upload_id: str) -> None:
        self.write_calls += 1
        if self.conflicts > 0:
            self.conflicts -= 1
            current = await self.inner.get(upload_id)
            assert current is not None
            await self.inner.update(current, expected_version=current.version)
            raise VersionConflict("another writer won")

    async def update(self, upload: MediaUpload, *, expected_version: int) -> MediaUpload:
        """Raise ``VersionConflict`` while conflicts remain (bumping the stored version)."""
        await self._maybe_lose(upload.id)
        return await self.inner.update(upload, expected_version=expected_version)

    async def record_delivery(
        self, delivery: DeliveryKey, received_at: datetime, *, change: MediaUpload | None = None
    ) -> None:
        """A change may lose its race as ``update`` does; then delegate."""
        if change is not None:
            await self._maybe_lose(change.id)
        await self.inner.record_delivery(delivery, received_at, change=change)

    async def add(self, upload: MediaUpload) -> None:
        """Delegate."""
        await self.inner.add(upload)

    async def get(self, upload_id: str) -> MediaUpload | None:
        """Delegate."""
        return await self.inner.get(upload_id)

    async def get_by_playback_id(self, playback_id: str) -> MediaUpload | None:
        """Delegate."""
        return await self.inner.get_by_playback_id(playback_id)

    async def find_for_event(self, event: ProviderEvent) -> MediaUpload | None:
        """Delegate."""
        return await self.inner.find_for_event(event)

    async def has_delivery(self, delivery: DeliveryKey) -> bool:
        """Delegate, or answer False when the check is made stale on purpose."""
        if self.stale_delivery_check:
            return False
        return await self.inner.has_delivery(delivery)

    async def list_for_owner(self, owner_id: str, *, limit: int, cursor: str | None) -> Page:
        """Delegate."""
        return await self.inner.list_for_owner(owner_id, limit=limit, cursor=cursor)

    async def delete(self, upload_id: str) -> None:
        """Delegate."""
        await self.inner.delete(upload_id)

    async def delete_all_for_user(self, owner_id: str) -> int:
        """Delegate."""
        return await self.inner.delete_all_for_user(owner_id)
