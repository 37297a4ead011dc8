"""Cloudflare Stream: the video provider adapter and its webhook verifier."""

from adapters.providers.cloudflare._provider import (
    DEFAULT_BASIC_UPLOAD_LIMIT,
    DEFAULT_TUS_CHUNK,
    CloudflareStreamVideoProvider,
    stored_playback,
)
from adapters.providers.cloudflare._video import UPLOAD_ID_META_KEY
from adapters.providers.cloudflare._webhooks import (
    CLOUDFLARE_SIGNATURE_HEADER,
    CloudflareWebhookVerifier,
)

__all__ = [
    "CLOUDFLARE_SIGNATURE_HEADER",
    "DEFAULT_BASIC_UPLOAD_LIMIT",
    "DEFAULT_TUS_CHUNK",
    "UPLOAD_ID_META_KEY",
    "CloudflareStreamVideoProvider",
    "CloudflareWebhookVerifier",
    "stored_playback",
]
