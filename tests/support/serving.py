"""Serve an app the test built itself (a tweaked ``create_app``) like ``running_service`` does."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from aiohttp import web

from entrypoints.container import Container
from entrypoints.settings import Settings
from tests.support.service import RunningService


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, settings: Settings, container: Container
) -> AsyncIterator[RunningService]:
    """Run ``app`` on ``settings.host:settings.port`` (memory:// or a migrated database)."""
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    base_url = f"http://{settings.host}:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=15.0) as client:
            yield RunningService(
                container=container, settings=settings, base_url=base_url, client=client
            )
    finally:
        await runner.cleanup()
