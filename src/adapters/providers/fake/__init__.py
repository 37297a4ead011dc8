"""The fake provider: local uploads and signed webhooks, for tests and a quick demo."""

from adapters.providers.fake.provider import (
    ASSET_PATH,
    TUS_PATH,
    UPLOAD_PATH,
    FakeVideoProvider,
    WebhookSender,
)

__all__ = [
    "ASSET_PATH",
    "TUS_PATH",
    "UPLOAD_PATH",
    "FakeVideoProvider",
    "WebhookSender",
]
