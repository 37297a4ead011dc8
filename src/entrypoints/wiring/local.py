"""The local provider's parts that run beside the service: its job store, the notifier that
signs its webhooks, and its worker."""

from __future__ import annotations

import os
import socket
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta

import httpx

from adapters.providers.local import (
    FolderStorage,
    LocalWorker,
    Notifier,
    SqlJobStore,
    WorkerSettings,
)
from adapters.repositories import sql
from adapters.webhooks.sender import HttpWebhookSender
from entrypoints.settings import Settings, SettingsError
from entrypoints.wiring.secrets import webhook_secrets_for
from media_core.ports import (
    Clock,
)


def build_notifier(
    settings: Settings,
    clock: Clock,
    webhook_client: httpx.AsyncClient,
    on_attempt: Callable[[str, str, float], None] | None = None,
) -> Notifier:
    """Signed webhooks of the local provider and its workers, to this service's normalized route
    (``MEDIA_PUBLIC_URL`` when workers run on other machines)."""
    return Notifier(
        sender=HttpWebhookSender(
            webhook_client,
            f"{settings.base_url}/api/v1/media/webhook/upload-complete",
            on_attempt=on_attempt,
            provider="local",
        ),
        secret=webhook_secrets_for(settings)[0],
        clock=clock,
    )


async def open_local_jobs(settings: Settings) -> AsyncIterator[SqlJobStore | None]:
    """The local provider's job store, on the service's database (None for other providers)."""
    if "local" not in settings.providers:
        yield None
        return
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = sql.create_engine(settings.effective_database_url, pool_size=2)
    try:
        yield SqlJobStore(engine)
    finally:
        await engine.dispose()


def build_local_worker(
    settings: Settings, clock: Clock, jobs: SqlJobStore | None, webhook_client: httpx.AsyncClient
) -> LocalWorker:
    """One worker of the local provider, named after this host and process."""
    if jobs is None:
        raise SettingsError(["workers process the local provider's jobs: set MEDIA_PROVIDER=local"])
    local = settings.local
    return LocalWorker(
        name=f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}",
        jobs=jobs,
        storage=FolderStorage(settings.local_storage_dir),
        notifier=build_notifier(settings, clock, webhook_client),
        clock=clock,
        base_url=settings.base_url,
        settings=WorkerSettings(
            heights=local.ladder,
            segment_seconds=local.segment_seconds,
            threads=local.encoder_threads,
            preset=local.x264_preset,
            lease=timedelta(seconds=local.job_lease_seconds),
            max_attempts=local.job_max_attempts,
        ),
    )
