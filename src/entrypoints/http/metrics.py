"""The operator's HTTP surface: Prometheus metrics, the request observation, ``/readyz``.

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
media_storage_bytes                         gauge      provider, status (declared file sizes)
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
media_reconciler_last_success_timestamp_seconds  gauge
media_provider_circuit_state                gauge      provider, state (closed | open | half_open)
media_provider_circuit_opened               gauge      times the circuit opened
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
import bisect
import functools
import hmac
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from typing import Any, Protocol, cast

from aiohttp import web
from attrs import frozen
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.registry import Collector

from entrypoints.http.problems import problem_for, problem_response
from entrypoints.observability import REQUEST_ID
from media_core import errors
from media_core.events import (
    DomainEvent,
    UploadDeleted,
    UploadFailed,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
    UploadRequested,
)
from media_core.model import UploadStatus
from media_core.ports import StorageTally

log = logging.getLogger("entrypoints.http.access")

VIDEO_BUCKETS = (
    1.0, 2.0, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0, 600.0, 900.0,
    1800.0, 3600.0, 7200.0, 14400.0, 28800.0, 86400.0,
)  # fmt: skip
"""Seconds to a day: a short clip is ready in seconds, a long 4K film in hours."""
CALL_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
"""Seconds of one provider API call or one HTTP request."""
RECONCILER_BUCKETS = (0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0)

UNMATCHED_ROUTE = "unmatched"
UNMATCHED_PATH = "/{media_core_unmatched:.*}"
UNMATCHED_CANONICAL = "/{media_core_unmatched}"  # how aiohttp names it
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_REQUEST_ID_PREFIX = secrets.token_hex(10)
_REQUEST_COUNTER = itertools.count(1)
_SECRET_PATH_PARAMETERS = frozenset({"token"})


class StorageSource(Protocol):
    """Where the storage figures come from (both repository adapters)."""

    async def storage_tallies(self) -> tuple[StorageTally, ...]:
        """Count and bytes per (provider, status)."""
        ...


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
        self._source: StorageSource | None = None
        self._tallies: tuple[StorageTally, ...] = ()
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.errors = Counter(
            "media_storage_stats_errors",
            "Storage figures that could not be read from the repository.",
            registry=registry,
        )
        registry.register(self)

    def bind(self, source: StorageSource | None) -> None:
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
            "Declared bytes of stored uploads, by provider and status.",
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


class _Tally(Collector):
    """A labelled metric tallied in plain Python containers, exposed like prometheus-client's.

    prometheus-client's metrics take a lock on every ``inc`` and ``observe`` and go through
    several calls to get there; the request path moves a few of them on every request. Requests
    and domain events are handled on the event loop's one thread, so these add to plain numbers
    and the family is built when scraped. Move them from that thread only.
    """

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        self._name = name
        self._documentation = documentation
        self._labels = list(labels)

    def describe(self) -> Iterable[Metric]:
        """Nothing up front: the label sets come with the observations."""
        return ()


class TallyCounter(_Tally):
    """A labelled counter, exposed like prometheus-client's ``Counter`` (see :class:`_Tally`)."""

    def __init__(self, name: str, documentation: str, labels: Sequence[str]) -> None:
        super().__init__(name, documentation, labels)
        self._counts: dict[tuple[Any, ...], int] = {}

    def inc(self, *values: Any) -> None:
        """Count one, under the label ``values`` (shown with ``str``)."""
        counts = self._counts
        counts[values] = counts.get(values, 0) + 1

    def collect(self) -> Iterable[Metric]:
        """The counts so far."""
        family = CounterMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, count in list(self._counts.items()):
            family.add_metric([str(value) for value in values], count)
        yield family


