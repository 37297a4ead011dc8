"""Signed webhooks from the local provider (and its workers) to the service's normalized route."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from adapters.webhooks.normalized import sign_normalized
from media_core.ports import Clock

log = logging.getLogger("adapters.providers.local")

WebhookSender = Callable[[bytes, Mapping[str, str]], Awaitable[None]]
"""Sends one signed webhook (raw body, headers) to the service."""


class Notifier:
    """Signs each body when it is sent (so retries elsewhere carry a fresh timestamp) and sends it.

    A delivery that fails for good is logged, not raised: like a cloud provider's, the job goes
    on and the reconciler reads the job's state later (``LocalVideoProvider.fetch_events``).
    """

    def __init__(self, *, sender: WebhookSender, secret: str, clock: Clock) -> None:
        self._sender = sender
        self._secret = secret
        self._clock = clock

    async def send(self, body: Mapping[str, Any]) -> bool:
        """Deliver ``body``; False if it could not be delivered."""
        raw = json.dumps(body, separators=(",", ":")).encode()
        headers = sign_normalized(self._secret, int(self._clock.now().timestamp()), raw)
        try:
            await self._sender(raw, headers)
        except Exception:
            log.exception("local provider: webhook delivery failed (%s)", body.get("eventId"))
            return False
        return True
