"""Playback ids and PRIVATE playback tokens for the providers whose platform is this machine."""

from __future__ import annotations

import hashlib
import hmac

import attrs

from media_core.ports import Clock
from media_core.strict import ascii_int


@attrs.frozen
class PlaybackSigner:
    """Derives playback ids from upload ids and signs expiring tokens, both with one secret."""

    secret: bytes
    prefix: str
    """Marks whose playback id it is (``fpb`` for the fake, ``lpb`` for the local provider)."""
    clock: Clock

    def playback_id(self, upload_id: str) -> str:
        """The playback id of ``upload_id``: stable, and not guessable without the secret."""
        digest = hmac.new(self.secret, f"playback:{upload_id}".encode(), hashlib.sha256)
        return self.prefix + digest.hexdigest()[:29]

    def token(self, playback_id: str, expires_at: int) -> str:
        """A token that lets its bearer fetch ``playback_id`` until ``expires_at``."""
        digest = hmac.new(self.secret, f"play:{playback_id}:{expires_at}".encode(), "sha256")
        return f"{expires_at}.{digest.hexdigest()}"

    def token_ok(self, playback_id: str, token: str | None) -> bool:
        """Whether ``token`` was signed for ``playback_id`` and has not expired."""
        if not token or "." not in token:
            return False
        expires = ascii_int(token.split(".", 1)[0], max_digits=12)
        if expires is None or expires < self.clock.now().timestamp():
            return False
        return hmac.compare_digest(token, self.token(playback_id, expires))