class TallyHistogram(_Tally):
    """A labelled histogram, exposed like prometheus-client's ``Histogram`` (see
    :class:`_Tally`)."""

    def __init__(
        self, name: str, documentation: str, labels: Sequence[str], buckets: tuple[float, ...]
    ) -> None:
        super().__init__(name, documentation, labels)
        self._buckets = buckets
        self._bounds = [*(repr(float(bound)) for bound in buckets), "+Inf"]
        # Per label values: a count per bucket (then +Inf), and the sum last.
        self._histograms: dict[tuple[Any, ...], list[float]] = {}

    def observe(self, value: float, *values: Any) -> None:
        """Add ``value`` under the label ``values``."""
        histogram = self._histograms.get(values)
        if histogram is None:
            histogram = self._histograms[values] = [0] * (len(self._buckets) + 2)
        # bisect_left: a value equal to a bound belongs to that bound's bucket.
        histogram[bisect.bisect_left(self._buckets, value)] += 1
        histogram[-1] += value

    def collect(self) -> Iterable[Metric]:
        """The observations so far, in the exposition's cumulative form."""
        family = HistogramMetricFamily(self._name, self._documentation, labels=self._labels)
        for values, histogram in list(self._histograms.items()):
            cumulative = list(itertools.accumulate(histogram[:-1]))
            family.add_metric(
                [str(value) for value in values],
                list(zip(self._bounds, cumulative, strict=True)),
                histogram[-1],
            )
        yield family


