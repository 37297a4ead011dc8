"""The aiohttp application factory."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import AsyncIterator

from aiohttp import web

from entrypoints.container import Container, resolve, running
from entrypoints.http import routes
from entrypoints.http.auth import Authenticator
from entrypoints.http.keys import (
    AUTHENTICATOR,
    CONTAINER,
    LIMITS,
    SERVICE,
    VERIFIERS,
    Limits,
)
from entrypoints.http.live import add_live_routes
from entrypoints.http.metrics import METRICS, METRICS_ACCESS, MetricsAccess, ServiceMetrics
from entrypoints.http.openapi import add_openapi_routes
from entrypoints.http.pipeline import ObservedRoutes
from entrypoints.http.problems import ERROR_REPORTER
from entrypoints.http.readiness import READINESS_CHECKS, add_operator_routes, watch_dependencies
from entrypoints.http.upload_policy import add_policy_route
from entrypoints.http.web import add_web_routes
from entrypoints.wiring.providers import close_providers
from media_core.reconcile import Reconciler

log = logging.getLogger("entrypoints.http")


def create_app(
    container: Container,
    *,
    authenticator: Authenticator | None = None,
    include_web: bool = True,
) -> web.Application:
    """Build the service around a ready container.

    Resources (database engine, HTTP clients) start and stop with the application
    (``cleanup_ctx``). A host application may pass its own ``authenticator``, and
    ``include_web=False`` to serve the API without the web pages. Routes a provider serves
    itself (``container.provider_routes``, see ``adapters.providers.routes``) are mounted
    beside the service's own, observed the same way.
    """
    settings = container.settings()
    app = web.Application(
        client_max_size=max(settings.max_body_bytes, settings.max_webhook_body_bytes),
    )
    app[CONTAINER] = container
    app[LIMITS] = Limits(
        max_body_bytes=settings.max_body_bytes,
        max_webhook_body_bytes=settings.max_webhook_body_bytes,
    )
    app[METRICS] = container.metrics()
    app[METRICS_ACCESS] = MetricsAccess(mode=settings.metrics_mode, token=settings.metrics_token)
    app[ERROR_REPORTER] = container.error_reporter()
    app[READINESS_CHECKS] = {}

    async def resources(app: web.Application) -> AsyncIterator[None]:
        async with running(container):
            app[SERVICE] = await resolve(container.service)
            app[VERIFIERS] = await resolve(container.verifiers)
            app[AUTHENTICATOR] = authenticator or await resolve(container.authenticator)
            video_providers = await resolve(container.video_providers)
            watch_dependencies(
                app,
                repository=await resolve(container.repository),
                redis_client=await resolve(container.redis_client),
                providers=video_providers,
                breakers=container.provider_breakers(),
            )
            yield
            await close_providers(video_providers)

    app.cleanup_ctx.append(resources)
    app.cleanup_ctx.append(_webhook_endpoint)
    app.cleanup_ctx.append(_reconciler_loop)
    router = ObservedRoutes(app)
    router.add_post("/api/v1/media/upload/direct", routes.create_upload)
    router.add_post("/api/v1/media/webhook/{name}", routes.webhook)
    router.add_get("/api/v1/media/status/{id}", routes.get_status)
    router.add_get("/api/v1/media", routes.list_uploads)
    router.add_post("/api/v1/media/{id}/cancel", routes.cancel_upload)
    router.add_delete("/api/v1/media/{id}", routes.delete_upload)
    router.add_get("/api/v1/media/{id}/playback", routes.playback)
    router.add_get("/healthz", routes.healthz)
    add_operator_routes(app)
    add_policy_route(app)
    add_live_routes(app)
    add_openapi_routes(app)
    for route in container.provider_routes():
        router.add_route(route.method, route.path, route.handler)
    if include_web:
        add_web_routes(app)
    router.add_unmatched()
    return app


async def _webhook_endpoint(app: web.Application) -> AsyncIterator[None]:
    """The webhook route's dependencies, its per-source rate limiter among them, bound once."""
    app[routes.WEBHOOK_LIMITER] = await resolve(app[CONTAINER].webhook_rate_limiter)
    routes.bind_webhook_endpoint(app)
    yield


async def _reconciler_loop(app: web.Application) -> AsyncIterator[None]:
    """The reconciler's background loop, when RECONCILE_INTERVAL_SECONDS switches it on."""
    container: Container = app[CONTAINER]
    interval = container.settings().reconcile_interval_seconds
    if interval <= 0:
        yield
        return
    reconciler: Reconciler = await resolve(container.reconciler)
    metrics: ServiceMetrics = await resolve(container.metrics)
    task = asyncio.create_task(_reconcile_forever(reconciler, interval, metrics))
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


async def _reconcile_forever(
    reconciler: Reconciler, interval: float, metrics: ServiceMetrics
) -> None:
    """One reconciler pass every ``interval`` seconds (jittered, so instances do not align)."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311 - jitter only
        started = time.perf_counter()
        try:
            report = await reconciler.run_once()
        except Exception:
            # The next pass tries again; a database outage must not end the loop.
            metrics.reconciler.record_failure(seconds=time.perf_counter() - started)
            log.exception("reconciler pass failed")
        else:
            metrics.reconciler.record_report(report, seconds=time.perf_counter() - started)
