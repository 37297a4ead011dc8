"""HMAC-SHA256 over ``"<timestamp>.<raw body>"``: the scheme Mux, Cloudflare and we all use.

Only the header layout differs (``t=…,v1=…`` for Mux and ours, ``time=…,sig1=…`` for
Cloudflare), so one :class:`SignatureScheme` serves all three, parametrized by its key names.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from datetime import datetime

from attrs import frozen

from media_core.errors import InvalidSignature, StaleWebhook
from media_core.strict import ascii_int

MAX_HEADER_LENGTH = 4096


def hmac_sha256_hex(secret: str | bytes, timestamp: int, body: bytes) -> str:
    """The hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    key = secret.encode() if isinstance(secret, str) else secret
    # Not hmac.digest: it releases the GIL, and the loop then waits out a SQLite writer step.
    return hmac.new(key, b"%d." % timestamp + body, hashlib.sha256).hexdigest()


@frozen
class SignatureScheme:
    """A ``<ts_key>=<unix>,<sig_key>=<hex>[,<sig_key>=<hex>…]`` header signed with HMAC-SHA256."""

    header: str
    timestamp_key: str
    signature_key: str

    def sign(self, secret: str | bytes, timestamp: int, body: bytes) -> str:
        """The header value a sender puts on ``body`` at ``timestamp``."""
        signature = hmac_sha256_hex(secret, timestamp, body)
        return f"{self.timestamp_key}={timestamp},{self.signature_key}={signature}"

    def parse(self, value: str) -> tuple[int, list[str]]:
        """The timestamp and candidate signatures of a header value; ``InvalidSignature`` if bad."""
        if len(value) > MAX_HEADER_LENGTH:
            raise InvalidSignature(f"{self.header} header is too long")
        timestamp: int | None = None
        signatures: list[str] = []
        for part in value.split(","):
            key, sep, item = part.strip().partition("=")
            if not sep:
                raise InvalidSignature(f"{self.header} header is malformed")
            if key == self.timestamp_key:
                parsed = ascii_int(item, max_digits=12)
                if parsed is None:
                    raise InvalidSignature(f"{self.header} timestamp is not a Unix time")
                timestamp = parsed
            elif key == self.signature_key:
                signatures.append(item.lower())
        if timestamp is None or not signatures:
            raise InvalidSignature(
                f"{self.header} header needs {self.timestamp_key}= and {self.signature_key}="
            )
        return timestamp, signatures

    def verify(
        self,
        headers: Mapping[str, str],
        body: bytes,
        now: datetime,
        *,
        secrets: Sequence[str | bytes],
        tolerance_seconds: float,
    ) -> int:
        """Check the signature on the raw ``body`` against any of ``secrets``, then its age.

        Returns the signed timestamp. Raises ``InvalidSignature`` (missing, malformed, no match)
        or ``StaleWebhook`` (authentic, but older or newer than the tolerance allows).
        """
        value = headers.get(self.header)
        if value is None:  # a plain mapping, or another spelling: look for it case-blind
            value = _header(headers, self.header)
        if value is None:
            raise InvalidSignature(f"the {self.header} header is missing")
        timestamp, candidates = self.parse(value)
        expected = [hmac_sha256_hex(secret, timestamp, body) for secret in secrets]
        # Compare every pair, so the time taken does not depend on which one matched.
        matched = False
        for want in expected:
            for got in candidates:
                matched |= hmac.compare_digest(want.encode(), got.encode())
        if not matched:
            raise InvalidSignature(f"the {self.header} signature does not match")
        age = now.timestamp() - timestamp
        if abs(age) > tolerance_seconds:
            raise StaleWebhook(
                f"signed {age:.0f}s ago; the tolerance is {tolerance_seconds:.0f}s either way"
            )
        return timestamp


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, item in headers.items():
        if key.lower() == lowered:
            return item
    return None
