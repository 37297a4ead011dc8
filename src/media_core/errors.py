"""The one error hierarchy of media-core.

Business outcomes are states and events (a provider that rejects a video makes the upload FAILED);
these exceptions are for broken preconditions, bad input and unavailable collaborators. Every class
carries a stable ``code`` that the HTTP layer turns into a problem+json ``type``::

    MediaCoreError
    ├── InvalidInput                      a client sent a value we refuse (field names it)
    │   ├── UnsupportedMediaType          MIME type or extension not allowed, or the two disagree
    │   ├── FileTooLarge                  declared size over the limit
    │   ├── InvalidFileSize               declared size zero or negative
    │   ├── InvalidFileName               a control character (NUL...) or an inner .exe, .html...
    │   ├── MetadataTooLong               title or description over its length limit
    │   └── UploadMismatch                the bytes sent differ from the declared size or type
    ├── NotAuthenticated                  no or bad credentials
    ├── UploadNotFound                    not this owner's (someone else's looks the same)
    ├── Conflict
    │   ├── NotCancellable                the upload already finished
    │   ├── IdempotencyKeyReused          same key, different request
    │   ├── VersionConflict               optimistic concurrency lost a race
    │   └── DuplicateDelivery             this webhook delivery was applied already
    ├── QuotaExceeded                     per-user storage or count quota
    ├── RateLimited                       too many requests; retry_after says when to come back
    ├── WebhookRejected
    │   ├── InvalidSignature              missing, malformed or wrong signature
    │   ├── StaleWebhook                  timestamp outside the tolerance window
    │   └── MalformedWebhook              signed, but the body is not what the provider sends
    ├── ProviderError
    │   ├── ProviderUnavailable           timeout, 5xx, 429, circuit open: try again later
    │   ├── ProviderRejected              the provider refused the request (4xx)
    │   └── ProviderNotConfigured         the upload's provider is not configured (any more)
    └── RepositoryUnavailable             the database cannot be reached
"""

from __future__ import annotations


class MediaCoreError(Exception):
    """Base of every error media-core raises on purpose."""

    code: str = "media-core-error"
    title: str = "Media core error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidInput(MediaCoreError):
    """A client sent a value we refuse; ``field`` says where: a JSON pointer into the body
    (``/metadata/title``), ``?name`` for a query parameter, or a header's name (``Content-Range``).
    """

    code = "invalid-input"
    title = "Invalid input"

    def __init__(self, detail: str, *, field: str | None = None) -> None:
        super().__init__(detail)
        self.field = field


class UnsupportedMediaType(InvalidInput):
    """The MIME type or file extension is not on the allowlist, or they disagree."""

    code = "unsupported-media-type"
    title = "Unsupported media type"


class FileTooLarge(InvalidInput):
    """The declared file size is over the configured limit."""

    code = "file-too-large"
    title = "File too large"


class InvalidFileSize(InvalidInput):
    """The declared file size is zero or negative."""

    code = "invalid-file-size"
    title = "Invalid file size"


class InvalidFileName(InvalidInput):
    """The file name holds a control character (NUL included) or an inner extension of an
    executable or markup type (``clip.exe.mp4``, ``x.html.mp4``)."""

    code = "invalid-file-name"
    title = "Invalid file name"


class MetadataTooLong(InvalidInput):
    """A metadata field is longer than its limit."""

    code = "metadata-too-long"
    title = "Metadata too long"


class UploadMismatch(InvalidInput):
    """The bytes sent to an upload URL differ from the declared size or type; the upload failed."""

    code = "upload-mismatch"
    title = "Upload does not match its declaration"


class NotAuthenticated(MediaCoreError):
    """The request carries no credentials, or credentials we cannot verify."""

    code = "not-authenticated"
    title = "Not authenticated"


class UploadNotFound(MediaCoreError):
    """No upload with this id or playback id belongs to the caller."""

    code = "upload-not-found"
    title = "Upload not found"


class Conflict(MediaCoreError):
    """The request conflicts with the current state of a resource."""

    code = "conflict"
    title = "Conflict"


class NotCancellable(Conflict):
    """The upload has already reached a final state."""

    code = "not-cancellable"
    title = "Upload cannot be cancelled"


class IdempotencyKeyReused(Conflict):
    """An Idempotency-Key was reused with a different request body."""

    code = "idempotency-key-reused"
    title = "Idempotency key reused"


class VersionConflict(Conflict):
    """Another writer changed the record since it was read."""

    code = "version-conflict"
    title = "Concurrent update"


class DuplicateDelivery(Conflict):
    """This webhook delivery was applied before."""

    code = "duplicate-delivery"
    title = "Duplicate delivery"


class QuotaExceeded(MediaCoreError):
    """The owner's storage or upload-count quota is used up."""

    code = "quota-exceeded"
    title = "Quota exceeded"


class RateLimited(MediaCoreError):
    """Too many requests; ``retry_after`` is in seconds."""

    code = "rate-limited"
    title = "Too many requests"

    def __init__(
        self,
        detail: str,
        *,
        retry_after: float,
        limit: int,
        remaining: int = 0,
        reset_after: float = 0.0,
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.limit = limit
        self.remaining = remaining
        self.reset_after = reset_after


class WebhookRejected(MediaCoreError):
    """A webhook delivery we will not apply."""

    code = "webhook-rejected"
    title = "Webhook rejected"


class InvalidSignature(WebhookRejected):
    """The signature header is missing, malformed or does not match."""

    code = "invalid-signature"
    title = "Invalid webhook signature"


class StaleWebhook(WebhookRejected):
    """The signed timestamp is outside the tolerance window."""

    code = "stale-webhook"
    title = "Webhook timestamp outside tolerance"


class MalformedWebhook(WebhookRejected):
    """The signature is valid but the body is not a delivery we understand."""

    code = "malformed-webhook"
    title = "Malformed webhook body"


class ProviderError(MediaCoreError):
    """The video provider could not do what we asked."""

    code = "provider-error"
    title = "Video provider error"


class ProviderUnavailable(ProviderError):
    """The provider timed out, failed or throttled us; the request may be retried later."""

    code = "provider-unavailable"
    title = "Video provider unavailable"

    def __init__(
        self, detail: str, *, retry_after: float | None = None, nothing_done: bool = False
    ) -> None:
        super().__init__(detail)
        self.retry_after = retry_after
        self.nothing_done = nothing_done
        """True when the request left nothing at the provider (it was never sent or reached
        the provider, or was answered 5xx or 429, or the circuit is open): it may go to
        another provider without leaving an orphan behind."""


class ProviderRejected(ProviderError):
    """The provider refused the request as invalid (a 4xx other than 429)."""

    code = "provider-rejected"
    title = "Video provider rejected the request"


class ProviderNotConfigured(ProviderError):
    """The upload belongs to a provider this service is not configured with (any more): it
    stays readable, but nothing can be sent to its provider; ``provider`` names it."""

    code = "provider-not-configured"
    title = "Video provider not configured"

    def __init__(self, detail: str, *, provider: str) -> None:
        super().__init__(detail)
        self.provider = provider


class RepositoryUnavailable(MediaCoreError):
    """The store of uploads cannot be reached; nothing was written."""

    code = "repository-unavailable"
    title = "Storage unavailable"
