"""Direct-upload intake shared by the providers whose platform is this machine (fake, local)."""

from adapters.providers.intake._playback import PlaybackSigner
from adapters.providers.intake._store import (
    CHUNK_SIZE,
    RangeMismatch,
    Received,
    UploadIntake,
    UploadSlot,
)
from adapters.providers.intake.http import intake_routes

__all__ = [
    "CHUNK_SIZE",
    "PlaybackSigner",
    "RangeMismatch",
    "Received",
    "UploadIntake",
    "UploadSlot",
    "intake_routes",
]
