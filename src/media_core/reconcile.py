"""The reconciler: finishes uploads whose webhooks never came, and forgets what is too old.

One pass (:meth:`Reconciler.run_once`) claims bounded batches of stale unfinished uploads
(:meth:`MediaRepository.claim_stale`, which leases them so that every other instance skips them),
and for each one:

- an upload whose provider is no longer configured is left alone, and counted (nothing is sent
  to a provider that did not create it, and nothing is decided without its answer);
- an upload still UPLOADING without a provider upload id, older than ``pending_after``, is a
  create that died between our first write and the last: it ends FAILED (``provider_error``);
- any other asks its own provider for its state (``VideoProvider.fetch_events``) and applies what
  it says through :meth:`MediaService.apply_provider_event`, the webhooks' own path (so the state
  machine and the at-most-once delivery keys apply unchanged);
- then one still UPLOADING whose upload URL has expired ends FAILED (``expired``).

A provider that fails for one upload costs that upload nothing: its lease runs out and a later
pass tries again (the lease doubles as a back-off). Then webhook deliveries older than
``deliveries_kept`` and idempotency keys older than ``idempotency_kept`` are pruned.
"""

from __future__ import annotations

import logging
from datetime import timedelta

import attrs
from attrs import define, field, frozen

from media_core.errors import MediaCoreError
from media_core.model import MediaUpload, UploadStatus
from media_core.ports import StaleCriteria
from media_core.services import MediaService, WebhookOutcome

log = logging.getLogger("media_core.reconcile")


def _positive(_: object, attribute: object, value: int) -> None:
    if value < 1:
        raise ValueError(f"{getattr(attribute, 'name', 'value')} must be at least 1")


@frozen
class ReconcileSettings:
    """When an unfinished upload counts as stale, and how much one pass does."""

    pending_after: timedelta = timedelta(minutes=5)
    """UPLOADING with no provider upload id: longer than any create takes."""
    uploading_after: timedelta = timedelta(hours=1)
    """UPLOADING with no change: ask the provider whether the bytes arrived."""
    processing_after: timedelta = timedelta(minutes=15)
    """PROCESSING with no change: ask the provider whether it finished."""
    lease: timedelta = timedelta(minutes=5)
    """How long a claimed upload is left to its claimer (and not checked again)."""
    batch_size: int = field(default=100, validator=_positive)
    max_batches: int = field(default=10, validator=_positive)
    deliveries_kept: timedelta = timedelta(hours=72)
    """Webhook delivery records are kept this long (Mux retries for about 24 hours)."""
    idempotency_kept: timedelta = timedelta(hours=24)


@frozen
class ReconcileReport:
    """What one pass did."""

    claimed: int = 0
    """Stale uploads this pass leased."""
    fetched: int = 0
    """Uploads the provider was asked about."""
    applied: int = 0
    """Provider events that changed an upload."""
    expired: int = 0
    """Uploads failed because their upload URL expired unused."""
    abandoned: int = 0
    """Uploads failed because their create never recorded a provider slot."""
    errors: int = 0
    """Uploads left for a later pass because the provider or the store failed."""
    unconfigured: int = 0
    """Uploads left alone because their provider is no longer configured."""
    deliveries_pruned: int = 0
    idempotency_keys_pruned: int = 0

    def summary(self) -> str:
        """One line for people and logs."""
        return (
            f"claimed {self.claimed}, fetched {self.fetched}, applied {self.applied}, "
            f"expired {self.expired}, abandoned {self.abandoned}, errors {self.errors}, "
            f"{self.unconfigured} of providers no longer configured, "
            f"pruned {self.deliveries_pruned} deliveries and "
            f"{self.idempotency_keys_pruned} idempotency keys"
        )


@define
class _PassCounts:
    """The counts of :class:`ReconcileReport`, kept while a pass runs."""

    claimed: int = 0
    fetched: int = 0
    applied: int = 0
    expired: int = 0
    abandoned: int = 0
    errors: int = 0
    unconfigured: int = 0


@define
class Reconciler:
    """Runs reconciliation passes for one service (see the module docstring)."""

    service: MediaService
    settings: ReconcileSettings = field(factory=ReconcileSettings)

    async def run_once(self) -> ReconcileReport:
        """One pass: at most ``max_batches`` batches of ``batch_size`` uploads, then pruning."""
        counts = _PassCounts()
        for _ in range(self.settings.max_batches):
            batch = await self.service.repository.claim_stale(self._criteria())
            counts.claimed += len(batch)
            for upload in batch:
                await self._reconcile(upload, counts)
            if len(batch) < self.settings.batch_size:
                break
        now = self.service.clock.now()
        repository = self.service.repository
        deliveries = await repository.prune_deliveries(now - self.settings.deliveries_kept)
        keys = await repository.prune_idempotency_keys(now - self.settings.idempotency_kept)
        report = ReconcileReport(
            **attrs.asdict(counts), deliveries_pruned=deliveries, idempotency_keys_pruned=keys
        )
        if report.claimed or report.deliveries_pruned or report.idempotency_keys_pruned:
            log.info("reconcile pass: %s", report.summary())
        return report

    def _criteria(self) -> StaleCriteria:
        now = self.service.clock.now()
        settings = self.settings
        return StaleCriteria(
            now=now,
            pending_before=now - settings.pending_after,
            uploading_before=now - settings.uploading_after,
            processing_before=now - settings.processing_after,
            lease_until=now + settings.lease,
            limit=settings.batch_size,
        )

    async def _reconcile(self, upload: MediaUpload, counts: _PassCounts) -> None:
        service = self.service
        provider = service.providers.get(upload.provider)
        if provider is None:
            counts.unconfigured += 1
            return
        try:
            if upload.status is UploadStatus.UPLOADING and upload.provider_upload_id is None:
                before = service.clock.now() - self.settings.pending_after
                counts.abandoned += await service.abandon_upload(upload.id, created_before=before)
                return
            events = await provider.fetch_events(upload, service.clock.now())
            counts.fetched += 1
            for event in events:
                outcome, _ = await service.apply_provider_event(event)
                counts.applied += outcome is WebhookOutcome.APPLIED
            if upload.status is UploadStatus.UPLOADING:
                counts.expired += await service.expire_upload(upload.id)
        except MediaCoreError as exc:
            counts.errors += 1
            log.warning("reconciling upload %s failed: %s", upload.id, exc.detail)
