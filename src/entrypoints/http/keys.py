"""Typed keys of what the application object holds."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from attrs import frozen

from entrypoints.http.auth import Authenticator
from media_core.ports import WebhookVerifier
from media_core.services import MediaService


@frozen
class Limits:
    """Request size limits in force."""

    max_body_bytes: int
    max_webhook_body_bytes: int


CONTAINER: web.AppKey[Any] = web.AppKey("container")
SERVICE = web.AppKey("service", MediaService)
AUTHENTICATOR = web.AppKey("authenticator", Authenticator)
VERIFIERS = web.AppKey("verifiers", dict[str, WebhookVerifier])
LIMITS = web.AppKey("limits", Limits)