class ReconcileReportLike(Protocol):
    """What :meth:`ReconcilerMetrics.record_report` reads (a ``ReconcileReport``)."""

    @property
    def claimed(self) -> int:
        """Stale uploads the pass leased."""
        ...

    @property
    def applied(self) -> int:
        """Provider events that changed an upload."""
        ...

    @property
    def expired(self) -> int:
        """Uploads failed because their upload URL expired."""
        ...

    @property
    def abandoned(self) -> int:
        """Uploads failed because their create never got a provider slot."""
        ...

    @property
    def errors(self) -> int:
        """Uploads left for a later pass."""
        ...


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
        self.last_success = Gauge(
            "media_reconciler_last_success_timestamp_seconds",
            "Unix time of the last reconciler pass that completed.",
            registry=registry,
        )
        for change in self.FIXES:
            self.fixes.labels(change)
        for outcome in ("ok", "error"):
            self.runs.labels(outcome)

    def record_report(self, report: ReconcileReportLike, *, seconds: float) -> None:
        """Count one completed pass and what it changed."""
        self.runs.labels("ok").inc()
        self.run_seconds.observe(seconds)
        self.checked.inc(report.claimed)
        self.fixes.labels("applied").inc(report.applied)
        self.fixes.labels("expired").inc(report.expired)
        self.fixes.labels("abandoned").inc(report.abandoned)
        self.upload_errors.inc(report.errors)
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
    """``media_provider_circuit_state{provider,state}``: 1 for the current state, 0 for others."""

    STATES = ("closed", "open", "half_open")

    def __init__(self) -> None:
        self.breaker: BreakerLike | None = None

    def collect(self) -> Iterable[Metric]:
        """The breaker's state now, if there is a breaker."""
        if self.breaker is None:
            return
        snapshot = self.breaker.snapshot()
        family = GaugeMetricFamily(
            "media_provider_circuit_state",
            "The provider circuit breaker's state (1 = current).",
            labels=["provider", "state"],
        )
        for state in self.STATES:
            family.add_metric([snapshot.provider, state], 1 if snapshot.state.value == state else 0)
        yield family
        yield GaugeMetricFamily(
            "media_provider_circuit_opened",
            "How many times the provider circuit opened since the process started.",
            value=snapshot.opened_count,
        )

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
        # What the event loop moves (per request, per domain event, per provider call) is
        # tallied without locks; see TallyCounter.
        self.uploads_created = self._counter(
            "media_uploads_created", "Upload slots handed out.", ["provider"]
        )
        self.uploads_finished = self._counter(
            "media_uploads_finished",
            "Uploads that reached a final status (ready or failed).",
            ["provider", "status"],
        )
        self.upload_failures = self._counter(
            "media_upload_failures", "Failed uploads by failure code.", ["provider", "code"]
        )
        self.uploads_deleted = self._counter(
            "media_uploads_deleted", "Uploads deleted.", ["provider"]
        )
        self.ready_seconds = self._histogram(
            "media_upload_ready_seconds",
            "Seconds from the upload request to READY.",
            ["provider"],
            VIDEO_BUCKETS,
        )
        self.processing_seconds = self._histogram(
            "media_upload_processing_seconds",
            "Seconds from the upload's completion (provider processing began) to READY.",
            ["provider"],
            VIDEO_BUCKETS,
        )
        self.transfer_seconds = self._histogram(
            "media_upload_transfer_seconds",
            "Seconds from the upload request until the provider had the bytes.",
            ["provider"],
            VIDEO_BUCKETS,
        )
        self.webhooks = self._counter(
            "media_webhook_deliveries",
            "Webhook deliveries by provider and outcome.",
            ["provider", "outcome"],
        )
        self.provider_requests = self._counter(
            "media_provider_requests",
            "Provider API call attempts by outcome (ok, rejected, throttled, server_error, "
            "timeout, transport_error).",
            ["provider", "operation", "outcome"],
        )
        self.provider_seconds = self._histogram(
            "media_provider_request_seconds",
            "Seconds per provider API call attempt.",
            ["provider", "operation"],
            CALL_BUCKETS,
        )
        self.rate_limited = self._counter(
            "media_rate_limited", "Requests refused by a rate limit (429).", ["route"]
        )
        self.requests = self._counter(
            "media_http_requests",
            "HTTP requests by route template, method and status.",
            ["route", "method", "status"],
        )
        self.request_seconds = self._histogram(
            "media_http_request_seconds",
            "Seconds to answer an HTTP request, by route template and method.",
            ["route", "method"],
            CALL_BUCKETS,
        )
        # Reported errors may come from any thread: prometheus-client's locked counter.
        self.errors_reported = Counter(
            "media_errors_reported",
            "Unexpected exceptions reported, by where they happened.",
            ["where"],
            registry=r,
        )
        self.reconciler = ReconcilerMetrics(r)
        self.circuit = CircuitCollector()
        r.register(self.circuit)
        self.storage = StorageCollector(r, ttl=storage_ttl, clock=clock)

    def _counter(self, name: str, documentation: str, labels: list[str]) -> TallyCounter:
        counter = TallyCounter(name, documentation, labels)
        self.registry.register(counter)
        return counter

    def _histogram(
        self, name: str, documentation: str, labels: list[str], buckets: tuple[float, ...]
    ) -> TallyHistogram:
        histogram = TallyHistogram(name, documentation, labels, buckets)
        self.registry.register(histogram)
        return histogram

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
                self.transfer_seconds.observe(max(0.0, seconds), provider)
        elif isinstance(event, UploadReady):
            self.uploads_finished.inc(provider, "ready")
            if upload.ready_at is not None:
                total = (upload.ready_at - upload.created_at).total_seconds()
                self.ready_seconds.observe(max(0.0, total), provider)
                # uploaded_at equals ready_at when READY came without a PROCESSING event
                # (Cloudflare): then the processing time is unknown, not zero.
                if upload.uploaded_at is not None and upload.uploaded_at < upload.ready_at:
                    processing = (upload.ready_at - upload.uploaded_at).total_seconds()
                    self.processing_seconds.observe(processing, provider)
        elif isinstance(event, UploadRequested):
            self.uploads_created.inc(provider)
        elif isinstance(event, UploadFailed):
            self.uploads_finished.inc(provider, "failed")
            code = upload.failure_code.value if upload.failure_code else "unknown"
            self.upload_failures.inc(provider, code)
        elif isinstance(event, UploadDeleted):
            self.uploads_deleted.inc(provider)

    def provider_observer(self, provider: str) -> Callable[[str, str, float], None]:
        """An ``HttpPolicy.on_attempt`` callback for ``provider``."""

        def on_attempt(operation: str, outcome: str, seconds: float) -> None:
            self.provider_requests.inc(provider, operation, outcome)
            self.provider_seconds.observe(seconds, provider, operation)

        return on_attempt

    def observe_webhook(self, provider: str, outcome: str) -> None:
        """Count one webhook delivery."""
        self.webhooks.inc(provider, outcome)

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


