"""The video providers of MEDIA_PROVIDERS: one HTTP client and one circuit breaker per real
provider, the embedded one (local or fake), the ``ProviderSet``, webhook verifiers and routes."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import timedelta
from typing import Any

import httpx

from adapters.local_secrets import local_secrets
from adapters.providers._breaker import CircuitBreaker
from adapters.providers._http import HttpPolicy, RetrySettings, default_timeout
from adapters.providers.cloudflare import CloudflareStreamVideoProvider, CloudflareWebhookVerifier
from adapters.providers.cloudflare import stored_playback as cloudflare_stored_playback
from adapters.providers.fake import FakeVideoProvider
from adapters.providers.fake.routes import fake_routes
from adapters.providers.local import (
    FolderStorage,
    LocalVideoProvider,
    SqlJobStore,
    local_routes,
)
from adapters.providers.mux import MuxVideoProvider, MuxWebhookVerifier
from adapters.providers.mux import stored_playback as mux_stored_playback
from adapters.providers.routes import ProviderRoute
from adapters.webhooks import NormalizedWebhookVerifier
from adapters.webhooks.sender import HttpWebhookSender
from entrypoints.settings import EMBEDDED_PROVIDERS, Settings, SettingsError
from entrypoints.wiring import resolve
from entrypoints.wiring.local import build_notifier
from entrypoints.wiring.secrets import webhook_secrets_for
from media_core.ports import (
    Clock,
    StoredPlayback,
    VideoProvider,
    WebhookVerifier,
)
from media_core.providers import ProviderSet

AttemptObserver = Callable[[str], Callable[[str, str, float], None]]
"""Given a provider name, the ``HttpPolicy.on_attempt`` callback that records its API calls."""


async def open_webhook_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The client the fake provider posts its webhooks with (to this very service)."""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10.0, connect=5.0)) as client:
        yield client


def build_breakers(settings: Settings) -> dict[str, CircuitBreaker]:
    """A circuit breaker for each configured provider that calls an API (not local or fake)."""
    return {
        name: CircuitBreaker(
            provider=name,
            failure_threshold=settings.provider_breaker_failures,
            reset_timeout=settings.provider_breaker_reset_seconds,
        )
        for name in settings.providers
        if name not in EMBEDDED_PROVIDERS
    }


USER_AGENT = "media-core/0.1"


async def open_provider_clients(
    settings: Settings, transport: httpx.AsyncBaseTransport | None
) -> AsyncIterator[dict[str, httpx.AsyncClient]]:
    """One HTTP client for each configured real provider, by name.

    ``transport`` is None in production; tests put an ``httpx.MockTransport`` there (every
    provider's client uses it).
    """
    common: dict[str, Any] = {
        "timeout": default_timeout(RetrySettings().timeout),
        "limits": httpx.Limits(
            max_connections=20, max_keepalive_connections=10, keepalive_expiry=30
        ),
        "transport": transport,
    }
    async with contextlib.AsyncExitStack() as stack:
        clients: dict[str, httpx.AsyncClient] = {}
        if settings.mux is not None:
            clients["mux"] = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=settings.mux.base_url,
                    auth=httpx.BasicAuth(settings.mux.token_id, settings.mux.token_secret),
                    headers={"User-Agent": USER_AGENT},
                    **common,
                )
            )
        if settings.cloudflare is not None:
            clients["cloudflare"] = await stack.enter_async_context(
                httpx.AsyncClient(
                    base_url=settings.cloudflare.base_url,
                    headers={
                        "User-Agent": USER_AGENT,
                        "Authorization": f"Bearer {settings.cloudflare.api_token}",
                    },
                    **common,
                )
            )
        yield clients


STORED_PLAYBACK: dict[str, StoredPlayback] = {
    "mux": mux_stored_playback,
    "cloudflare": cloudflare_stored_playback,
}
"""How uploads of a provider no longer configured are still played, from their stored ids."""


def build_embedded_provider(
    settings: Settings,
    clock: Clock,
    webhook_client: httpx.AsyncClient,
    observe: AttemptObserver | None = None,
    *,
    local_jobs: SqlJobStore | None = None,
) -> VideoProvider | None:
    """The provider whose platform is this machine (``local`` or ``fake``), when one is listed;
    it reports through the normalized webhook route."""
    attempts = observe if observe is not None else (lambda name: None)
    if "fake" in settings.providers:
        local = local_secrets(settings.data_dir)
        return FakeVideoProvider(
            base_url=settings.base_url,
            data_dir=settings.data_dir,
            secret=local.fake_secret,
            webhook_secret=webhook_secrets_for(settings)[0],
            clock=clock,
            sender=HttpWebhookSender(
                webhook_client,
                f"{settings.base_url}/api/v1/media/webhook/upload-complete",
                on_attempt=attempts("fake"),
            ),
            processing_delay=settings.fake_processing_delay_seconds,
            tus_threshold=settings.fake_tus_threshold_bytes,
            chunk_size=settings.fake_upload_chunk_bytes,
            max_size=settings.max_upload_bytes,
        )
    if "local" in settings.providers:
        assert local_jobs is not None
        local = local_secrets(settings.data_dir)
        return LocalVideoProvider(
            base_url=settings.base_url,
            data_dir=settings.data_dir,
            storage=FolderStorage(settings.local_storage_dir),
            jobs=local_jobs,
            notifier=build_notifier(settings, clock, webhook_client, attempts("local")),
            secret=local.fake_secret,
            clock=clock,
            playback_ttl=timedelta(seconds=settings.local.playback_ttl_seconds),
            tus_threshold=settings.local.tus_threshold_bytes,
            chunk_size=settings.local.upload_chunk_bytes,
            max_size=settings.max_upload_bytes,
        )
    return None


