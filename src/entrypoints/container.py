"""The composition root: one dependency-injector container builds everything from settings.

This module and the building blocks it assembles (:mod:`entrypoints.wiring`, one module per part
of the service) alone import ``adapters`` (import-linter holds the rest of ``entrypoints`` to
them); the CLI and the app factory receive what they need from here and from those. Tests
override single providers (``container.provider_transport.override(providers.Object(
MockTransport(...)))``) and keep the rest.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import AsyncIterator, Sequence

import httpx
from dependency_injector import containers, providers

from adapters.providers.routes import ProviderRoute
from adapters.system import SystemClock, UlidGenerator
from entrypoints.settings import Settings
from entrypoints.wiring import resolve
from entrypoints.wiring.local import build_local_worker, open_local_jobs
from entrypoints.wiring.providers import (
    build_breakers,
    build_embedded_provider,
    build_provider_routes,
    build_providers,
    build_verifiers,
    open_provider_clients,
    open_webhook_client,
)
from entrypoints.wiring.service import (
    build_authenticator,
    build_metrics,
    build_policy,
    build_publisher,
    build_quota,
    build_rate_limiter,
    build_reconciler,
    build_reporter,
    build_webhook_rate_limiter,
)
from entrypoints.wiring.storage import open_redis, open_repository
from media_core.ports import Clock, ErrorReporter, EventPublisher, IdGenerator, ProviderSelector
from media_core.providers import InOrderSelector
from media_core.services import MediaService

__all__ = ["Container", "build_container", "resolve", "running"]


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
