"""``/readyz``: the dependencies this instance needs answer, or a 503 problem says which do not."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, cast

from aiohttp import web

from entrypoints.http.metrics import METRICS, METRICS_ACCESS, BreakerLike, metrics_endpoint
from entrypoints.http.pipeline import ObservedRoutes
from entrypoints.http.problems import problem_response
from media_core import errors
from media_core.ports import StorageStatistics
from media_core.providers import ProviderSet

log = logging.getLogger("entrypoints.http.readiness")

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
        result = {"status": "down", "error": type(exc).__name__, **getattr(exc, "details", {})}
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
    providers: ProviderSet | None = None,
    breakers: Mapping[str, BreakerLike] | None = None,
) -> None:
    """Read storage figures from ``repository``; make ``/readyz`` check the dependencies.

    Called once the container's resources are up: the database (a repository without ``ping``,
    such as a host's own, has no check), Redis when configured, and the providers (each one's
    circuit breaker is reported; not ready only when no provider can take a new upload, since
    then creates would answer 503).
    """
    metrics = app.get(METRICS)
    if metrics is not None and hasattr(repository, "storage_tallies"):
        metrics.storage.bind(cast(StorageStatistics, repository))
    breakers = dict(breakers or {})
    if metrics is not None:
        metrics.circuit.breakers = tuple(breakers.values())
    if providers is not None:
        add_readiness_check(app, "providers", _providers_check(providers, breakers))
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


class NoProviderAccepting(Exception):
    """No configured provider can take a new upload (a readiness failure, named by this class);
    ``details`` is the providers' report, shown with the failure."""

    def __init__(self, details: Mapping[str, Any]) -> None:
        super().__init__("no provider is taking new uploads")
        self.details = details


def _providers_check(providers: ProviderSet, breakers: Mapping[str, BreakerLike]) -> ReadinessCheck:
    async def check() -> Mapping[str, Any]:
        report: dict[str, dict[str, Any]] = {}
        for name in providers.names:
            entry: dict[str, Any] = {"accepting": providers.accepting(name), "state": "closed"}
            breaker = breakers.get(name)
            if breaker is not None:
                snapshot = breaker.snapshot()
                entry["state"] = snapshot.state.value
                entry["retryAfter"] = round(snapshot.retry_after, 3)
            report[name] = entry
        details = {"default": providers.default.name, "providers": report}
        if not any(entry["accepting"] for entry in report.values()):
            raise NoProviderAccepting(details)
        return details

    return check
