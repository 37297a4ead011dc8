"""The real clock and id generator."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

_CROCKFORD = "0123456789abcdefghjkmnpqrstvwxyz"


class SystemClock:
    """The system's wall clock, in aware UTC."""

    def now(self) -> datetime:
        """The current time."""
        return datetime.now(UTC)


class UlidGenerator:
    """ULID-style ids: 48 bits of milliseconds then 80 random bits, 26 lower-case base32 characters.

    Time-ordered ids keep B-tree inserts local and make ids sort roughly by creation.
    """

    def new_id(self) -> str:
        """A fresh id, such as ``01jd3k5m2q8x7c0v9b4n6r1t2e``."""
        value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
        chars = []
        for _ in range(26):
            chars.append(_CROCKFORD[value & 31])
            value >>= 5
        return "".join(reversed(chars))
