"""The composition root: one dependency-injector container builds everything from settings.

Only this module imports ``adapters`` and ``dependency_injector`` (import-linter holds the rest of
``entrypoints`` to it); the CLI and the app factory receive what they need from here. Tests
override single providers (``container.provider_transport.override(providers.Object(
MockTransport(...)))``) and keep the rest.
"""

from __future__ import annotations

import contextlib
import inspect
import logging
import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import redis.asyncio
from dependency_injector import containers, providers

from adapters.error_reporting import build_error_reporter
from adapters.local_secrets import local_secrets, local_secrets_path
from adapters.providers._breaker import CircuitBreaker
from adapters.providers._http import HttpPolicy, RetrySettings, default_timeout
from adapters.providers.cloudflare import CloudflareStreamVideoProvider, CloudflareWebhookVerifier
from adapters.providers.cloudflare import stored_playback as cloudflare_stored_playback
from adapters.providers.fake import FakeVideoProvider
from adapters.providers.fake.routes import fake_routes
from adapters.providers.local import (
    FolderStorage,
    LocalVideoProvider,
    LocalWorker,
    Notifier,
    SqlJobStore,
    WorkerSettings,
    local_routes,
)
from adapters.providers.mux import MuxVideoProvider, MuxWebhookVerifier
from adapters.providers.mux import stored_playback as mux_stored_playback
from adapters.providers.routes import ProviderRoute
from adapters.publisher import InProcessEventPublisher
from adapters.rate_limit.memory import InMemoryRateLimiter
from adapters.rate_limit.redis import RedisRateLimiter
from adapters.repositories import sql
from adapters.repositories.memory import InMemoryMediaRepository
from adapters.system import SystemClock, UlidGenerator
from adapters.webhooks import NormalizedWebhookVerifier
from adapters.webhooks.sender import HttpWebhookSender
from adapters.webhooks.senders import WEBHOOK_ROUTES, sign_webhook
from entrypoints.http.auth import Authenticator, JwtBearerAuthenticator
from entrypoints.http.metrics import ServiceMetrics
from entrypoints.settings import EMBEDDED_PROVIDERS, Settings, SettingsError
from media_core.policy import UploadPolicy
from media_core.ports import (
    Clock,
    ErrorReporter,
    EventPublisher,
    IdGenerator,
    MediaRepository,
    ProviderSelector,
    RateLimiter,
    StoredPlayback,
    VideoProvider,
    WebhookVerifier,
)
from media_core.providers import InOrderSelector, ProviderSet
from media_core.reconcile import Reconciler, ReconcileSettings
from media_core.services import MediaService, Quota

log = logging.getLogger("entrypoints.container")

AttemptObserver = Callable[[str], Callable[[str, str, float], None]]
"""Given a provider name, the ``HttpPolicy.on_attempt`` callback that records its API calls."""


def jwt_secret_for(settings: Settings) -> str | None:
    """The HS256 secret in force: configured, or the local one with the fake provider."""
    if settings.jwt_secret or settings.jwt_public_key:
        return settings.jwt_secret
    return local_secrets(settings.data_dir).jwt_secret


def webhook_secrets_for(settings: Settings) -> tuple[str, ...]:
    """Secrets of the normalized webhook route: configured, or the local one for the fake."""
    if settings.webhook_secrets:
        return settings.webhook_secrets
    if settings.hosts_media:
        return (local_secrets(settings.data_dir).webhook_secret,)
    return ()


def secrets_to_redact(settings: Settings) -> tuple[str, ...]:
    """Every secret value the service holds, so the log filter can hide it wherever it appears."""
    values: list[str | None] = [
        settings.jwt_secret,
        settings.metrics_token,
        settings.sentry_dsn,
        *webhook_secrets_for(settings),
    ]
    if settings.hosts_media:
        local = local_secrets(settings.data_dir)
        values += [jwt_secret_for(settings), local.fake_secret]
    if settings.mux is not None:
        values += [settings.mux.token_secret, settings.mux.signing_private_key]
        values += settings.mux.webhook_secrets
    if settings.cloudflare is not None:
        cloudflare = settings.cloudflare
        values += [cloudflare.api_token, cloudflare.signing_key_pem, *cloudflare.webhook_secrets]
    return tuple(value for value in values if value)


async def prepare_schema(settings: Settings, *, migrate: bool) -> bool:
    """Migrate the embedded SQLite (or any database with ``migrate``).

    Returns False, changing nothing, when another database's schema is out of date.
    """
    report = await database_schema(settings, migrate=migrate or is_embedded_database(settings))
    return report is None or report[1].is_current


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


