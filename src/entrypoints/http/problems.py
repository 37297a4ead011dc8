"""RFC 9457 problem details: the one place that turns errors into HTTP responses.

Every error response is ``application/problem+json`` with a stable ``type`` (``/problems/<code>``,
documented at that path), a ``title``, the ``status``, a ``detail`` for people and, for bad input,
``errors``: a list of ``{"pointer": "/metadata/title", "detail": "…"}`` (``parameter`` for a
query parameter, ``header`` for a request header, in place of ``pointer``).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Sequence
from typing import Any

from aiohttp import web

from entrypoints.http.schemas import InvalidBody
from entrypoints.observability import REQUEST_ID
from media_core import errors
from media_core.ports import ErrorReporter

log = logging.getLogger("entrypoints.http")

PROBLEM_CONTENT_TYPE = "application/problem+json"
PROBLEM_BASE = "/problems/"

STATUS_BY_ERROR: Sequence[tuple[type[errors.MediaCoreError], int]] = (
    (errors.InvalidInput, 422),
    (errors.NotAuthenticated, 401),
    (errors.UploadNotFound, 404),
    (errors.Conflict, 409),
    (errors.QuotaExceeded, 403),
    (errors.RateLimited, 429),
    (errors.InvalidSignature, 401),
    (errors.StaleWebhook, 400),
    (errors.MalformedWebhook, 400),
    (errors.ProviderUnavailable, 503),
    (errors.ProviderRejected, 502),
    (errors.ProviderNotConfigured, 409),
    (errors.RepositoryUnavailable, 503),
)

# Problems that the HTTP layer itself raises, with no domain error behind them.
HTTP_PROBLEMS: dict[str, tuple[int, str, str]] = {
    "malformed-json": (
        400,
        "Malformed JSON",
        "The request body is not JSON in UTF-8, or a string in it holds a lone surrogate.",
    ),
    "bad-request": (
        400,
        "Bad request",
        "The request is not valid HTTP (request line, header syntax or message framing).",
    ),
    "header-too-large": (
        431,
        "Request header too large",
        "The request line or a header field is over the server's limit.",
    ),
    "body-too-large": (413, "Request body too large", "The request body is over the limit."),
    "unsupported-content-type": (
        415,
        "Unsupported content type",
        "This route takes application/json.",
    ),
    "not-found": (404, "Not found", "There is nothing at this URL."),
    "method-not-allowed": (405, "Method not allowed", "This URL does not take that method."),
    "internal-error": (500, "Internal error", "Something failed on our side; it was logged."),
    "not-ready": (
        503,
        "Not ready",
        "A dependency (database, Redis, provider circuit) is down; see checks.",
    ),
}

ERROR_REPORTER = web.AppKey("media_core_error_reporter", ErrorReporter)
"""Where unexpected exceptions go (``ErrorReporter``); logged here when absent."""


class HttpProblem(Exception):
    """Raise from a handler to answer with one of :data:`HTTP_PROBLEMS`."""

    def __init__(
        self, code: str, detail: str | None = None, *, errors: list[dict[str, str]] | None = None
    ) -> None:
        status, title, default = HTTP_PROBLEMS[code]
        super().__init__(detail or default)
        self.code, self.status, self.title = code, status, title
        self.detail = detail or default
        self.errors = errors


def status_for(error: errors.MediaCoreError) -> int:
    """The HTTP status of a domain error (the most specific class listed wins)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def problem_response(
    *,
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> web.Response:
    """A ``problem+json`` response."""
    body: dict[str, Any] = {
        "type": f"{PROBLEM_BASE}{code}",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    if extra:
        body.update(extra)
    return web.Response(
        status=status,
        text=json.dumps(body),
        content_type=PROBLEM_CONTENT_TYPE,
        headers=headers,
    )


def from_domain_error(error: errors.MediaCoreError, request: web.Request) -> web.Response:
    """The response for a domain error, with the headers its class calls for."""
    status = status_for(error)
    extra: dict[str, Any] = {}
    headers: dict[str, str] = {}
    if isinstance(error, errors.InvalidInput) and error.field:
        extra["errors"] = [{**_where(error.field), "detail": error.detail}]
    if isinstance(error, errors.RateLimited):
        retry = max(1, math.ceil(error.retry_after))
        headers["Retry-After"] = str(retry)
        headers["RateLimit-Limit"] = str(error.limit)
        headers["RateLimit-Remaining"] = str(error.remaining)
        headers["RateLimit-Reset"] = str(max(retry, math.ceil(error.reset_after)))
    if isinstance(error, errors.ProviderUnavailable) and error.retry_after is not None:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if isinstance(error, errors.ProviderNotConfigured):
        extra["provider"] = error.provider
    if isinstance(error, errors.NotAuthenticated):
        headers["WWW-Authenticate"] = 'Bearer realm="media-core"'
    return problem_response(
        status=status,
        code=error.code,
        title=error.title,
        detail=_public_detail(error),
        instance=request.path,
        extra=extra,
        headers=headers,
    )


def _where(field: str) -> dict[str, str]:
    """One form for every ``errors`` entry: ``pointer`` into the body, ``parameter`` of the
    query, or ``header``."""
    if field.startswith("/"):
        return {"pointer": field}
    if field.startswith("?"):
        return {"parameter": field[1:]}
    return {"header": field}


def _public_detail(error: errors.MediaCoreError) -> str:
    """What a client may read: a storage error's detail names hosts and drivers, so it stays in
    the log and the client gets a generic sentence."""
    if isinstance(error, errors.RepositoryUnavailable):
        return "the database is unavailable; nothing was changed, try again shortly"
    return error.detail


def from_http_problem(problem: HttpProblem, request: web.Request) -> web.Response:
    """The response for an :class:`HttpProblem`."""
    return problem_response(
        status=problem.status,
        code=problem.code,
        title=problem.title,
        detail=problem.detail,
        instance=request.path,
        extra={"errors": problem.errors} if problem.errors else None,
    )


def problem_for(  # noqa: PLR0911 - one return per family of error
    exc: Exception, request: web.Request, *, route: str
) -> web.StreamResponse:
    """The problem+json answer to an error the handler of ``route`` (its template) raised;
    nothing ends in a bare 500.

    Re-raises the ``web.HTTPException``s that are raised on purpose (redirects and the like).
    """
    if isinstance(exc, errors.MediaCoreError):
        if status_for(exc) >= 500:
            log.warning("%s %s: %s (%s)", request.method, request.path, exc.code, exc.detail)
        return from_domain_error(exc, request)
    if isinstance(exc, HttpProblem):
        return from_http_problem(exc, request)
    if isinstance(exc, InvalidBody):
        return problem_response(
            status=422,
            code=errors.InvalidInput.code,
            title=errors.InvalidInput.title,
            detail="; ".join(f"{p} {d}" if p else d for p, d in exc.errors),
            instance=request.path,
            extra={"errors": [{"pointer": p or "/", "detail": d} for p, d in exc.errors]},
        )
    if isinstance(exc, web.HTTPRequestEntityTooLarge):
        return from_http_problem(HttpProblem("body-too-large"), request)
    if isinstance(exc, web.HTTPNotFound):
        return from_http_problem(HttpProblem("not-found"), request)
    if isinstance(exc, web.HTTPMethodNotAllowed):
        response = from_http_problem(HttpProblem("method-not-allowed"), request)
        response.headers["Allow"] = ",".join(sorted(exc.allowed_methods))
        return response
    if isinstance(exc, web.HTTPException):
        raise exc
    reporter = request.app.get(ERROR_REPORTER)
    if reporter is None:
        log.error("unhandled error on %s %s", request.method, request.path, exc_info=exc)
    else:
        reporter.report(
            exc,
            {
                "where": "request",
                "request_id": REQUEST_ID.get(),
                "method": request.method,
                "route": route,
            },
        )
    return from_http_problem(HttpProblem("internal-error"), request)


def problem_catalogue() -> dict[str, dict[str, Any]]:
    """Every problem type we answer with: code → title, status and description."""
    catalogue: dict[str, dict[str, Any]] = {}
    seen: list[type[errors.MediaCoreError]] = [errors.MediaCoreError]
    while seen:
        kind = seen.pop()
        seen.extend(kind.__subclasses__())
        if kind is errors.MediaCoreError:
            continue
        catalogue[kind.code] = {
            "title": kind.title,
            "status": status_for(kind.__new__(kind)),
            "description": (kind.__doc__ or "").strip(),
        }
    for code, (status, title, description) in HTTP_PROBLEMS.items():
        catalogue[code] = {"title": title, "status": status, "description": description}
    return dict(sorted(catalogue.items()))
