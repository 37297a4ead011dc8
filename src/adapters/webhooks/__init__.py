"""Webhook signature schemes and the verifier of the seed's normalized webhook body."""

from adapters.webhooks.normalized import (
    NORMALIZED_SIGNATURE_HEADER,
    NormalizedWebhookVerifier,
    sign_normalized,
)
from adapters.webhooks.signing import SignatureScheme, hmac_sha256_hex

__all__ = [
    "NORMALIZED_SIGNATURE_HEADER",
    "NormalizedWebhookVerifier",
    "SignatureScheme",
    "hmac_sha256_hex",
    "sign_normalized",
]