# --- application wiring ------------------------------------------------------------------------

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
        return scheme.lower() == "bearer" and hmac.compare_digest(
            credential.strip().encode(), self.token.encode()
        )


METRICS_ACCESS = web.AppKey("media_core_metrics_access", MetricsAccess)


async def metrics_endpoint(request: web.Request) -> web.Response:
    """``GET /metrics``: the Prometheus text format."""
    if not request.app[METRICS_ACCESS].allows(request.headers.get("Authorization")):
        raise errors.NotAuthenticated("a valid metrics bearer token is required")
    metrics = request.app[METRICS]
    await metrics.storage.refresh()
    return web.Response(body=metrics.render(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def incoming_request_id(value: str | None) -> str:
    """The client's ``X-Request-ID`` if it is a sane token, else a fresh one."""
    if value and _REQUEST_ID_SHAPE.match(value):
        return value
    # 32 hex digits, unique without a system call per request: 80 random bits chosen once per
    # process, then a counter (uuid4 costs a getrandom call and an object each time).
    return f"{_REQUEST_ID_PREFIX}{next(_REQUEST_COUNTER) & 0xFFFFFFFFFFFF:012x}"


def _logged_path(request: web.Request) -> str:
    """The path, with capability tokens in it (fake upload URLs) hidden; never the query."""
    path = request.path
    for name, value in request.match_info.items():
        if name in _SECRET_PATH_PARAMETERS and value:
            path = path.replace(value, "[REDACTED]")
    return path


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def observed(handler: Handler, *, route: str, metrics: ServiceMetrics | None) -> Handler:
    """``handler`` (of the route template ``route``) inside the request observation: request
    id in and out, problem+json for every error, the HTTP metrics and one access log line.

    The id comes from ``X-Request-ID`` (or is made up), is set in :data:`REQUEST_ID` for every
    log line the request causes, and is echoed in the response (a handler that streams sets it
    itself, with :func:`request_id_header`). Errors become answers here (see
    :func:`~entrypoints.http.problems.problem_for`), so the metrics see the final status of
    every answer.

    Every route is added through :class:`ObservedRoutes`, which wraps its handler in this,
    rather than through an aiohttp middleware: aiohttp puts a second layer of its own under any
    middleware, and the two cost 6 % of the cheapest route's CPU (measured on the floor).
    """

    if metrics is not None:  # the request tallies, looked up once per route
        count, measure = metrics.requests.inc, metrics.request_seconds.observe

    async def observe(request: web.Request) -> web.StreamResponse:
        request_id = incoming_request_id(request.headers.get(REQUEST_ID_HEADER))
        context_token = REQUEST_ID.set(request_id)
        started = time.perf_counter()
        status = 500
        try:
            try:
                response = await handler(request)
            except Exception as exc:
                # Re-raises the HTTPExceptions raised on purpose.
                response = problem_for(exc, request, route=route)
        except web.HTTPException as exc:
            status = exc.status
            exc.headers[REQUEST_ID_HEADER] = request_id
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away before the answer
            raise
        else:
            status = response.status
            if not response.prepared:
                response.headers[REQUEST_ID_HEADER] = request_id
            return response
        finally:
            seconds = time.perf_counter() - started
            if metrics is not None:
                method = request.method
                count(route, method, status)
                measure(seconds, route, method)
                if status == 429:
                    metrics.rate_limited.inc(route)
            if log.isEnabledFor(logging.INFO):
                log.info(
                    "%s %s %s",
                    request.method,
                    route,
                    status,
                    extra={
                        "method": request.method,
                        "route": route,
                        "path": _logged_path(request),
                        "status": status,
                        "seconds": round(seconds, 6),
                    },
                )
            REQUEST_ID.reset(context_token)

    return functools.update_wrapper(observe, handler)


class ObservedRoutes:
    """Adds routes to ``app``'s router with each handler :func:`observed`.

    ``ObservedRoutes(app).add_get("/healthz", healthz)``; the same methods as aiohttp's router.
    The metrics are those in ``app[METRICS]`` when this is made. Call :meth:`add_unmatched`
    once, after every other route, so that a path no route matches (404) or a method the path
    does not allow (405) is answered and counted the same way.
    """

    def __init__(self, app: web.Application) -> None:
        self._router = app.router
        self._metrics = app.get(METRICS)

    def add_route(
        self,
        method: str,
        path: str,
        handler: Handler,
        *,
        name: str | None = None,
        allow_head: bool = False,
        **options: Any,
    ) -> web.AbstractRoute:
        """``method`` (``"*"`` for all) on ``path``; with ``allow_head``, HEAD too."""
        resource = self._router.add_resource(path, name=name)
        wrapped = observed(handler, route=resource.canonical, metrics=self._metrics)
        if allow_head:
            resource.add_route("HEAD", wrapped, **options)
        return resource.add_route(method, wrapped, **options)

    def add_get(
        self, path: str, handler: Handler, *, allow_head: bool = True, **options: Any
    ) -> web.AbstractRoute:
        """GET (and HEAD, unless ``allow_head=False``)."""
        return self.add_route("GET", path, handler, allow_head=allow_head, **options)

    def add_post(self, path: str, handler: Handler, **options: Any) -> web.AbstractRoute:
        """POST."""
        return self.add_route("POST", path, handler, **options)

    def add_put(self, path: str, handler: Handler, **options: Any) -> web.AbstractRoute:
        """PUT."""
        return self.add_route("PUT", path, handler, **options)

    def add_delete(self, path: str, handler: Handler, **options: Any) -> web.AbstractRoute:
        """DELETE."""
        return self.add_route("DELETE", path, handler, **options)

    def add_unmatched(self) -> None:
        """The last route: 404 for an unknown path, 405 (with ``Allow``) for a wrong method.

        It matches every path, after every route whose path starts with a longer fixed prefix
        and after the top-level routes added before it; a top-level route added after it
        would never be reached, so a request for one fails loudly (500, reported) instead.
        """
        router = self._router

        async def unmatched(request: web.Request) -> web.StreamResponse:
            allowed: set[str] = set()
            for resource in router.resources():
                if resource is own.resource:
                    continue
                match, methods = await resource.resolve(request)
                if match is not None:
                    raise RuntimeError(
                        f"the route {resource.canonical} was added after the catch-all route; "
                        "add routes before create_app() returns, or on a host app"
                    )
                allowed |= methods
            if allowed:
                raise web.HTTPMethodNotAllowed(request.method, allowed)
            raise web.HTTPNotFound

        own = router.add_route(
            "*", UNMATCHED_PATH, observed(unmatched, route=UNMATCHED_ROUTE, metrics=self._metrics)
        )


def request_id_header() -> dict[str, str]:
    """``X-Request-ID`` for a response the handler prepares itself (a stream)."""
    request_id = REQUEST_ID.get()
    return {REQUEST_ID_HEADER: request_id} if request_id is not None else {}


# --- readiness ---------------------------------------------------------------------------------

ReadinessCheck = Callable[[], Awaitable[Mapping[str, Any] | None]]
"""Raises (or times out) when not ready; may return details to show."""

READINESS_CHECKS = web.AppKey("media_core_readiness_checks", dict[str, ReadinessCheck])
READINESS_TIMEOUT_SECONDS = 2.0


def add_readiness_check(app: web.Application, name: str, check: ReadinessCheck) -> None:
    """Make ``/readyz`` also depend on ``check`` (before the application starts)."""
    app[READINESS_CHECKS][name] = check


async def _run_check(check: ReadinessCheck) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        async with asyncio.timeout(READINESS_TIMEOUT_SECONDS):
            details = await check()
    except TimeoutError:
        result: dict[str, Any] = {"status": "down", "error": "timeout"}
    except errors.MediaCoreError as exc:
        log.warning("readiness check failed: %s", exc.detail)
        result = {"status": "down", "error": exc.code}
    except Exception as exc:
        log.warning("readiness check failed: %s: %s", type(exc).__name__, exc)
        result = {"status": "down", "error": type(exc).__name__}
    else:
        result = {"status": "ok", **(details or {})}
    result["seconds"] = round(time.perf_counter() - started, 6)
    return result


async def readyz(request: web.Request) -> web.Response:
    """``GET /readyz``: 200 when every dependency answers, else a 503 problem with the checks.

    Errors are named by code only: a readiness probe is no place for connection strings.
    """
    checks = request.app[READINESS_CHECKS]
    names = sorted(checks)
    results = await asyncio.gather(*(_run_check(checks[name]) for name in names))
    report = dict(zip(names, results, strict=True))
    down = [name for name, result in report.items() if result["status"] != "ok"]
    if not down:
        return web.json_response({"status": "ready", "checks": report})
    return problem_response(
        status=503,
        code="not-ready",
        title="Not ready",
        detail=f"not ready: {', '.join(down)}",
        instance=request.path,
        extra={"checks": report},
        headers={"Retry-After": "5"},
    )


def watch_dependencies(
    app: web.Application,
    *,
    repository: object,
    redis_client: object | None,
    breaker: BreakerLike | None = None,
) -> None:
    """Read storage figures from ``repository``; make ``/readyz`` check the dependencies.

    Called once the container's resources are up: the database (a repository without ``ping``,
    such as a host's own, has no check), Redis when configured, and the provider's circuit
    breaker when there is one (an OPEN circuit is not ready: requests would answer 503).
    """
    metrics = app.get(METRICS)
    if metrics is not None and hasattr(repository, "storage_tallies"):
        metrics.storage.bind(cast(StorageSource, repository))
    if breaker is not None:
        if metrics is not None:
            metrics.circuit.breaker = breaker
        add_readiness_check(app, "provider_circuit", _circuit_check(breaker))
    ping = getattr(repository, "ping", None)
    if ping is not None:

        async def database() -> None:
            await ping()

        add_readiness_check(app, "database", database)
    if redis_client is not None:
        redis_ping = getattr(redis_client, "ping")  # noqa: B009 - any client with an async ping

        async def redis() -> None:
            await redis_ping()

        add_readiness_check(app, "redis", redis)


def add_operator_routes(app: web.Application) -> None:
    """Mount ``/readyz``, and ``/metrics`` unless its access mode is ``off``."""
    routes = ObservedRoutes(app)
    routes.add_get("/readyz", readyz)
    access = app.get(METRICS_ACCESS)
    if access is not None and access.mode != "off":
        routes.add_get("/metrics", metrics_endpoint)


class CircuitOpen(Exception):
    """The provider circuit is open (a readiness failure, named by this class)."""


def _circuit_check(breaker: BreakerLike) -> ReadinessCheck:
    async def check() -> Mapping[str, Any]:
        snapshot = breaker.snapshot()
        if snapshot.state.value == "open":
            raise CircuitOpen(f"retry after {snapshot.retry_after:.0f}s")
        return {"state": snapshot.state.value, "provider": snapshot.provider}

    return check
