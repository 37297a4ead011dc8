"""The request pipeline: what every route's handler runs inside.

:func:`observed` wraps a handler: the request id in and out, every error answered as
problem+json (:func:`~entrypoints.http.problems.problem_for`), the HTTP metrics and one access
log line. :class:`ObservedRoutes` adds routes with their handlers wrapped, and its
:meth:`~ObservedRoutes.add_unmatched` answers (and counts) unknown paths and wrong methods.
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from entrypoints.http.metrics import METRICS, ServiceMetrics
from entrypoints.http.problems import problem_for
from entrypoints.observability import REQUEST_ID

log = logging.getLogger("entrypoints.http.access")

UNMATCHED_ROUTE = "unmatched"
UNMATCHED_PATH = "/{media_core_unmatched:.*}"
UNMATCHED_CANONICAL = "/{media_core_unmatched}"  # how aiohttp names it
REQUEST_ID_HEADER = "X-Request-ID"
_REQUEST_ID_SHAPE = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
_REQUEST_ID_PREFIX = secrets.token_hex(10)
_REQUEST_COUNTER = itertools.count(1)
_SECRET_PATH_PARAMETERS = frozenset({"token"})


def incoming_request_id(value: str | None) -> str:
    """The client's ``X-Request-ID`` if it is a sane token, else a fresh one."""
    if value and _REQUEST_ID_SHAPE.match(value):
        return value
    # 32 hex digits: 80 random bits chosen once per process, then a counter (no system call).
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
    rather than through an aiohttp middleware, which aiohttp runs under a second layer of its
    own on every request (docs/benchmarks.md has the cost).
    """

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
                metrics.observe_request(route, request.method, status, seconds)
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

        A path whose last segment is only a route's variable (``/api/v1/media/{id}``) names
        nothing for a method that route lacks: ``GET /api/v1/media/nope`` is a 404, not a 405
        offering ``DELETE``.

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
                if not resource.canonical.endswith("}"):
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
