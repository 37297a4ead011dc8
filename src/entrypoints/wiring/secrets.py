"""Which secrets the service holds: those in force, those to redact, the development ones,
and how the CLI signs a webhook as a sender does."""

from __future__ import annotations

from pathlib import Path

from adapters.local_secrets import local_secrets, local_secrets_path
from adapters.webhooks.senders import WEBHOOK_ROUTES, sign_webhook
from entrypoints.settings import Settings


def jwt_secret_for(settings: Settings) -> str | None:
    """The HS256 secret in force: configured, or the local one with the fake provider."""
    if settings.jwt_secret or settings.jwt_public_key:
        return settings.jwt_secret
    return local_secrets(settings.data_dir).jwt_secret


def webhook_secrets_for(settings: Settings) -> tuple[str, ...]:
    """Secrets of the normalized webhook route: configured, or the local one for the fake."""
    if settings.webhook_secrets:
        return settings.webhook_secrets
    if settings.hosts_media:
        return (local_secrets(settings.data_dir).webhook_secret,)
    return ()


def secrets_to_redact(settings: Settings) -> tuple[str, ...]:
    """Every secret value the service holds, so the log filter can hide it wherever it appears."""
    values: list[str | None] = [
        settings.jwt_secret,
        settings.metrics_token,
        settings.sentry_dsn,
        *webhook_secrets_for(settings),
    ]
    if settings.hosts_media:
        local = local_secrets(settings.data_dir)
        values += [jwt_secret_for(settings), local.fake_secret]
    if settings.mux is not None:
        values += [settings.mux.token_secret, settings.mux.signing_private_key]
        values += settings.mux.webhook_secrets
    if settings.cloudflare is not None:
        cloudflare = settings.cloudflare
        values += [cloudflare.api_token, cloudflare.signing_key_pem, *cloudflare.webhook_secrets]
    return tuple(value for value in values if value)


def development_secrets_path(settings: Settings) -> Path:
    """Where the embedded default keeps the secrets it generates (``<data dir>/secrets.json``)."""
    return local_secrets_path(settings.data_dir)


def development_jwt_secret(settings: Settings, *, create: bool = False) -> str | None:
    """The data dir's development JWT secret; None where no service made one (unless ``create``)."""
    if not create and not local_secrets_path(settings.data_dir).exists():
        return None
    return local_secrets(settings.data_dir).jwt_secret


def webhook_signing_secret(settings: Settings, sender: str) -> str | None:
    """The first secret the service accepts from ``sender`` (mux, cloudflare or normalized).

    Never creates the development secrets: None where no service has made them yet.
    """
    if sender == "mux":
        return settings.mux.webhook_secrets[0] if settings.mux else None
    if sender == "cloudflare":
        return settings.cloudflare.webhook_secrets[0] if settings.cloudflare else None
    if settings.webhook_secrets:
        return settings.webhook_secrets[0]
    if settings.hosts_media and local_secrets_path(settings.data_dir).exists():
        return local_secrets(settings.data_dir).webhook_secret
    return None


def signed_delivery(
    sender: str, secret: str, timestamp: int, body: bytes
) -> tuple[str, dict[str, str]]:
    """The route path of ``sender`` and the headers that sign ``body`` as it signs (the adapters'
    own schemes): mux, cloudflare or normalized."""
    path = f"/api/v1/media/webhook/{WEBHOOK_ROUTES[sender]}"
    return path, sign_webhook(sender, secret, timestamp, body)
