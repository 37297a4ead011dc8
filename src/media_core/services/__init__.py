"""The use cases, over the ports: request an upload, take a webhook, read, list, cancel, delete.

:class:`MediaService` is the one entry point; its use cases live by responsibility in private
modules: ``_creating`` (request an upload), ``_events`` (apply a provider's event),
``_managing`` (read and manage existing uploads), over ``_base`` (the service's fields and its
read → change → write). What a create takes and returns (``RequestUpload``, ``UploadSlot``,
``Quota``) lives in :mod:`media_core.creation` and is re-exported here.
"""

from __future__ import annotations

from attrs import define

from media_core.creation import (
    IDEMPOTENCY_KEY_PATTERN,
    Quota,
    RequestUpload,
    UploadSlot,
    check_idempotency_key,
    request_fingerprint,
)
from media_core.services._creating import CreatingUploads
from media_core.services._events import ApplyingProviderEvents, WebhookOutcome
from media_core.services._managing import ManagingUploads

__all__ = [
    "IDEMPOTENCY_KEY_PATTERN",
    "MediaService",
    "Quota",
    "RequestUpload",
    "UploadSlot",
    "WebhookOutcome",
    "check_idempotency_key",
    "request_fingerprint",
]


@define
class MediaService(CreatingUploads, ApplyingProviderEvents, ManagingUploads):
    """The use cases of media-core, wired to its providers and one repository.

    Every operation on an existing upload goes to the provider that created it
    (:meth:`ProviderSet.holding`); ``selector`` chooses the provider of each new one.
    """
