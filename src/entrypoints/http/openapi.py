"""The OpenAPI 3.1 document of every route, and the problem-type pages it links to.

The document is data: ``openapi.json`` beside this module, shipped in the wheel and read with
``importlib.resources``. Tests validate real responses against its schemas, check that every
route of the app is in it, and that its version and MIME type examples match the code, so it
cannot drift from what the service does.
"""

from __future__ import annotations

import functools
import html
import json
from importlib import resources
from typing import Any

from aiohttp import web

from entrypoints.http.pipeline import ObservedRoutes
from entrypoints.http.problems import HttpProblem, problem_catalogue

DOCUMENT_FILE = "openapi.json"


@functools.cache
def _document_bytes() -> bytes:
    return resources.files(__package__).joinpath(DOCUMENT_FILE).read_bytes()


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (a fresh copy: callers may change it)."""
    parsed: dict[str, Any] = json.loads(_document_bytes())
    return parsed


async def openapi_json(_: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``: the file as shipped."""
    return web.Response(body=_document_bytes(), content_type="application/json", charset="utf-8")


async def problem_page(request: web.Request) -> web.Response:
    """``GET /problems/{code}``: what a problem type means (HTML, or JSON on request)."""
    code = request.match_info["code"]
    entry = problem_catalogue().get(code)
    if entry is None:
        raise HttpProblem("not-found", f"no problem type {code!r}")
    if "application/json" in request.headers.get("Accept", ""):
        return web.json_response({"type": f"/problems/{code}", **entry})
    body = (
        f"<!doctype html><title>{html.escape(entry['title'])}</title>"
        f"<h1>{html.escape(entry['title'])}</h1><p>HTTP {entry['status']}</p>"
        f"<p>{html.escape(entry['description'])}</p>"
    )
    return web.Response(text=body, content_type="text/html")


def add_openapi_routes(app: web.Application) -> None:
    """Mount the document and the problem pages."""
    routes = ObservedRoutes(app)
    routes.add_get("/api/v1/openapi.json", openapi_json)
    routes.add_get("/problems/{code}", problem_page)