async def open_repository(settings: Settings) -> AsyncIterator[MediaRepository]:
    """The repository named by DATABASE_URL: memory://, or SQL (SQLite file by default)."""
    if settings.database_url == "memory://":
        yield InMemoryMediaRepository()
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    url = settings.effective_database_url
    if sql.async_url(url).get_backend_name() != "postgresql":
        engine = sql.create_engine(url)
        try:
            yield sql.SqliteMediaRepository(engine)
        finally:
            await engine.dispose()
        return
    # The hot statements use the driver pool; SQLAlchemy's pool serves the rest (listing,
    # usage, idempotency keys, the reconciler), which needs fewer connections.
    engine = sql.create_engine(url, pool_size=4, max_overflow=4)
    try:
        pool = sql.create_driver_pool(url, size=10)
        try:
            await pool.open()
        except Exception as exc:
            if not sql.is_unavailable(exc):
                raise
            # Serve anyway: /readyz reports the database down, and connections open once it
            # is back.
            log.warning("the database is unavailable at start: %s", exc)
        try:
            yield sql.PostgresMediaRepository(engine, driver_pool=pool)
        finally:
            await pool.close()
    finally:
        await engine.dispose()


async def open_webhook_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The client the fake provider posts its webhooks with (to this very service)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        yield client


async def open_redis(settings: Settings) -> AsyncIterator[redis.asyncio.Redis | None]:
    """The Redis client when REDIS_URL is set; short timeouts, no hidden retries."""
    if not settings.redis_url:
        yield None
        return
    client = redis.asyncio.Redis.from_url(
        settings.redis_url,
        socket_timeout=0.5,
        socket_connect_timeout=0.5,
        health_check_interval=30,
        max_connections=64,
    )
    try:
        yield client
    finally:
        await client.aclose()


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


def build_breakers(settings: Settings) -> dict[str, CircuitBreaker]:
    """A circuit breaker for each configured provider that calls an API (not local or fake)."""
    return {
        name: CircuitBreaker(
            provider=name,
            failure_threshold=settings.provider_breaker_failures,
            reset_timeout=settings.provider_breaker_reset_seconds,
        )
        for name in settings.providers
        if name not in EMBEDDED_PROVIDERS
    }


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


USER_AGENT = "media-core/0.1"


