"""The OpenAPI 3.1 document of every route, and the problem-type pages it links to.

Tests validate real responses against these schemas, so the document cannot drift from the code.
"""

from __future__ import annotations

import html
from typing import Any

from aiohttp import web

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


ID_PARAM = {
    "name": "id",
    "in": "path",
    "required": True,
    "description": "Our upload id, or its playback id.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
}
BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
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
        "required": ["items", "nextCursor"],
        "properties": {
            "items": {"type": "array", "items": _ref("Upload")},
            "nextCursor": _nullable({"type": "string"}),
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
    "Health": {
        "type": "object",
        "required": ["status"],
        "properties": {"status": {"type": "string"}},
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
                "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
            },
        },
        "paths": {
            "/api/v1/media/upload/direct": {
                "post": {
                    "operationId": "createDirectUpload",
                    "summary": "Ask for a direct-upload URL",
                    "security": BEARER,
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
                        "422": _problem("Invalid field: type, size, MIME type, metadata."),
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
            "/healthz": {
                "get": {
                    "operationId": "health",
                    "summary": "The process is alive",
                    "responses": {"200": _json("Alive.", _ref("Health"))},
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
    app.router.add_get("/api/v1/openapi.json", openapi_json)
    app.router.add_get("/problems/{code}", problem_page)
