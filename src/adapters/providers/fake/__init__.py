"""The fake provider: local uploads and signed webhooks, for the embedded default and tests."""

from adapters.providers.fake.provider import (
    ASSET_PATH,
    UPLOAD_PATH,
    FakeVideoProvider,
    RangeMismatch,
    Received,
    UploadSlot,
    WebhookSender,
)

__all__ = [
    "ASSET_PATH",
    "UPLOAD_PATH",
    "FakeVideoProvider",
    "RangeMismatch",
    "Received",
    "UploadSlot",
    "WebhookSender",
]
