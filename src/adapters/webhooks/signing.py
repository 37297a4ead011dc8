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
        """The timestamp and candidate signatures of a header value; ``InvalidSignature`` if bad.

        The value is one list (several headers arrive joined by commas, see :meth:`verify`):
        every timestamp item must name the same time, and there may be any number of
        signatures. Nothing depends on the order of the items.
        """
        if len(value) > MAX_HEADER_LENGTH:
            raise InvalidSignature(f"{self.header} header is too long")
        if not value.isascii():
            raise InvalidSignature(f"{self.header} header is not ASCII")
        timestamp: int | None = None
        signatures: list[str] = []
        for raw_part in value.split(","):
            part = raw_part.strip()
            if not part:  # an empty list element, which RFC 9110 says to ignore
                continue
            key, sep, item = part.partition("=")
            if not sep:
                raise InvalidSignature(f"{self.header} header is malformed")
            if key == self.timestamp_key:
                parsed = ascii_int(item, max_digits=12)
                if parsed is None:
                    raise InvalidSignature(f"{self.header} timestamp is not a Unix time")
                if timestamp is not None and parsed != timestamp:
                    raise InvalidSignature(f"{self.header} carries more than one timestamp")
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

        Repeated headers: every header of this name counts, joined as one comma-separated list
        (as RFC 9110 joins a list-valued field), so two headers and their comma-joined form get
        the same verdict in any order. The delivery is authentic if any signature in the list
        matches any secret, and all timestamps in the list must be the same.

        Returns the signed timestamp. Raises ``InvalidSignature`` (missing, malformed, no match)
        or ``StaleWebhook`` (authentic, but older or newer than the tolerance allows).
        """
        values = header_values(headers, self.header)
        if not values:
            raise InvalidSignature(f"the {self.header} header is missing")
        timestamp, candidates = self.parse(values[0] if len(values) == 1 else ",".join(values))
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


def header_values(headers: Mapping[str, str], name: str) -> list[str]:
    """Every value of the header ``name``, in arrival order, whatever its spelling.

    aiohttp's headers are a case-blind multidict (``getall``); any other mapping is searched
    case-blind, every pair of a multidict's ``items()`` included.
    """
    getall = getattr(headers, "getall", None)
    if getall is not None:
        found: list[str] = getall(name, [])
        if found:
            return list(found)
    lowered = name.lower()
    return [item for key, item in headers.items() if key.lower() == lowered]
