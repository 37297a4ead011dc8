"""Mux Video: the video provider adapter and its webhook verifier."""

from adapters.providers.mux._provider import (
    CHUNK_QUANTUM,
    DEFAULT_CHUNK_SIZE,
    MuxVideoProvider,
    stored_playback,
)
from adapters.providers.mux._webhooks import (
    MUX_SIGNATURE,
    MUX_SIGNATURE_HEADER,
    MuxWebhookVerifier,
)

__all__ = [
    "CHUNK_QUANTUM",
    "DEFAULT_CHUNK_SIZE",
    "MUX_SIGNATURE",
    "MUX_SIGNATURE_HEADER",
    "MuxVideoProvider",
    "MuxWebhookVerifier",
    "stored_playback",
]
