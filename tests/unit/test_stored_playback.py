"""Playback from stored ids alone: what serves uploads of a provider that was removed."""

from __future__ import annotations

from datetime import UTC, datetime

import attrs
import httpx
import pytest

from adapters.providers._http import HttpPolicy, RetrySettings
from adapters.providers.cloudflare import CloudflareStreamVideoProvider
from adapters.providers.cloudflare import stored_playback as cloudflare_playback
from adapters.providers.mux import MuxVideoProvider
from adapters.providers.mux import stored_playback as mux_playback
from media_core.model import MediaUpload, UploadStatus, Visibility
from tests.support.repositories import make_upload

NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
UID = "6b9e68b07dfee8cc2d116e4c51d6a957"
HOST = "customer-m033z5x00ks6nunl.cloudflarestream.com"


def no_calls(request: httpx.Request) -> httpx.Response:
    """A provider API that must not be reached."""
    raise AssertionError(f"unexpected call {request.method} {request.url}")


def ready(provider: str, visibility: Visibility, **changes: object) -> MediaUpload:
    """A READY upload of ``provider`` with ``visibility`` (PROCESSING without a playback id)."""
    status = UploadStatus.READY if "playback_id" in changes else UploadStatus.PROCESSING
    upload = make_upload("u1", provider=provider, status=status, duration=1.0, **changes)
    return attrs.evolve(upload, metadata=attrs.evolve(upload.metadata, visibility=visibility))


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.UNLISTED])
async def test_mux_stored_playback_is_what_the_adapter_serves(visibility: Visibility) -> None:
    """For a public upload the stored ids give the same URLs as the configured adapter."""
    upload = ready("mux", visibility, playback_id="pZRRUL8HyLpv")
    async with httpx.AsyncClient(transport=httpx.MockTransport(no_calls)) as client:
        adapter = MuxVideoProvider(client, policy=HttpPolicy("mux", RetrySettings()))
        assert mux_playback(upload) == await adapter.playback(upload, NOW)


def test_mux_stored_playback_needs_a_public_upload_with_a_playback_id() -> None:
    """PRIVATE needs the signing key; no playback id yet means nothing to play."""
    assert mux_playback(ready("mux", Visibility.PRIVATE, playback_id="p1")) is None
    assert mux_playback(ready("mux", Visibility.PUBLIC)) is None


async def test_cloudflare_stored_playback_is_what_the_adapter_serves() -> None:
    """The uid and the customer host in the stored thumbnail URL are enough for public."""
    upload = ready(
        "cloudflare",
        Visibility.PUBLIC,
        playback_id=UID,
        thumbnail_url=f"https://{HOST}/{UID}/thumbnails/thumbnail.jpg",
    )
    async with httpx.AsyncClient(transport=httpx.MockTransport(no_calls)) as client:
        adapter = CloudflareStreamVideoProvider(
            client, account_id="acc", policy=HttpPolicy("cloudflare"), customer_subdomain=HOST
        )
        assert cloudflare_playback(upload) == await adapter.playback(upload, NOW)


def test_cloudflare_stored_playback_needs_public_a_uid_and_a_host() -> None:
    """PRIVATE needs a token from Cloudflare; without a stored host or uid nothing is built."""
    thumbnail = f"https://{HOST}/{UID}/thumbnails/thumbnail.jpg"
    private = ready("cloudflare", Visibility.PRIVATE, playback_id=UID, thumbnail_url=thumbnail)
    assert cloudflare_playback(private) is None
    assert cloudflare_playback(ready("cloudflare", Visibility.PUBLIC, playback_id=UID)) is None
    assert (
        cloudflare_playback(ready("cloudflare", Visibility.PUBLIC, thumbnail_url=thumbnail)) is None
    )
    bad_uid = ready("cloudflare", Visibility.PUBLIC, playback_id="../x", thumbnail_url=thumbnail)
    assert cloudflare_playback(bad_uid) is None
