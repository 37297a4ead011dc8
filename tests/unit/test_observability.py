"""Logging, redaction, error reporters, metrics bookkeeping and settings of issue 8, without I/O."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import timedelta
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from sentry_sdk.envelope import Envelope
from sentry_sdk.transport import Transport

from adapters.error_reporting import (
    CountingErrorReporter,
    FanOutErrorReporter,
    LoggingErrorReporter,
    SentryErrorReporter,
    build_error_reporter,
)
from adapters.publisher import InProcessEventPublisher
from entrypoints.http.metrics import MetricsAccess, ServiceMetrics
from entrypoints.http.pipeline import incoming_request_id
from entrypoints.observability import (
    REDACTED,
    REQUEST_ID,
    build_handler,
    configure_logging,
    human_bytes,
    human_seconds,
    percentile,
    redact,
    resolve_format,
)
from entrypoints.settings import SettingsError, load_settings
from media_core.errors import RepositoryUnavailable
from media_core.events import DomainEvent, UploadFailed, UploadProcessing, UploadReady
from media_core.model import FailureCode, UploadStatus
from media_core.ports import StorageTally
from media_core.reconcile import ReconcileReport
from tests.support.repositories import T0, make_upload

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXBhcnQ"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        ("Authorization: Bearer abc.def", "abc.def"),
        ("{'authorization': 'Basic Zm9vOmJhcg=='}", "Zm9vOmJhcg=="),
        ('{"Mux-Signature": "t=1,v1=00112233445566778899aabbccddeeff"}', "v1=0011"),
        ("Webhook-Signature: time=1,sig1=00112233445566778899aabbccddeeff", "sig1=0011"),
        ("webhook-signature: v1,AAAABBBBCCCCDDDDEEEE== v1,FFFFGGGGHHHHIIIIJJJJ==", "FFFFGGGG"),
        ("GET /video?token=1700000000.deadbeef&x=1", "deadbeef"),
        ("POST /x?a=1&signature=abcdef", "abcdef"),
        (f"the token was {JWT} ok", JWT),
        ("bearer sometokenvalue", "sometokenvalue"),
    ],
)
def test_redact_hides_credentials(text: str, hidden: str) -> None:
    """Authorization values, signatures, query tokens and JWTs are replaced."""
    cleaned = redact(text)
    assert hidden not in cleaned
    assert REDACTED in cleaned


def test_redact_hides_known_secrets_but_keeps_ordinary_text() -> None:
    """Configured secrets vanish wherever they appear; text around them stays readable."""
    assert redact("value s3cr3t-value-x here", ["s3cr3t-value-x"]) == f"value {REDACTED} here"
    assert redact("GET /api/v1/media 200 in 0.1s") == "GET /api/v1/media 200 in 0.1s"


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A private logger writing JSON lines to a buffer, through the service's filters."""
    stream = io.StringIO()
    handler = build_handler(stream, log_format="json", secrets=["hunter2-but-longer"])
    log = logging.getLogger("tests.observability")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    try:
        yield log, stream
    finally:
        log.removeHandler(handler)
        log.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    """The JSON objects written so far."""
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_lines_carry_request_id_and_extra_fields(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    """Each record is one JSON object with the request id in force and the ``extra`` fields."""
    log, stream = logger
    log.info("outside")
    token = REQUEST_ID.set("req-7")
    try:
        log.info("inside %s", "args", extra={"upload_id": "u1", "seconds": 0.5})
    finally:
        REQUEST_ID.reset(token)
    first, second = lines(stream)
    assert first["request_id"] is None
    assert first["level"] == "INFO"
    assert first["logger"] == "tests.observability"
    assert second["message"] == "inside args"
    assert second["request_id"] == "req-7"
    assert second["upload_id"] == "u1"
    assert second["seconds"] == 0.5


def test_filter_redacts_arguments_extras_and_tracebacks(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    """Secrets passed as arguments, in extra fields or in an exception never reach the output."""
    log, stream = logger
    headers = {"Authorization": f"Bearer {JWT}", "Mux-Signature": "t=1,v1=" + "ab" * 32}
    log.info("headers %s", headers, extra={"context": {"url": "/v?token=abcdef123"}})
    try:
        raise RuntimeError("connect failed with password hunter2-but-longer")
    except RuntimeError:
        log.exception("boom")
    text = stream.getvalue()
    for secret in (JWT, "ab" * 32, "abcdef123", "hunter2-but-longer"):
        assert secret not in text
    first, second = lines(stream)
    assert first["context"]["url"] == f"/v?token={REDACTED}"
    assert "RuntimeError" in second["exception"]
    assert REDACTED in second["exception"]


def test_text_format_and_auto_choice() -> None:
    """``auto`` is text on a terminal and JSON elsewhere; text lines show the id and extras."""

    class Terminal(io.StringIO):
        def isatty(self) -> bool:
            return True

    assert resolve_format("auto", Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", Terminal()) == "json"
    stream = io.StringIO()
    handler = build_handler(stream, log_format="text")
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.upload_id = "u9"
    handler.handle(record)
    line = stream.getvalue().strip()
    assert line.endswith("INFO x [-] hello you upload_id=u9")


def test_configure_logging_replaces_its_own_handler() -> None:
    """Calling it twice leaves one media-core handler on the root logger."""
    root = logging.getLogger()
    level = root.level
    try:
        configure_logging("WARNING", "json", stream=io.StringIO())
        configure_logging("INFO", "text", stream=io.StringIO())
        ours = [h for h in root.handlers if h.get_name() == "media-core"]
        assert len(ours) == 1
        assert root.level == logging.INFO
    finally:
        for handler in [h for h in root.handlers if h.get_name() == "media-core"]:
            root.removeHandler(handler)
        root.setLevel(level)
        logging.getLogger("aiohttp.access").propagate = True


def test_incoming_request_ids_are_kept_only_when_sane() -> None:
    """A short token is kept; an empty, long or odd one is replaced by a fresh hex id."""
    assert incoming_request_id("abc-123_x.y:z") == "abc-123_x.y:z"
    for odd in (None, "", "x" * 129, "has space", "<script>"):
        fresh = incoming_request_id(odd)
        assert len(fresh) == 32
        assert fresh != odd


def test_percentiles_and_human_units() -> None:
    """Nearest-rank percentiles; bytes and seconds read naturally."""
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([7.0], 0.99) == 7.0
    assert human_bytes(512) == "512 B"
    assert human_bytes(1536) == "1.5 KiB"
    assert human_bytes(5 * 1024**3) == "5.0 GiB"
    assert human_seconds(0.25) == "0.25s"
    assert human_seconds(95) == "1m35s"
    assert human_seconds(3 * 3600 + 120) == "3h02m"


class RecordingReporter:
    """Keeps what it is told; a fake ``ErrorReporter``."""

    def __init__(self, *, explode: bool = False) -> None:
        self.reports: list[tuple[BaseException, dict[str, object]]] = []
        self.explode = explode

    def report(self, error: BaseException, context: Mapping[str, object]) -> None:
        """Record, then maybe fail."""
        self.reports.append((error, dict(context)))
        if self.explode:
            raise RuntimeError("reporter down")


def test_logging_reporter_logs_error_with_context(caplog: pytest.LogCaptureFixture) -> None:
    """One ERROR record with the traceback and the context fields."""
    with caplog.at_level(logging.ERROR, logger="media_core.errors"):
        LoggingErrorReporter().report(ValueError("bad"), {"where": "request", "route": "/x"})
    (record,) = caplog.records
    assert record.getMessage() == "unexpected ValueError in request"
    assert record.exc_info is not None
    assert record.context == {"where": "request", "route": "/x"}  # type: ignore[attr-defined]


def test_fan_out_and_counting_reporters() -> None:
    """Every reporter hears every error even if one fails; the counter counts by ``where``."""
    broken, healthy = RecordingReporter(explode=True), RecordingReporter()
    counted: list[str] = []
    reporter = CountingErrorReporter(FanOutErrorReporter([broken, healthy]), counted.append)
    reporter.report(KeyError("k"), {"where": "event subscriber"})
    assert len(broken.reports) == len(healthy.reports) == 1
    assert counted == ["event subscriber"]


class CapturingTransport(Transport):
    """A Sentry transport that keeps envelopes instead of sending them."""

    def __init__(self, options: dict[str, Any] | None = None) -> None:
        super().__init__(options)
        self.envelopes: list[Envelope] = []

    def capture_envelope(self, envelope: Envelope) -> None:
        """Keep the envelope."""
        self.envelopes.append(envelope)


def test_sentry_reporter_sends_the_exception_with_context_only() -> None:
    """One event per error, with our context and tags, through the reporter's own client."""
    transport = CapturingTransport()
    reporter = SentryErrorReporter(
        "https://public@example.invalid/1", environment="test", transport=transport
    )
    try:
        raise LookupError("nothing there")
    except LookupError as error:
        reporter.report(error, {"where": "request", "route": "/api/v1/media", "request_id": "r1"})
    reporter.flush()
    events = [item.payload.json for env in transport.envelopes for item in env.items]
    (event,) = [e for e in events if e and e.get("exception")]
    assert event["exception"]["values"][0]["type"] == "LookupError"
    assert event["contexts"]["media_core"]["request_id"] == "r1"
    assert event["tags"]["route"] == "/api/v1/media"
    assert event["environment"] == "test"
    assert "request" not in event  # no request data is attached
    reporter.close()


def test_build_error_reporter_adds_sentry_only_with_a_dsn() -> None:
    """No DSN: the log reporter alone; a DSN: the log and Sentry reporters together."""
    assert isinstance(build_error_reporter(None), LoggingErrorReporter)
    both = build_error_reporter("https://public@example.invalid/1")
    assert isinstance(both, FanOutErrorReporter)


async def test_publisher_reports_a_failing_subscriber_and_carries_on() -> None:
    """A subscriber's exception goes to the reporter with the event; later ones still run."""
    reporter = RecordingReporter()
    publisher = InProcessEventPublisher(error_reporter=reporter)
    seen: list[str] = []

    async def broken(event: DomainEvent) -> None:
        raise RuntimeError("bug")

    async def fine(event: DomainEvent) -> None:
        seen.append(event.name)

    publisher.subscribe(broken)
    publisher.subscribe(fine)
    await publisher.publish([UploadProcessing(upload=make_upload("u1"), occurred_at=T0)])
    assert seen == ["upload.processing"]
    ((error, context),) = reporter.reports
    assert isinstance(error, RuntimeError)
    assert context["event"] == "upload.processing"
    assert context["upload_id"] == "u1"
    assert context["where"] == "event subscriber"


def test_metrics_access_modes() -> None:
    """open admits all; token admits only the exact bearer token; off admits nobody."""
    assert MetricsAccess("open").allows(None)
    assert not MetricsAccess("off").allows("Bearer x")
    guarded = MetricsAccess("token", "t" * 20)
    assert guarded.allows("Bearer " + "t" * 20)
    assert guarded.allows("bearer " + "t" * 20)
    assert not guarded.allows("Bearer " + "t" * 19)
    assert not guarded.allows("Basic " + "t" * 20)
    assert not guarded.allows(None)


def samples(metrics: ServiceMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """The registry's samples by name and labels."""
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(metrics.render().decode())
        for s in family.samples
    }


async def test_ready_without_a_processing_step_has_no_processing_time() -> None:
    """A Cloudflare-style READY (uploaded_at == ready_at) observes creation→READY only."""
    metrics = ServiceMetrics()
    done = T0 + timedelta(minutes=3)
    upload = make_upload(
        provider="cloudflare",
        status=UploadStatus.READY,
        duration=1.0,
        playback_id="pb",
        uploaded_at=done,
        ready_at=done,
    )
    await metrics.observe_event(UploadReady(upload=upload, occurred_at=done))
    failed = make_upload(status=UploadStatus.FAILED, failure_code=FailureCode.EXPIRED)
    await metrics.observe_event(UploadFailed(upload=failed, occurred_at=done))
    got = samples(metrics)
    provider = frozenset({("provider", "cloudflare")})
    assert got[("media_upload_ready_seconds_sum", provider)] == 180.0
    assert ("media_upload_processing_seconds_count", provider) not in got
    assert (
        got[("media_upload_failures_total", frozenset({("provider", "fake"), ("code", "expired")}))]
        == 1
    )


class CountingSource:
    """A storage source that counts its queries and can be made to fail."""

    def __init__(self) -> None:
        self.calls = 0
        self.fail = False

    async def storage_tallies(self) -> tuple[StorageTally, ...]:
        """One ready upload of 10 bytes per call made so far."""
        self.calls += 1
        if self.fail:
            raise RepositoryUnavailable("down")
        return (StorageTally("fake", UploadStatus.READY, self.calls, 10 * self.calls),)


async def test_storage_figures_are_cached_for_the_ttl() -> None:
    """Scrapes within the TTL reuse one query; a failed refresh keeps the old figures."""
    now = [100.0]
    metrics = ServiceMetrics(storage_ttl=15.0, clock=lambda: now[0])
    source = CountingSource()
    metrics.storage.bind(source)
    ready = frozenset({("provider", "fake"), ("status", "ready")})
    for _ in range(3):
        await metrics.storage.refresh()
    assert source.calls == 1
    now[0] += 15.0
    await metrics.storage.refresh()
    assert source.calls == 2
    assert samples(metrics)[("media_videos", ready)] == 2
    now[0] += 15.0
    source.fail = True
    await metrics.storage.refresh()
    got = samples(metrics)
    assert got[("media_videos", ready)] == 2
    assert got[("media_storage_stats_errors_total", frozenset())] == 1
    assert got[("media_storage_stats_age_seconds", frozenset())] == 15.0
    assert got[("media_videos", frozenset({("provider", "fake"), ("status", "failed")}))] == 0


def test_reconciler_reports_are_counted() -> None:
    """A report moves runs, checked, fixes by change, errors and uploads left alone; a failure
    counts as error."""
    report = ReconcileReport(claimed=7, applied=3, expired=2, abandoned=1, errors=1, unconfigured=4)
    metrics = ServiceMetrics()
    metrics.reconciler.record_report(report, seconds=1.5)
    metrics.reconciler.record_failure(seconds=0.2)
    got = samples(metrics)
    assert got[("media_reconciler_runs_total", frozenset({("outcome", "ok")}))] == 1
    assert got[("media_reconciler_runs_total", frozenset({("outcome", "error")}))] == 1
    assert got[("media_reconciler_checked_total", frozenset())] == 7
    for change, count in (("applied", 3), ("expired", 2), ("abandoned", 1)):
        assert got[("media_reconciler_fixes_total", frozenset({("change", change)}))] == count
    assert got[("media_reconciler_upload_errors_total", frozenset())] == 1
    assert got[("media_reconciler_unconfigured_total", frozenset())] == 4
    assert got[("media_reconciler_run_seconds_count", frozenset())] == 2
    assert got[("media_reconciler_last_success_timestamp_seconds", frozenset())] > 0


def test_settings_for_monitoring() -> None:
    """Metrics open by default only on the fake; token mode needs a token; quotas parse."""
    fake = load_settings({})
    assert (fake.metrics_mode, fake.quota_max_bytes, fake.quota_max_uploads) == ("open", 0, 0)
    assert fake.log_format == "auto"
    mux = load_settings(
        {
            "MEDIA_PROVIDER": "mux",
            "MUX_TOKEN_ID": "i",
            "MUX_TOKEN_SECRET": "s",
            "MUX_WEBHOOK_SECRETS": "w",
            "AUTH_JWT_SECRET": "j" * 32,
        }
    )
    assert mux.metrics_mode == "off"
    tuned = load_settings(
        {
            "METRICS_MODE": "token",
            "METRICS_TOKEN": "m" * 16,
            "QUOTA_MAX_BYTES": "1000",
            "QUOTA_MAX_UPLOADS": "3",
            "LOG_FORMAT": "TEXT",
            "SENTRY_DSN": "https://k@example.invalid/1",
        }
    )
    assert (tuned.metrics_mode, tuned.quota_max_bytes, tuned.quota_max_uploads) == (
        "token",
        1000,
        3,
    )
    assert tuned.log_format == "text"
    assert "m" * 16 not in repr(tuned)
    assert "example.invalid" not in repr(tuned)
    with pytest.raises(SettingsError) as problems:
        load_settings({"METRICS_MODE": "token", "LOG_FORMAT": "xml", "QUOTA_MAX_BYTES": "-1"})
    text = str(problems.value)
    assert "METRICS_TOKEN" in text
    assert "LOG_FORMAT" in text
    assert "QUOTA_MAX_BYTES" in text
