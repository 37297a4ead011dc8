"""Prometheus metrics: every metric of a service, and the ``/metrics`` endpoint.

:class:`ServiceMetrics` owns one ``CollectorRegistry`` per container (never the process-wide
default registry, so several services in one process do not collide) and every metric below.
Label values are bounded sets (provider names, statuses, route templates, outcomes): never a
user id, an upload id or a file name.

==========================================  =========  ==========================================
metric                                      type       labels
==========================================  =========  ==========================================
media_uploads_created_total                 counter    provider
media_uploads_finished_total                counter    provider, status (ready | failed)
media_upload_failures_total                 counter    provider, code (cancelled, expired, ...)
media_uploads_deleted_total                 counter    provider
media_upload_ready_seconds                  histogram  provider: creation → READY
media_upload_processing_seconds             histogram  provider: upload complete → READY
media_upload_transfer_seconds               histogram  provider: creation → upload complete
media_storage_bytes                         gauge      provider, status (bytes stored, see Usage)
media_videos                                gauge      provider, status
media_storage_stats_age_seconds             gauge      age of the cached storage figures
media_storage_stats_errors_total            counter    storage figures that could not be read
media_webhook_deliveries_total              counter    provider, outcome
media_provider_requests_total               counter    provider, operation, outcome
media_provider_request_seconds              histogram  provider, operation
media_rate_limited_total                    counter    route
media_reconciler_runs_total                 counter    outcome (ok | error)
media_reconciler_run_seconds                histogram
media_reconciler_checked_total              counter    stale uploads claimed
media_reconciler_fixes_total                counter    change (applied | expired | abandoned)
media_reconciler_upload_errors_total        counter    uploads left for a later pass
media_reconciler_unconfigured_total         counter    uploads skipped: provider not configured
media_reconciler_last_success_timestamp_seconds  gauge
media_provider_circuit_state                gauge      provider, state (closed | open | half_open)
media_provider_circuit_opened               gauge      provider: times the circuit opened
media_provider_failovers_total              counter    from, to: new uploads failed over
media_errors_reported_total                 counter    where (request, event subscriber, ...)
media_http_requests_total                   counter    route, method, status
media_http_request_seconds                  histogram  route, method
==========================================  =========  ==========================================

The upload counters and histograms come from domain events (:meth:`ServiceMetrics.observe_event`
is subscribed to the in-process publisher), so they count what this process changed; summed over
instances they count every change once. Storage figures come from one grouped query
(``storage_tallies``), cached for ``storage_ttl`` seconds (15 by default), so a scrape every few
seconds costs at most one query per TTL.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from aiohttp import web
from attrs import frozen
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from media_core import errors
from media_core.events import (
    DomainEvent,
    UploadDeleted,
    UploadFailed,
    UploadFailedOver,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
    UploadRequested,
)
from media_core.model import UploadStatus
from media_core.ports import StorageStatistics, StorageTally
from media_core.reconcile import ReconcileReport

log = logging.getLogger("entrypoints.http.metrics")

VIDEO_BUCKETS = (
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
    1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
)  # fmt: skip
"""Seconds to a day: a short clip is ready in seconds, a long 4K film in hours."""
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds of one provider API call or one HTTP request."""
RECONCILER_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)


