"""The service's own parts: authentication, rate limits, quota and policy, metrics, error
reporting, the event publisher and the reconciler."""

from __future__ import annotations

from datetime import timedelta

import redis.asyncio

from adapters.error_reporting import build_error_reporter
from adapters.publisher import InProcessEventPublisher
from adapters.rate_limit.memory import InMemoryRateLimiter
from adapters.rate_limit.redis import RedisRateLimiter
from entrypoints.http.auth import Authenticator, JwtBearerAuthenticator
from entrypoints.http.metrics import ServiceMetrics
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import jwt_secret_for
from media_core.policy import UploadPolicy
from media_core.ports import (
    Clock,
    ErrorReporter,
    EventPublisher,
    RateLimiter,
)
from media_core.reconcile import Reconciler, ReconcileSettings
from media_core.services import MediaService, Quota


def build_authenticator(settings: Settings) -> Authenticator:
    """Bearer JWT: RS256 with the configured public key, else HS256."""
    if settings.jwt_public_key:
        return JwtBearerAuthenticator(
            key=settings.jwt_public_key,
            algorithms=["RS256"],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
        )
    secret = jwt_secret_for(settings)
    assert secret is not None
    return JwtBearerAuthenticator(
        key=secret, algorithms=["HS256"], audience=settings.jwt_audience, issuer=settings.jwt_issuer
    )


def build_rate_limiter(
    settings: Settings, clock: Clock, redis_client: redis.asyncio.Redis | None
) -> RateLimiter:
    """Per-user creation limit: in memory, or shared through Redis when REDIS_URL is set."""
    if redis_client is not None:
        return RedisRateLimiter(
            redis_client,
            rate=settings.create_rate_per_minute,
            period=60.0,
            burst=settings.create_rate_burst,
            prefix=f"{settings.rate_limit_key_prefix}create:",
            fail_open=settings.rate_limit_fail_open,
        )
    return InMemoryRateLimiter(
        rate=settings.create_rate_per_minute,
        period=60.0,
        burst=settings.create_rate_burst,
        clock=clock,
    )


def build_webhook_rate_limiter(
    settings: Settings, clock: Clock, redis_client: redis.asyncio.Redis | None
) -> RateLimiter:
    """Per-source-address limit of the webhook routes: a minute's worth may come at once."""
    rate = settings.webhook_rate_per_minute
    if redis_client is not None:
        return RedisRateLimiter(
            redis_client,
            rate=rate,
            period=60.0,
            burst=rate,
            prefix=f"{settings.rate_limit_key_prefix}webhook:",
            fail_open=settings.rate_limit_fail_open,
        )
    return InMemoryRateLimiter(rate=rate, period=60.0, burst=rate, clock=clock)


def build_reconciler(settings: Settings, service: MediaService) -> Reconciler:
    """The reconciler with the RECONCILE_* thresholds."""
    return Reconciler(
        service=service,
        settings=ReconcileSettings(
            pending_after=timedelta(seconds=settings.reconcile_pending_after_seconds),
            uploading_after=timedelta(seconds=settings.reconcile_uploading_after_seconds),
            processing_after=timedelta(seconds=settings.reconcile_processing_after_seconds),
            lease=timedelta(seconds=settings.reconcile_lease_seconds),
            batch_size=settings.reconcile_batch_size,
        ),
    )


def build_quota(settings: Settings) -> Quota:
    """The per-user quota (QUOTA_MAX_BYTES, QUOTA_MAX_UPLOADS; 0 is unlimited)."""
    return Quota(max_bytes=settings.quota_max_bytes, max_uploads=settings.quota_max_uploads)


def build_metrics(settings: Settings) -> ServiceMetrics:
    """This container's metrics, in a registry of their own."""
    return ServiceMetrics(storage_ttl=settings.metrics_storage_ttl_seconds)


def build_reporter(settings: Settings, metrics: ServiceMetrics) -> ErrorReporter:
    """Unexpected exceptions: logged, counted, and sent to Sentry when SENTRY_DSN is set."""
    return build_error_reporter(
        settings.sentry_dsn, environment=settings.sentry_environment, count=metrics.count_error
    )


def build_publisher(error_reporter: ErrorReporter, metrics: ServiceMetrics) -> EventPublisher:
    """The in-process publisher, with the metrics observer subscribed to every event."""
    publisher = InProcessEventPublisher(error_reporter=error_reporter)
    publisher.subscribe(metrics.observe_event)
    return publisher


def build_policy(settings: Settings) -> UploadPolicy:
    """The upload policy with the configured size limit."""
    return UploadPolicy(max_file_size=settings.max_upload_bytes)
