"""The OpenAPI 3.1 document of every route, and the problem-type pages it links to.

Tests validate real responses against these schemas, so the document cannot drift from the code.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

from entrypoints.http.pipeline import ObservedRoutes
from entrypoints.http.problems import HttpProblem, problem_catalogue
from media_core.policy import DEFAULT_TYPES

VERSION = "0.1.0"


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def _problem(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/problem+json": {"schema": _ref("Problem")}},
    }


def _json(description: str, schema: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": schema}},
        **extra,
    }


def _name_param() -> dict[str, Any]:
    return {"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}


ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Our upload id, or its playback id.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
IDEMPOTENCY_KEY_PARAM = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes retries safe: the same user sending the same body under the same key "
    "gets the first request's upload and body back (with Idempotent-Replayed: true), for at "
    "least 24 hours; a different body under a used key is a 409.",
    "schema": {
        "type": "string",
        "minLength": 1,
        "maxLength": 255,
        "pattern": "^[A-Za-z0-9._:~+/=-]+$",
    },
}
USER_ERRORS = {
    "401": _problem("No or invalid bearer token."),
    "404": _problem("No such upload for this user."),
    "503": _problem("Storage or provider unavailable."),
}

SCHEMAS: dict[str, Any] = {
    "Metadata": {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "title": {"type": "string", "maxLength": 200},
            "description": {"type": "string", "maxLength": 5000},
            "visibility": {"enum": ["PUBLIC", "UNLISTED", "PRIVATE"], "default": "PRIVATE"},
            "extra": {
                "type": "object",
                "maxProperties": 10,
                "additionalProperties": {"type": "string", "maxLength": 255},
            },
        },
    },
    "CreateUploadRequest": {
        "type": "object",
        "additionalProperties": False,
        "required": ["fileName", "fileSize", "mimeType"],
        "properties": {
            "fileName": {"type": "string", "minLength": 1, "maxLength": 255},
            "fileSize": {"type": "integer", "minimum": 1},
            "mimeType": {"type": "string", "examples": sorted(DEFAULT_TYPES)},
            "metadata": _ref("Metadata"),
        },
    },
    "UploadInstructions": {
        "type": "object",
        "required": ["url", "method", "protocol", "headers", "expiresAt"],
        "properties": {
            "url": {"type": "string"},
            "method": {"enum": ["PUT", "POST", "PATCH"]},
            "protocol": {
                "enum": ["put", "form", "tus"],
                "description": "put: PUT the file (or Content-Range chunks); form: multipart "
                "POST with a 'file' field; tus: the tus 1.0 resumable protocol.",
            },
            "headers": {"type": "object", "additionalProperties": {"type": "string"}},
            "expiresAt": {"type": "string", "format": "date-time"},
            "chunkSize": _nullable({"type": "integer", "minimum": 1}),
        },
    },
    "CreateUploadResponse": {
        "type": "object",
        "required": ["id", "uploadUrl", "playbackId", "status", "upload"],
        "properties": {
            "id": {"type": "string"},
            "uploadUrl": {"type": "string"},
            "playbackId": _nullable({"type": "string"}),
            "status": {"const": "ready_for_upload"},
            "upload": _ref("UploadInstructions"),
        },
    },
    "Upload": {
        "type": "object",
        "required": [
            "id",
            "playbackId",
            "status",
            "progress",
            "thumbnailUrl",
            "duration",
            "fileName",
            "fileSize",
            "mimeType",
            "metadata",
            "createdAt",
            "updatedAt",
        ],
        "properties": {
            "id": {"type": "string"},
            "playbackId": _nullable({"type": "string"}),
            "status": {"enum": ["uploading", "processing", "ready", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "thumbnailUrl": _nullable({"type": "string"}),
            "duration": _nullable({"type": "number", "minimum": 0}),
            "aspectRatio": _nullable({"type": "string"}),
            "provider": {"type": "string"},
            "fileName": {"type": "string"},
            "fileSize": {"type": "integer", "minimum": 1},
            "mimeType": {"type": "string"},
            "metadata": _ref("Metadata"),
            "failureCode": _nullable(
                {
                    "enum": [
                        "cancelled",
                        "expired",
                        "provider_error",
                        "invalid_file",
                        "size_mismatch",
                        "type_mismatch",
                        "deleted",
                    ]
                }
            ),
            "failureReason": _nullable({"type": "string"}),
            "createdAt": {"type": "string", "format": "date-time"},
            "updatedAt": {"type": "string", "format": "date-time"},
            "readyAt": _nullable({"type": "string", "format": "date-time"}),
        },
    },
    "UploadPage": {
        "type": "object",
        "required": ["items", "nextCursor", "usage"],
        "properties": {
            "items": {"type": "array", "items": _ref("Upload")},
            "nextCursor": _nullable({"type": "string"}),
            "usage": _ref("Usage"),
        },
    },
    "Usage": {
        "type": "object",
        "description": "The caller's uploads that did not fail: their count and declared bytes, "
        "and the quota (null: unlimited). A create over a quota answers 403 quota-exceeded.",
        "required": ["bytes", "count", "maxBytes", "maxUploads"],
        "properties": {
            "bytes": {"type": "integer", "minimum": 0},
            "count": {"type": "integer", "minimum": 0},
            "maxBytes": _nullable({"type": "integer", "minimum": 1}),
            "maxUploads": _nullable({"type": "integer", "minimum": 1}),
        },
    },
    "Playback": {
        "type": "object",
        "required": ["url", "mimeType"],
        "properties": {
            "url": {"type": "string"},
            "mimeType": {"type": "string"},
            "thumbnailUrl": _nullable({"type": "string"}),
            "token": _nullable({"type": "string"}),
            "thumbnailToken": _nullable({"type": "string"}),
            "expiresAt": _nullable({"type": "string", "format": "date-time"}),
        },
    },
    "NormalizedWebhook": {
        "type": "object",
        "description": "The seed's webhook body. Sign it: Media-Core-Signature: "
        "t=<unix>,v1=<hex HMAC-SHA256 of '<t>.<raw body>'>.",
        "required": ["status"],
        "properties": {
            "eventId": {"type": "string", "maxLength": 200},
            "uploadId": {"type": "string"},
            "playbackId": {"type": "string"},
            "providerUploadId": {"type": "string"},
            "assetId": {"type": "string"},
            "status": {"enum": ["processing", "ready", "failed"]},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "duration": {"type": "number", "minimum": 0},
            "thumbnailUrl": {"type": "string"},
            "aspectRatio": {"type": "string"},
            "failureCode": {"type": "string"},
            "failureReason": {"type": "string"},
            "metadata": {"type": "object"},
        },
    },
    "WebhookAck": {
        "type": "object",
        "required": ["outcome", "id", "status"],
        "properties": {
            "outcome": {"enum": ["applied", "unchanged", "duplicate", "ignored", "unknown_upload"]},
            "id": _nullable({"type": "string"}),
            "status": _nullable({"enum": ["uploading", "processing", "ready", "failed"]}),
        },
    },
    "UploadPolicy": {
        "type": "object",
        "description": "What an upload must satisfy; the server checks it again on create.",
        "required": ["maxFileSize", "types", "extensions"],
        "properties": {
            "maxFileSize": {"type": "integer", "minimum": 1},
            "types": {
                "type": "object",
                "description": "Allowed MIME types, each with the file extensions it may carry.",
                "additionalProperties": {"type": "array", "items": {"type": "string"}},
            },
            "extensions": {"type": "array", "items": {"type": "string"}},
            "maxFileNameLength": {"type": "integer", "minimum": 1},
            "maxTitleLength": {"type": "integer", "minimum": 0},
            "maxDescriptionLength": {"type": "integer", "minimum": 0},
            "visibilities": {"type": "array", "items": {"enum": ["PUBLIC", "UNLISTED", "PRIVATE"]}},
        },
    },
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
    },
    "ReadinessCheck": {
        "type": "object",
        "required": ["status", "seconds"],
        "properties": {
            "status": {"enum": ["ok", "down"]},
            "seconds": {"type": "number", "minimum": 0},
            "error": {"type": "string", "description": "A problem code or exception name."},
        },
    },
    "Readiness": {
        "type": "object",
        "required": ["status", "checks"],
        "properties": {
            "status": {"const": "ready"},
            "checks": {"type": "object", "additionalProperties": _ref("ReadinessCheck")},
        },
    },
    "NotReady": {
        "allOf": [
            _ref("Problem"),
            {
                "type": "object",
                "required": ["checks"],
                "properties": {
                    "checks": {"type": "object", "additionalProperties": _ref("ReadinessCheck")}
                },
            },
        ]
    },
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
            "instance": {"type": "string"},
            "errors": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["detail"],
                    "properties": {
                        "pointer": {"type": "string"},
                        "parameter": {"type": "string"},
                        "detail": {"type": "string"},
                    },
                },
            },
        },
    },
}


def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "media-core",
            "version": VERSION,
            "description": "Direct video uploads to Mux or Cloudflare Stream, followed through "
            "signed webhooks. Errors are RFC 9457 problem+json; see /problems/{code}.",
        },
        "components": {
            "schemas": SCHEMAS,
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
                "metricsBearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "METRICS_TOKEN (only with METRICS_MODE=token).",
                },
            },
        },
        "paths": {
            "/api/v1/media/upload/direct": {
                "post": {
                    "operationId": "createDirectUpload",
                    "summary": "Ask for a direct-upload URL",
                    "security": BEARER,
                    "parameters": [IDEMPOTENCY_KEY_PARAM],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("CreateUploadRequest")}},
                    },
                    "responses": {
                        "201": _json("The upload slot.", _ref("CreateUploadResponse")),
                        "400": _problem("Malformed JSON."),
                        "401": _problem("No or invalid bearer token."),
                        "413": _problem("Body too large."),
                        "415": _problem("Not application/json."),
                        "403": _problem("The user's storage or upload quota is used up."),
                        "409": _problem(
                            "Idempotency-Key reused for a different request, or its first "
                            "request is still under way."
                        ),
                        "422": _problem(
                            "Invalid field (type, size, MIME type, metadata) or Idempotency-Key."
                        ),
                        "429": _problem("Rate limited; see Retry-After."),
                        "502": _problem("The provider refused."),
                        "503": _problem("Provider or storage unavailable."),
                    },
                }
            },
            "/api/v1/media/webhook/{name}": {
                "post": {
                    "operationId": "receiveWebhook",
                    "summary": "A provider's signed webhook",
                    "description": "upload-complete: the normalized body (Media-Core-Signature); "
                    "mux: Mux events (Mux-Signature); cloudflare: Stream (Webhook-Signature).",
                    "parameters": [
                        {
                            "name": "name",
                            "in": "path",
                            "required": True,
                            "schema": {"enum": ["upload-complete", "mux", "cloudflare"]},
                        }
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {"application/json": {"schema": _ref("NormalizedWebhook")}},
                    },
                    "responses": {
                        "200": _json("Applied, or a duplicate acknowledged.", _ref("WebhookAck")),
                        "400": _problem("Stale timestamp or malformed body."),
                        "401": _problem("Missing or wrong signature."),
                        "404": _problem("No such webhook route configured."),
                        "413": _problem("Body too large."),
                        "429": _problem("Too many deliveries from this address; see Retry-After."),
                        "503": _problem("Storage unavailable; the provider retries."),
                    },
                }
            },
            "/api/v1/media/status/{id}": {
                "get": {
                    "operationId": "getStatus",
                    "summary": "An upload's status (by id or playback id)",
                    "security": BEARER,
                    "parameters": [ID_PARAM],
                    "responses": {"200": _json("The upload.", _ref("Upload")), **USER_ERRORS},
                }
            },
            "/api/v1/media": {
                "get": {
                    "operationId": "listUploads",
                    "summary": "The caller's uploads, newest first",
                    "security": BEARER,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {"type": "integer", "minimum": 1, "maximum": 100},
                        },
                        {"name": "cursor", "in": "query", "schema": {"type": "string"}},
                    ],
                    "responses": {
                        "200": _json("A page.", _ref("UploadPage")),
                        "401": _problem("No or invalid bearer token."),
                        "422": _problem("Bad limit or cursor."),
                        "503": _problem("Storage unavailable."),
                    },
                }
            },
            "/api/v1/media/{id}/cancel": {
                "post": {
                    "operationId": "cancelUpload",
                    "summary": "Cancel an unfinished upload",
                    "security": BEARER,
                    "parameters": [ID_PARAM],
                    "responses": {
                        "200": _json("The cancelled upload.", _ref("Upload")),
                        "409": _problem("Already finished."),
                        **USER_ERRORS,
                    },
                }
            },
            "/api/v1/media/{id}": {
                "delete": {
                    "operationId": "deleteUpload",
                    "summary": "Delete an upload here and at the provider",
                    "security": BEARER,
                    "parameters": [ID_PARAM],
                    "responses": {"204": {"description": "Deleted."}, **USER_ERRORS},
                }
            },
            "/api/v1/media/{id}/playback": {
                "get": {
                    "operationId": "getPlayback",
                    "summary": "Playback URLs, signed for PRIVATE videos",
                    "security": BEARER,
                    "parameters": [ID_PARAM],
                    "responses": {
                        "200": _json("How to play it.", _ref("Playback")),
                        "409": _problem("Not ready yet."),
                        **USER_ERRORS,
                    },
                }
            },
            "/api/v1/media/policy": {
                "get": {
                    "operationId": "getUploadPolicy",
                    "summary": "Allowed types, extensions and limits, for checks before upload",
                    "security": [],
                    "responses": {"200": _json("The upload policy.", _ref("UploadPolicy"))},
                }
            },
            "/api/v1/media/events": {
                "get": {
                    "operationId": "streamEvents",
                    "summary": "Live changes of the caller's uploads (server-sent events)",
                    "description": "A text/event-stream: 'open' once, then an 'upload' event "
                    "per change, data {event: 'upload.ready', upload: <Upload>}; comment lines "
                    "as heartbeats; 'resync' (then the stream ends) when the client fell behind "
                    "and should re-read the list. Authenticate with the Authorization header "
                    "(read it with fetch(); EventSource cannot send headers).",
                    "security": BEARER,
                    "responses": {
                        "200": {
                            "description": "The event stream.",
                            "content": {"text/event-stream": {"schema": {"type": "string"}}},
                        },
                        "401": _problem("No or invalid bearer token."),
                        "404": _problem("Live status needs the in-process publisher."),
                    },
                }
            },
            "/": {
                "get": {
                    "operationId": "webPage",
                    "summary": "The web page (upload, status, player); absent with "
                    "create_app(include_web=False)",
                    "tags": ["web"],
                    "security": [],
                    "responses": {
                        "200": {
                            "description": "HTML.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
            "/static/media-core/{name}": {
                "get": {
                    "operationId": "webAsset",
                    "summary": "The web page's scripts and styles",
                    "tags": ["web"],
                    "security": [],
                    "parameters": [_name_param()],
                    "responses": {
                        "200": {"description": "The file."},
                        "404": _problem("No such file."),
                    },
                }
            },
            "/static/media-core/vendor/{name}": {
                "get": {
                    "operationId": "webLibrary",
                    "summary": "A client library (tus-js-client, @mux/upchunk, hls.js) served "
                    "from node_modules",
                    "tags": ["web"],
                    "security": [],
                    "parameters": [_name_param()],
                    "responses": {
                        "200": {"description": "The file."},
                        "404": _problem("Not installed: run npm ci --omit=dev."),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {"200": _json("Alive.", _ref("Health"))},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readiness",
                    "summary": "Ready to serve: the database answers, Redis too when configured, "
                    "and any other registered check (provider circuit) passes",
                    "responses": {
                        "200": _json("Ready, with each check.", _ref("Readiness")),
                        "503": {
                            "description": "A check failed; the body names it.",
                            "content": {"application/problem+json": {"schema": _ref("NotReady")}},
                        },
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "metrics",
                    "summary": "Prometheus metrics (text exposition format); mounted unless "
                    "METRICS_MODE=off, and with METRICS_MODE=token it needs the metrics token",
                    "security": [{"metricsBearer": []}],
                    "responses": {
                        "200": {
                            "description": "The metrics.",
                            "content": {"text/plain": {"schema": {"type": "string"}}},
                        },
                        "401": _problem("METRICS_MODE=token and no or a wrong token."),
                        "404": _problem("METRICS_MODE=off: not served."),
                    },
                }
            },
            "/api/v1/openapi.json": {
                "get": {
                    "operationId": "openapi",
                    "summary": "This document",
                    "responses": {"200": _json("OpenAPI 3.1.", {"type": "object"})},
                }
            },
        },
    }


async def openapi_json(_: web.Request) -> web.Response:
    """``GET /api/v1/openapi.json``."""
    return web.json_response(document())


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
