"""Sign a delivery as each sender signs it: Mux, Cloudflare, or the normalized route's sender.

For tools that play a provider (``media-core webhooks send``): the same schemes the verifiers
check, so a signature made here is one the service accepts, and one made wrong is refused.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.providers.cloudflare._webhooks import SCHEME as CLOUDFLARE_SIGNATURE
from adapters.providers.mux import MUX_SIGNATURE
from adapters.webhooks.normalized import sign_normalized

WEBHOOK_ROUTES: Mapping[str, str] = {
    "mux": "mux",
    "cloudflare": "cloudflare",
    "normalized": "upload-complete",
}
"""The last path segment of each sender's webhook route (``/api/v1/media/webhook/<segment>``)."""


def sign_webhook(sender: str, secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers ``sender`` (a key of :data:`WEBHOOK_ROUTES`) puts on ``body``."""
    if sender == "normalized":
        return sign_normalized(secret, timestamp, body)
    scheme = {"mux": MUX_SIGNATURE, "cloudflare": CLOUDFLARE_SIGNATURE}[sender]
    return {scheme.header: scheme.sign(secret, timestamp, body), "Content-Type": "application/json"}