def build_providers(
    settings: Settings,
    provider_clients: dict[str, httpx.AsyncClient],
    embedded: VideoProvider | None,
    observe: AttemptObserver | None = None,
    *,
    breakers: dict[str, CircuitBreaker],
) -> ProviderSet:
    """Every provider of MEDIA_PROVIDERS, in order, each with its breaker as its health; bad
    provider settings raise one ``SettingsError`` naming them all.

    ``observe`` gives each provider's HTTP policy its ``on_attempt`` callback (metrics).
    """
    built: list[VideoProvider] = []
    problems: list[str] = []
    for name in settings.providers:
        try:
            if name in EMBEDDED_PROVIDERS:
                assert embedded is not None
                built.append(embedded)
            else:
                client = provider_clients[name]
                built.append(_real_provider(name, settings, client, observe, breakers.get(name)))
        except ValueError as exc:
            problems.append(f"{name}: {exc}")
    if problems:
        raise SettingsError(problems)
    return ProviderSet(
        built,
        health={name: breaker for name, breaker in breakers.items() if name in settings.providers},
        stored_playback=STORED_PLAYBACK,
    )


def _real_provider(
    name: str,
    settings: Settings,
    client: httpx.AsyncClient,
    observe: AttemptObserver | None,
    breaker: CircuitBreaker | None,
) -> VideoProvider:
    policy = HttpPolicy(
        provider=name, on_attempt=observe(name) if observe else None, breaker=breaker
    )
    if name == "mux":
        mux = settings.mux
        assert mux is not None
        return MuxVideoProvider(
            client,
            policy=policy,
            cors_origin=mux.cors_origin,
            upload_timeout_seconds=mux.upload_timeout_seconds,
            test_mode=mux.test_mode,
            signing_key_id=mux.signing_key_id,
            signing_private_key=mux.signing_private_key,
        )
    if name == "cloudflare":
        cloudflare = settings.cloudflare
        assert cloudflare is not None
        return CloudflareStreamVideoProvider(
            client,
            account_id=cloudflare.account_id,
            policy=policy,
            customer_subdomain=cloudflare.customer_subdomain,
            allowed_origins=cloudflare.allowed_origins,
            max_duration_seconds=cloudflare.max_duration_seconds,
            upload_expiry_seconds=cloudflare.upload_expiry_seconds,
            basic_upload_limit=cloudflare.basic_upload_limit,
            signing_key_id=cloudflare.signing_key_id,
            signing_key_pem=cloudflare.signing_key_pem,
        )
    raise NotImplementedError(f"provider {name} is not wired yet")


def build_provider_routes(settings: Settings, provider: Any) -> Sequence[ProviderRoute]:
    """The HTTP routes the embedded provider serves itself (``adapters.providers.routes``).

    ``provider`` is the container's provider of that provider: a handler resolves it per
    request, since the routes are mounted before the application (and so the provider) starts.
    """
    if "fake" in settings.providers:
        return fake_routes(lambda: resolve(provider))
    if "local" in settings.providers:
        return local_routes(lambda: resolve(provider))
    return ()


async def close_providers(providers: ProviderSet) -> None:
    """Stop what providers run in the background (webhook deliveries in flight)."""
    for provider in providers:
        if isinstance(provider, FakeVideoProvider | LocalVideoProvider):
            await provider.close()


def build_verifiers(settings: Settings) -> dict[str, WebhookVerifier]:
    """The webhook routes in force, by the last path segment."""
    verifiers: dict[str, WebhookVerifier] = {}
    normalized = webhook_secrets_for(settings)
    if normalized:
        # The embedded provider's own route when one is listed; otherwise the route of a
        # trusted system of the host, acting for the default provider.
        embedded = [name for name in settings.providers if name in EMBEDDED_PROVIDERS]
        verifiers["upload-complete"] = NormalizedWebhookVerifier(
            secrets=normalized,
            provider=embedded[0] if embedded else settings.provider,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    if settings.mux is not None:
        verifiers["mux"] = MuxWebhookVerifier(
            secrets=settings.mux.webhook_secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    if settings.cloudflare is not None:
        verifiers["cloudflare"] = CloudflareWebhookVerifier(
            secrets=settings.cloudflare.webhook_secrets,
            tolerance_seconds=settings.webhook_tolerance_seconds,
        )
    return verifiers


async def check_provider_credentials(providers: ProviderSet, name: str) -> None:
    """One cheap authenticated read at the configured provider ``name`` (mux or cloudflare).

    Raises ``ProviderRejected`` (credentials refused) or ``ProviderUnavailable``.
    """
    provider = providers.named(name)
    if isinstance(provider, MuxVideoProvider | CloudflareStreamVideoProvider):
        await provider.check_credentials()
