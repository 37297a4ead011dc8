"""Delivers signed webhooks over HTTP, as a provider would: the fake's and the local provider's
way back to the service."""

from __future__ import annotations

from collections.abc import Callable, Mapping

import httpx

from adapters.providers._http import HttpPolicy, RetrySettings


class HttpWebhookSender:
    """POSTs signed webhooks to the service's own webhook route, as a provider would."""

    def __init__(
        self,
        client: httpx.AsyncClient,
        url: str,
        on_attempt: Callable[[str, str, float], None] | None = None,
        provider: str = "fake",
    ) -> None:
        self._client = client
        self._url = url
        self._on_attempt = on_attempt
        self._provider = provider

    async def __call__(self, body: bytes, headers: Mapping[str, str]) -> None:
        """Deliver one webhook; retries a few times, like providers do."""
        policy = HttpPolicy(
            provider=self._provider,
            settings=RetrySettings(attempts=5, timeout=10.0),
            on_attempt=self._on_attempt,
        )
        await policy.send(self._client, "webhook", "POST", self._url, content=body, headers=headers)