async def open_provider_clients(
    settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One HTTP client for each configured real provider, by name.

    ``transport`` is None in production; tests put an ``httpx.MockTransport`` there (every
    provider's client uses it).
    """
    common: dict[str, Any] = {
        "timeout": default_timeout(RetrySettings().timeout),
        "limits": httpx.Limits(
            max_connections=20, max_keepalive_connections=10, keepalive_expiry=30
        ),
        "transport": transport,
    }
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        if settings.mux is not None:
            clients["mux"] = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=settings.mux.base_url,
                    auth=httpx.BasicAuth(settings.mux.token_id, settings.mux.token_secret),
                    headers={"User-Agent": USER_AGENT},
                    **common,
                )
            )
        if settings.cloudflare is not None:
            clients["cloudflare"] = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=settings.cloudflare.base_url,
                    headers={
                        "User-Agent": USER_AGENT,
                        "Authorization": f"Bearer {settings.cloudflare.api_token}",
                    },
                    **common,
                )
            )
        yield clients


STORED_PLAYBACK: dict[str, StoredPlayback] = {
    "mux": mux_stored_playback,
    "cloudflare": cloudflare_stored_playback,
}
"""How uploads of a provider no longer configured are still played, from their stored ids."""


def build_embedded_provider(
    settings: Settings,
    clock: Clock,
    webhook_client: httpx.AsyncClient,
    observe: AttemptObserver | None = None,
    *,
    local_jobs: SqlJobStore | None = None,
) -> VideoProvider | None:
    """The provider whose platform is this machine (``local`` or ``fake``), when one is listed;
    it reports through the normalized webhook route."""
    attempts = observe if observe is not None else (lambda name: None)
    if "fake" in settings.providers:
        local = local_secrets(settings.data_dir)
        return FakeVideoProvider(
            base_url=settings.base_url,
            data_dir=settings.data_dir,
            secret=local.fake_secret,
            webhook_secret=webhook_secrets_for(settings)[0],
            clock=clock,
            sender=HttpWebhookSender(
                webhook_client,
                f"{settings.base_url}/api/v1/media/webhook/upload-complete",
                on_attempt=attempts("fake"),
            ),
            processing_delay=settings.fake_processing_delay_seconds,
            tus_threshold=settings.fake_tus_threshold_bytes,
            chunk_size=settings.fake_upload_chunk_bytes,
            max_size=settings.max_upload_bytes,
        )
    if "local" in settings.providers:
        assert local_jobs is not None
        local = local_secrets(settings.data_dir)
        return LocalVideoProvider(
            base_url=settings.base_url,
            data_dir=settings.data_dir,
            storage=FolderStorage(settings.local_storage_dir),
            jobs=local_jobs,
            notifier=build_notifier(settings, clock, webhook_client, attempts("local")),
            secret=local.fake_secret,
            clock=clock,
            playback_ttl=timedelta(seconds=settings.local.playback_ttl_seconds),
            tus_threshold=settings.local.tus_threshold_bytes,
            chunk_size=settings.local.upload_chunk_bytes,
            max_size=settings.max_upload_bytes,
        )
    return None


def build_providers(
    settings: Settings,
    provider_clients: dict[str, httpx.AsyncClient],
    embedded: VideoProvider | None,
    observe: AttemptObserver | None = None,
    *,
    breakers: dict[str, CircuitBreaker],
) -> ProviderSet:
    """Every provider of MEDIA_PROVIDERS, in order, each with its breaker as its health; bad
    provider settings raise one ``SettingsError`` naming them all.

    ``observe`` gives each provider's HTTP policy its ``on_attempt`` callback (metrics).
    """
    built: list[VideoProvider] = []
    problems: list[str] = []
    for name in settings.providers:
        try:
            if name in EMBEDDED_PROVIDERS:
                assert embedded is not None
                built.append(embedded)
            else:
                client = provider_clients[name]
                built.append(_real_provider(name, settings, client, observe, breakers.get(name)))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise SettingsError(problems)
    return ProviderSet(
        built,
        health={name: breaker for name, breaker in breakers.items() if name in settings.providers},
        stored_playback=STORED_PLAYBACK,
    )


def _real_provider(
    name: str,
    settings: Settings,
    client: httpx.AsyncClient,
    observe: AttemptObserver | None,
    breaker: CircuitBreaker | None,
) -> VideoProvider:
    policy = HttpPolicy(
        provider=name, on_attempt=observe(name) if observe else None, breaker=breaker
    )
    if name == "mux":
        mux = settings.mux
        assert mux is not None
        return MuxVideoProvider(
            client,
            policy=policy,
            cors_origin=mux.cors_origin,
            upload_timeout_seconds=mux.upload_timeout_seconds,
            test_mode=mux.test_mode,
            signing_key_id=mux.signing_key_id,
            signing_private_key=mux.signing_private_key,
        )
    if name == "cloudflare":
        cloudflare = settings.cloudflare
        assert cloudflare is not None
        return CloudflareStreamVideoProvider(
            client,
            account_id=cloudflare.account_id,
            policy=policy,
            customer_subdomain=cloudflare.customer_subdomain,
            allowed_origins=cloudflare.allowed_origins,
            max_duration_seconds=cloudflare.max_duration_seconds,
            upload_expiry_seconds=cloudflare.upload_expiry_seconds,
            basic_upload_limit=cloudflare.basic_upload_limit,
            signing_key_id=cloudflare.signing_key_id,
            signing_key_pem=cloudflare.signing_key_pem,
        )
    raise NotImplementedError(f"provider {name} is not wired yet")


def build_notifier(
    settings: Settings,
    clock: Clock,
    webhook_client: httpx.AsyncClient,
    on_attempt: Callable[[str, str, float], None] | None = None,
) -> Notifier:
    """Signed webhooks of the local provider and its workers, to this service's normalized route
    (``MEDIA_PUBLIC_URL`` when workers run on other machines)."""
    return Notifier(
        sender=HttpWebhookSender(
            webhook_client,
            f"{settings.base_url}/api/v1/media/webhook/upload-complete",
            on_attempt=on_attempt,
            provider="local",
        ),
        secret=webhook_secrets_for(settings)[0],
        clock=clock,
    )


async def open_local_jobs(settings: Settings) -> AsyncIterator[SqlJobStore | None]:
    """The local provider's job store, on the service's database (None for other providers)."""
    if "local" not in settings.providers:
        yield None
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sql.create_engine(settings.effective_database_url, pool_size=2)
    try:
        yield SqlJobStore(engine)
    finally:
        await engine.dispose()


def build_local_worker(
    settings: Settings, clock: Clock, jobs: SqlJobStore | None, webhook_client: httpx.AsyncClient
) -> LocalWorker:
    """One worker of the local provider, named after this host and process."""
    if jobs is None:
        raise SettingsError(["workers process the local provider's jobs: set MEDIA_PROVIDER=local"])
    local = settings.local
    return LocalWorker(
        name=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        jobs=jobs,
        storage=FolderStorage(settings.local_storage_dir),
        notifier=build_notifier(settings, clock, webhook_client),
        clock=clock,
        base_url=settings.base_url,
        settings=WorkerSettings(
            heights=local.ladder,
            segment_seconds=local.segment_seconds,
            threads=local.encoder_threads,
            lease=timedelta(seconds=local.job_lease_seconds),
            max_attempts=local.job_max_attempts,
        ),
    )


def build_provider_routes(settings: Settings, provider: Any) -> Sequence[ProviderRoute]:
    """The HTTP routes the embedded provider serves itself (``adapters.providers.routes``).

    ``provider`` is the container's provider of that provider: a handler resolves it per
    request, since the routes are mounted before the application (and so the provider) starts.
    """
    if "fake" in settings.providers:
        return fake_routes(lambda: resolve(provider))
    if "local" in settings.providers:
        return local_routes(lambda: resolve(provider))
    return ()


async def close_providers(providers: ProviderSet) -> None:
    """Stop what providers run in the background (webhook deliveries in flight)."""
    for provider in providers:
        if isinstance(provider, FakeVideoProvider | LocalVideoProvider):
            await provider.close()


def build_verifiers(settings: Settings) -> dict[str, WebhookVerifier]:
    """The webhook routes in force, by the last path segment."""
    verifiers: dict[str, WebhookVerifier] = {}
    normalized = webhook_secrets_for(settings)
    if normalized:
        # The embedded provider's own route when one is listed; otherwise the route of a
        # trusted system of the host, acting for the default provider.
        embedded = [name for name in settings.providers if name in EMBEDDED_PROVIDERS]
        verifiers["upload-complete"] = NormalizedWebhookVerifier(
            secrets=normalized,
            provider=embedded[0] if embedded else settings.provider,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    if settings.mux is not None:
        verifiers["mux"] = MuxWebhookVerifier(
            secrets=settings.mux.webhook_secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    if settings.cloudflare is not None:
        verifiers["cloudflare"] = CloudflareWebhookVerifier(
            secrets=settings.cloudflare.webhook_secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    return verifiers


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


class Container(containers.DeclarativeContainer):
    """Everything the service needs, built lazily from ``settings``."""

    settings = providers.Dependency(instance_of=Settings)

    clock: providers.Provider[Clock] = providers.Singleton(SystemClock)
    ids: providers.Provider[IdGenerator] = providers.Singleton(UlidGenerator)
    metrics = providers.Singleton(build_metrics, settings)
    error_reporter: providers.Provider[ErrorReporter] = providers.Singleton(
        build_reporter, settings, metrics
    )
    publisher: providers.Provider[EventPublisher] = providers.Singleton(
        build_publisher, error_reporter, metrics
    )
    quota = providers.Singleton(build_quota, settings)
    policy = providers.Singleton(build_policy, settings)

    repository = providers.Resource(open_repository, settings)
    webhook_client = providers.Resource(open_webhook_client, settings)
    provider_transport: providers.Provider[httpx.AsyncBaseTransport | None] = providers.Object(None)
    provider_clients = providers.Resource(open_provider_clients, settings, provider_transport)
    redis_client = providers.Resource(open_redis, settings)
    rate_limiter = providers.Singleton(build_rate_limiter, settings, clock, redis_client)
    webhook_rate_limiter = providers.Singleton(
        build_webhook_rate_limiter, settings, clock, redis_client
    )
    provider_breakers = providers.Singleton(build_breakers, settings)
    local_jobs = providers.Resource(open_local_jobs, settings)
    embedded_provider = providers.Singleton(
        build_embedded_provider,
        settings,
        clock,
        webhook_client,
        observe=metrics.provided.provider_observer,
        local_jobs=local_jobs,
    )
    video_providers = providers.Singleton(
        build_providers,
        settings,
        provider_clients,
        embedded_provider,
        observe=metrics.provided.provider_observer,
        breakers=provider_breakers,
    )
    provider_selector: providers.Provider[ProviderSelector] = providers.Singleton(InOrderSelector)
    provider_routes: providers.Provider[Sequence[ProviderRoute]] = providers.Singleton(
        build_provider_routes, settings, embedded_provider.provider
    )
    local_worker = providers.Singleton(
        build_local_worker, settings, clock, local_jobs, webhook_client
    )
    verifiers = providers.Singleton(build_verifiers, settings)
    authenticator = providers.Singleton(build_authenticator, settings)

    service = providers.Singleton(
        MediaService,
        providers=video_providers,
        selector=provider_selector,
        repository=repository,
        clock=clock,
        ids=ids,
        rate_limiter=rate_limiter,
        publisher=publisher,
        policy=policy,
        quota=quota,
    )
    reconciler = providers.Singleton(build_reconciler, settings, service)


def build_container(settings: Settings) -> Container:
    """A container for ``settings``."""
    return Container(settings=settings)


async def resolve(provider: Any) -> Any:
    """The value of a provider, awaiting it when it has async dependencies."""
    value = provider()
    if hasattr(value, "__await__"):
        value = await value
    return value


@contextlib.asynccontextmanager
async def running(container: Container) -> AsyncIterator[Container]:
    """Start the container's resources (engines, clients) and shut them down on exit."""
    await _maybe_await(container.init_resources())
    try:
        yield container
    finally:
        await _maybe_await(container.shutdown_resources())


async def _maybe_await(value: object) -> None:
    # dependency-injector returns an awaitable only when some resource is async.
    if inspect.isawaitable(value):
        await value


# --- what the command line needs from the adapters ---------------------------------------------


SchemaReport = tuple[sql.SchemaStatus, sql.SchemaStatus]
"""Where a database's schema was before ``database_schema`` and where it is after."""


async def database_schema(settings: Settings, *, migrate: bool = False) -> SchemaReport | None:
    """Where the schema of DATABASE_URL stands, migrating it first with ``migrate``.

    None for ``memory://``, which has no schema. Raises ``RepositoryUnavailable`` when the
    database cannot be reached.
    """
    if settings.database_url == "memory://":
        return None
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sql.create_engine(settings.effective_database_url)
    try:
        before = after = await sql.schema_status(engine)
        if migrate and not before.is_current:
            await sql.upgrade(engine)
            after = await sql.schema_status(engine)
        return before, after
    finally:
        await engine.dispose()


def is_embedded_database(settings: Settings) -> bool:
    """True for the embedded SQLite file, which ``serve`` migrates by itself."""
    return settings.effective_database_url.startswith("sqlite")


def development_secrets_path(settings: Settings) -> Path:
    """Where the embedded default keeps the secrets it generates (``<data dir>/secrets.json``)."""
    return local_secrets_path(settings.data_dir)


def development_jwt_secret(settings: Settings, *, create: bool = False) -> str | None:
    """The data dir's development JWT secret; None where no service made one (unless ``create``)."""
    if not create and not local_secrets_path(settings.data_dir).exists():
        return None
    return local_secrets(settings.data_dir).jwt_secret


def webhook_signing_secret(settings: Settings, sender: str) -> str | None:
    """The first secret the service accepts from ``sender`` (mux, cloudflare or normalized).

    Never creates the development secrets: None where no service has made them yet.
    """
    if sender == "mux":
        return settings.mux.webhook_secrets[0] if settings.mux else None
    if sender == "cloudflare":
        return settings.cloudflare.webhook_secrets[0] if settings.cloudflare else None
    if settings.webhook_secrets:
        return settings.webhook_secrets[0]
    if settings.hosts_media and local_secrets_path(settings.data_dir).exists():
        return local_secrets(settings.data_dir).webhook_secret
    return None


async def check_provider_credentials(container: Container, name: str) -> None:
    """One cheap authenticated read at the configured provider ``name`` (mux or cloudflare).

    Raises ``ProviderRejected`` (credentials refused) or ``ProviderUnavailable``.
    """
    provider = (await resolve(container.video_providers)).named(name)
    if isinstance(provider, MuxVideoProvider | CloudflareStreamVideoProvider):
        await provider.check_credentials()


async def ping_redis(container: Container) -> bool | None:
    """PING the configured Redis: True if it answers; None when REDIS_URL is unset."""
    client = await resolve(container.redis_client)
    if client is None:
        return None
    return bool(await client.ping())


def signed_delivery(
    sender: str, secret: str, timestamp: int, body: bytes
) -> tuple[str, dict[str, str]]:
    """The route path of ``sender`` and the headers that sign ``body`` as it signs (the adapters'
    own schemes): mux, cloudflare or normalized."""
    path = f"/api/v1/media/webhook/{WEBHOOK_ROUTES[sender]}"
    return path, sign_webhook(sender, secret, timestamp, body)
