"""``GET /api/v1/media/policy``: what an upload must satisfy, for clients to check before sending.

The page checks a file's type and size against this before it asks for an upload slot, so its
messages and the server's limits come from one place (``container.policy()``). The server checks
again on create: a client check is a courtesy, never the guard.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from entrypoints.http.keys import CONTAINER
from entrypoints.http.pipeline import ObservedRoutes
from media_core.model import Visibility
from media_core.policy import UploadPolicy


def policy_json(policy: UploadPolicy) -> dict[str, Any]:
    """The policy as the route returns it."""
    types = {mime: sorted(extensions) for mime, extensions in sorted(policy.allowed_types.items())}
    return {
        "maxFileSize": policy.max_file_size,
        "types": types,
        "extensions": sorted({ext for extensions in types.values() for ext in extensions}),
        "maxFileNameLength": policy.max_file_name_length,
        "maxTitleLength": policy.max_title_length,
        "maxDescriptionLength": policy.max_description_length,
        "visibilities": [visibility.value for visibility in Visibility],
    }


async def get_policy(request: web.Request) -> web.Response:
    """``GET /api/v1/media/policy``: allowed types, extensions and limits (no secrets, no auth)."""
    policy: UploadPolicy = request.app[CONTAINER].policy()
    return web.json_response(policy_json(policy), headers={"Cache-Control": "max-age=300"})


def add_policy_route(app: web.Application) -> None:
    """Mount ``GET /api/v1/media/policy``."""
    routes = ObservedRoutes(app)
    routes.add_get("/api/v1/media/policy", get_policy)
