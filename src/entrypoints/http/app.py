"""The aiohttp application factory."""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator

from aiohttp import web

from adapters.providers.fake import FakeVideoProvider
from entrypoints.container import Container, resolve
from entrypoints.http import routes
from entrypoints.http.auth import Authenticator
from entrypoints.http.fake_routes import add_fake_routes
from entrypoints.http.keys import (
    AUTHENTICATOR,
    CONTAINER,
    FAKE_PROVIDER,
    LIMITS,
    SERVICE,
    VERIFIERS,
    Limits,
)
from entrypoints.http.openapi import add_openapi_routes
from entrypoints.http.problems import problem_middleware


def create_app(
    container: Container, *, authenticator: Authenticator | None = None
) -> web.Application:
    """Build the service around a ready container.

    Resources (database engine, HTTP clients) start and stop with the application
    (``cleanup_ctx``). A host application may pass its own ``authenticator``.
    """
    settings = container.settings()
    app = web.Application(
        middlewares=[problem_middleware],
        client_max_size=max(settings.max_body_bytes, settings.max_webhook_body_bytes),
    )
    app[CONTAINER] = container
    app[LIMITS] = Limits(
        max_body_bytes=settings.max_body_bytes,
        max_webhook_body_bytes=settings.max_webhook_body_bytes,
    )

    async def resources(app: web.Application) -> AsyncIterator[None]:
        await _maybe_await(container.init_resources())
        try:
            app[SERVICE] = await resolve(container.service)
            app[VERIFIERS] = await resolve(container.verifiers)
            app[AUTHENTICATOR] = authenticator or await resolve(container.authenticator)
            provider = await resolve(container.provider)
            app[FAKE_PROVIDER] = provider if isinstance(provider, FakeVideoProvider) else None
            yield
            if isinstance(provider, FakeVideoProvider):
                await provider.close()
        finally:
            await _maybe_await(container.shutdown_resources())

    app.cleanup_ctx.append(resources)
    router = app.router
    router.add_post("/api/v1/media/upload/direct", routes.create_upload)
    router.add_post("/api/v1/media/webhook/{name}", routes.webhook)
    router.add_get("/api/v1/media/status/{id}", routes.get_status)
    router.add_get("/api/v1/media", routes.list_uploads)
    router.add_post("/api/v1/media/{id}/cancel", routes.cancel_upload)
    router.add_delete("/api/v1/media/{id}", routes.delete_upload)
    router.add_get("/api/v1/media/{id}/playback", routes.playback)
    router.add_get("/healthz", routes.healthz)
    add_openapi_routes(app)
    add_fake_routes(app)
    return app


async def _maybe_await(value: object) -> None:
    if inspect.isawaitable(value):
        await value
