"""What a create asks for and what it gets back: the request, the slot, the quota, and the
rules of ``Idempotency-Key`` (used by :meth:`media_core.services.MediaService.request_upload`)."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping

import attrs
from attrs import frozen

from media_core.errors import InvalidInput, QuotaExceeded
from media_core.model import MediaUpload, Visibility
from media_core.ports import DirectUploadTicket, RateDecision, Usage
from media_core.providers import Failover

IDEMPOTENCY_KEY_PATTERN = re.compile(r"[A-Za-z0-9._:~+/=-]{1,255}")
"""What an ``Idempotency-Key`` may be: UUIDs, ULIDs, base64 and the like, up to 255 characters."""


def check_idempotency_key(key: str) -> None:
    """Raise ``InvalidInput`` unless ``key`` matches :data:`IDEMPOTENCY_KEY_PATTERN`."""
    if not IDEMPOTENCY_KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            "Idempotency-Key must be 1 to 255 characters among letters, digits and ._:~+/=-",
            field="Idempotency-Key",
        )


@frozen
class RequestUpload:
    """A user's request for an upload slot, as the client sent it (before sanitizing)."""

    file_name: str
    file_size: int
    mime_type: str
    title: str = ""
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    extra: Mapping[str, str] = attrs.field(factory=dict)


@frozen
class UploadSlot:
    """A new upload and where to send its bytes."""

    upload: MediaUpload
    ticket: DirectUploadTicket
    rate: RateDecision | None
    """The rate limiter's decision; ``None`` for a replayed idempotent request (nothing spent)."""
    replayed: bool = False
    """True when an ``Idempotency-Key`` matched an earlier request, whose slot this is."""
    failover: Failover | None = None
    """Set when the upload went to another provider than the one its selector preferred."""


@frozen
class Quota:
    """Per-owner limits on what uploads that did not fail may add up to; 0 means unlimited.

    Checked on each create against :meth:`MediaRepository.usage_for_owner`. Two creates racing
    for the last unit can both pass: the quota is a business limit, not a hard invariant.
    """

    max_bytes: int = 0
    max_uploads: int = 0

    @property
    def unlimited(self) -> bool:
        """True when neither limit is set."""
        return self.max_bytes <= 0 and self.max_uploads <= 0

    def check(self, usage: Usage, file_size: int) -> None:
        """Raise ``QuotaExceeded`` if one more upload of ``file_size`` bytes is over a limit."""
        if self.max_uploads > 0 and usage.count + 1 > self.max_uploads:
            raise QuotaExceeded(
                f"upload quota reached: {usage.count} of {self.max_uploads} uploads in use"
            )
        if self.max_bytes > 0 and usage.bytes + file_size > self.max_bytes:
            raise QuotaExceeded(
                f"storage quota exceeded: {usage.bytes} of {self.max_bytes} bytes in use, "
                f"{file_size} more requested"
            )


def request_fingerprint(command: RequestUpload) -> str:
    """A digest of what a create request asks for, to tell a retry from a different request."""
    canonical = json.dumps(
        [
            command.file_name,
            command.file_size,
            command.mime_type,
            command.title,
            command.description,
            command.visibility.value,
            sorted(command.extra.items()),
        ],
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()