class StorageCollector(Collector):
    """``media_storage_bytes`` and ``media_videos`` from a cached ``storage_tallies`` snapshot.

    ``collect`` is synchronous (prometheus-client calls it while rendering), so the ``/metrics``
    handler first awaits :meth:`refresh`, which queries the source at most once per ``ttl``.
    A failed query keeps the previous snapshot (its age shows in
    ``media_storage_stats_age_seconds``) rather than failing the scrape.
    """

    def __init__(
        self,
        registry: CollectorRegistry,
        *,
        ttl: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.ttl = ttl
        self._clock = clock
        self._source: StorageStatistics | None = None
        self._tallies: tuple[StorageTally, ...] = ()
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.errors = Counter(
            "media_storage_stats_errors",
            "Storage figures that could not be read from the repository.",
            registry=registry,
        )
        registry.register(self)

    def bind(self, source: StorageStatistics | None) -> None:
        """Read figures from ``source`` from now on (None: no storage figures)."""
        self._source = source
        self._fetched_at = None

    async def refresh(self) -> None:
        """Query the source if the snapshot is older than the TTL."""
        if self._source is None:
            return
        async with self._lock:
            now = self._clock()
            if self._fetched_at is not None and now - self._fetched_at < self.ttl:
                return
            try:
                self._tallies = await self._source.storage_tallies()
            except errors.RepositoryUnavailable as exc:
                self.errors.inc()
                log.warning("storage figures unavailable: %s", exc.detail)
                return
            self._fetched_at = now

    def collect(self) -> Iterable[Metric]:
        """The cached figures, with a zero for every status of every provider seen."""
        size = GaugeMetricFamily(
            "media_storage_bytes",
            "Bytes of stored uploads (stored where known, else declared), by provider and status.",
            labels=["provider", "status"],
        )
        videos = GaugeMetricFamily(
            "media_videos", "Stored uploads, by provider and status.", labels=["provider", "status"]
        )
        figures = {(t.provider, t.status): t for t in self._tallies}
        for provider in sorted({t.provider for t in self._tallies}):
            for status in UploadStatus:
                tally = figures.get((provider, status))
                labels = [provider, status.value]
                size.add_metric(labels, tally.bytes if tally else 0)
                videos.add_metric(labels, tally.count if tally else 0)
        yield size
        yield videos
        if self._fetched_at is not None:
            yield GaugeMetricFamily(
                "media_storage_stats_age_seconds",
                "Seconds since the storage figures were read.",
                value=self._clock() - self._fetched_at,
            )

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the families depend on the snapshot."""
        return ()


class ReconcilerMetrics:
    """What the reconciler records: call :meth:`record_report` after every pass.

    ``container.metrics().reconciler.record_report(report, seconds=...)`` after a pass that
    returned a report, ``record_failure(seconds=...)`` after one that raised. The uploads' own
    counters (finished, failures) move through the domain events as usual.
    """

    FIXES = ("applied", "expired", "abandoned")

    def __init__(self, registry: CollectorRegistry) -> None:
        self.runs = Counter(
            "media_reconciler_runs", "Reconciler passes.", ["outcome"], registry=registry
        )
        self.run_seconds = Histogram(
            "media_reconciler_run_seconds",
            "Duration of a reconciler pass.",
            buckets=RECONCILER_BUCKETS,
            registry=registry,
        )
        self.checked = Counter(
            "media_reconciler_checked", "Stale uploads the reconciler claimed.", registry=registry
        )
        self.fixes = Counter(
            "media_reconciler_fixes",
            "Uploads a reconciler pass changed: applied (a provider event), expired, abandoned.",
            ["change"],
            registry=registry,
        )
        self.upload_errors = Counter(
            "media_reconciler_upload_errors",
            "Uploads a pass could not check (provider or store failed); retried later.",
            registry=registry,
        )
        self.unconfigured = Counter(
            "media_reconciler_unconfigured",
            "Stale uploads left alone because their provider is no longer configured.",
            registry=registry,
        )
        self.last_success = Gauge(
            "media_reconciler_last_success_timestamp_seconds",
            "Unix time of the last reconciler pass that completed.",
            registry=registry,
        )
        for change in self.FIXES:
            self.fixes.labels(change)
        for outcome in ("ok", "error"):
            self.runs.labels(outcome)

    def record_report(self, report: ReconcileReport, *, seconds: float) -> None:
        """Count one completed pass and what it changed."""
        self.runs.labels("ok").inc()
        self.run_seconds.observe(seconds)
        self.checked.inc(report.claimed)
        self.fixes.labels("applied").inc(report.applied)
        self.fixes.labels("expired").inc(report.expired)
        self.fixes.labels("abandoned").inc(report.abandoned)
        self.upload_errors.inc(report.errors)
        self.unconfigured.inc(report.unconfigured)
        self.last_success.set_to_current_time()

    def record_failure(self, *, seconds: float) -> None:
        """Count one pass that raised before it could report."""
        self.runs.labels("error").inc()
        self.run_seconds.observe(seconds)


class BreakerLike(Protocol):
    """A provider circuit breaker (``adapters.providers._breaker.CircuitBreaker``)."""

    def snapshot(self) -> Any:
        """A ``BreakerSnapshot``: provider, state (an enum with ``.value``), retry_after, ..."""
        ...


class CircuitCollector(Collector):
    """``media_provider_circuit_state{provider,state}`` (1 for the current state, 0 for the
    others) and ``media_provider_circuit_opened{provider}``, for every provider's breaker."""

    STATES = ("closed", "open", "half_open")

    def __init__(self) -> None:
        self.breakers: tuple[BreakerLike, ...] = ()

    def collect(self) -> Iterable[Metric]:
        """The breakers' states now, if there are breakers."""
        if not self.breakers:
            return
        snapshots = [breaker.snapshot() for breaker in self.breakers]
        state = GaugeMetricFamily(
            "media_provider_circuit_state",
            "The provider circuit breaker's state (1 = current).",
            labels=["provider", "state"],
        )
        opened = GaugeMetricFamily(
            "media_provider_circuit_opened",
            "How many times the provider circuit opened since the process started.",
            labels=["provider"],
        )
        for snapshot in snapshots:
            for name in self.STATES:
                state.add_metric([snapshot.provider, name], int(snapshot.state.value == name))
            opened.add_metric([snapshot.provider], snapshot.opened_count)
        yield state
        yield opened

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: there may be no breaker."""
        return ()


class ServiceMetrics:
    """Every metric of one service, in its own registry; see the module docstring."""

    def __init__(
        self,
        registry: CollectorRegistry | None = None,
        *,
        storage_ttl: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        counter = functools.partial(Counter, registry=r)
        histogram = functools.partial(Histogram, registry=r)
        video_histogram = functools.partial(histogram, buckets=VIDEO_BUCKETS)
        self.uploads_created = counter(
            "media_uploads_created", "Upload slots handed out.", ["provider"]
        )
        self.uploads_finished = counter(
            "media_uploads_finished",
            "Uploads that reached a final status (ready or failed).",
            ["provider", "status"],
        )
        self.upload_failures = counter(
            "media_upload_failures", "Failed uploads by failure code.", ["provider", "code"]
        )
        self.uploads_deleted = counter("media_uploads_deleted", "Uploads deleted.", ["provider"])
        self.ready_seconds = video_histogram(
            "media_upload_ready_seconds", "Seconds from the upload request to READY.", ["provider"]
        )
        self.processing_seconds = video_histogram(
            "media_upload_processing_seconds",
            "Seconds from the upload's completion (provider processing began) to READY.",
            ["provider"],
        )
        self.transfer_seconds = video_histogram(
            "media_upload_transfer_seconds",
            "Seconds from the upload request until the provider had the bytes.",
            ["provider"],
        )
        self.webhooks = counter(
            "media_webhook_deliveries",
            "Webhook deliveries by provider and outcome.",
            ["provider", "outcome"],
        )
        self.provider_requests = counter(
            "media_provider_requests",
            "Provider API call attempts by outcome (ok, rejected, throttled, server_error, "
            "timeout, transport_error).",
            ["provider", "operation", "outcome"],
        )
        self.provider_seconds = histogram(
            "media_provider_request_seconds",
            "Seconds per provider API call attempt.",
            ["provider", "operation"],
            buckets=CALL_BUCKETS,
        )
        self.rate_limited = counter(
            "media_rate_limited", "Requests refused by a rate limit (429).", ["route"]
        )
        self.requests = counter(
            "media_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
        )
        self.request_seconds = histogram(
            "media_http_request_seconds",
            "Seconds to answer an HTTP request, by route template and method.",
            ["route", "method"],
            buckets=CALL_BUCKETS,
        )
        self.failovers = counter(
            "media_provider_failovers",
            "New uploads that went to another provider than the preferred one (it was down).",
            ["from", "to"],
        )
        self.errors_reported = counter(
            "media_errors_reported",
            "Unexpected exceptions reported, by where they happened.",
            ["where"],
        )
        # Children of the metrics moved on every request or delivery, remembered by label
        # values: prometheus-client checks the values and takes a lock in each .labels() call.
        self._request_count = functools.cache(self.requests.labels)
        self._request_time = functools.cache(self.request_seconds.labels)
        self._webhook_count = functools.cache(self.webhooks.labels)
        self._finished_count = functools.cache(self.uploads_finished.labels)
        self._transfer_time = functools.cache(self.transfer_seconds.labels)
        self._ready_time = functools.cache(self.ready_seconds.labels)
        self._processing_time = functools.cache(self.processing_seconds.labels)
        self.reconciler = ReconcilerMetrics(r)
        self.circuit = CircuitCollector()
        r.register(self.circuit)
        self.storage = StorageCollector(r, ttl=storage_ttl, clock=clock)

    async def observe_event(self, event: DomainEvent) -> None:
        """Subscriber for the in-process publisher: moves the upload counters and histograms."""
        upload = event.upload
        provider = upload.provider
        # The commonest events first; progress moves no upload counter.
        if isinstance(event, UploadProgressed):
            return
        if isinstance(event, UploadProcessing):
            if upload.uploaded_at is not None:
                seconds = (upload.uploaded_at - upload.created_at).total_seconds()
                self._transfer_time(provider).observe(max(0.0, seconds))
        elif isinstance(event, UploadReady):
            self._finished_count(provider, "ready").inc()
            if upload.ready_at is not None:
                total = (upload.ready_at - upload.created_at).total_seconds()
                self._ready_time(provider).observe(max(0.0, total))
                # uploaded_at equals ready_at when READY came without a PROCESSING event
                # (Cloudflare): then the processing time is unknown, not zero.
                if upload.uploaded_at is not None and upload.uploaded_at < upload.ready_at:
                    processing = (upload.ready_at - upload.uploaded_at).total_seconds()
                    self._processing_time(provider).observe(processing)
        elif isinstance(event, UploadRequested):
            self.uploads_created.labels(provider).inc()
        elif isinstance(event, UploadFailed):
            self._finished_count(provider, "failed").inc()
            code = upload.failure_code.value if upload.failure_code else "unknown"
            self.upload_failures.labels(provider, code).inc()
        elif isinstance(event, UploadDeleted):
            self.uploads_deleted.labels(provider).inc()
        elif isinstance(event, UploadFailedOver):
            self.failovers.labels(event.from_provider, provider).inc()

    def provider_observer(self, provider: str) -> Callable[[str, str, float], None]:
        """An ``HttpPolicy.on_attempt`` callback for ``provider``."""

        def on_attempt(operation: str, outcome: str, seconds: float) -> None:
            self.provider_requests.labels(provider, operation, outcome).inc()
            self.provider_seconds.labels(provider, operation).observe(seconds)

        return on_attempt

    def observe_webhook(self, provider: str, outcome: str) -> None:
        """Count one webhook delivery."""
        self._webhook_count(provider, outcome).inc()

    def observe_request(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request (and a refusal by a rate limit)."""
        self._request_count(route, method, status).inc()
        self._request_time(route, method).observe(seconds)
        if status == 429:
            self.rate_limited.labels(route).inc()

    def count_error(self, where: str) -> None:
        """Count one reported unexpected exception."""
        self.errors_reported.labels(where).inc()

    def render(self) -> bytes:
        """The exposition text of every metric (call :meth:`StorageCollector.refresh` first)."""
        return generate_latest(self.registry)


def webhook_rejection_outcome(error: errors.WebhookRejected) -> str:
    """The ``outcome`` label of a refused delivery."""
    if isinstance(error, errors.InvalidSignature):
        return "bad_signature"
    if isinstance(error, errors.StaleWebhook):
        return "stale"
    return "malformed"


METRICS = web.AppKey("media_core_metrics", ServiceMetrics)


@frozen
class MetricsAccess:
    """Who may read ``/metrics``: ``off`` (not mounted), ``open``, or ``token`` (bearer)."""

    mode: str = "off"
    token: str | None = None

    def allows(self, authorization: str | None) -> bool:
        """True if a request with this Authorization header may read the metrics."""
        if self.mode == "open":
            return True
        if self.mode != "token" or not self.token or not authorization:
            return False
        scheme, _, credential = authorization.partition(" ")
        # surrogateescape: header bytes that are not UTF-8 compare as the bytes they were.
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode("utf-8", "surrogateescape"), self.token.encode()
        )


METRICS_ACCESS = web.AppKey("media_core_metrics_access", MetricsAccess)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format."""
    if not request.app[METRICS_ACCESS].allows(request.headers.get("Authorization")):
        raise errors.NotAuthenticated("a valid metrics bearer token is required")
    metrics = request.app[METRICS]
    await metrics.storage.refresh()
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})
