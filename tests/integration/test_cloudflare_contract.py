"""The Cloudflare Stream adapter against Prism on Cloudflare's OpenAPI spec.

Prism validates every request against the spec and answers 422 to one that does not fit, which
the adapter turns into ``ProviderRejected``: a request the real API would refuse fails here. A
recording transport also keeps Prism's status codes and ``sl-violations`` headers, so calls whose
answers the adapter cannot use (tus initiate is documented without ``Location``) still prove that
their request was valid. The ``Location`` handling itself is tested with MockTransport.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime

import attrs
import httpx
import pytest

from adapters.providers._http import HttpPolicy, RetrySettings
from adapters.providers.cloudflare import CloudflareStreamVideoProvider
from media_core.errors import ProviderUnavailable
from media_core.model import (
    MediaUpload,
    UploadMetadata,
    UploadProtocol,
    UploadStatus,
    Visibility,
)
from media_core.ports import DirectUploadRequest
from tests.conftest import need
from tests.support.prism import prism_binary, run_prism, specs_dir

pytestmark = pytest.mark.prism

ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def prism_url() -> Iterator[str]:
    """Prism mocking the trimmed Cloudflare Stream spec on 127.0.0.1, for this module."""
    spec = specs_dir() / "cloudflare-stream.openapi.json"
    need(prism_binary(), "prism is not installed (npm ci)")
    need(spec.exists(), f"the Cloudflare spec is missing at {spec}")
    with run_prism(spec) as url:
        yield url


@attrs.define
class Exchange:
    """One request sent to Prism and what Prism said about it."""

    method: str
    path: str
    status: int
    violations: str | None


@attrs.define
class RecordingTransport(httpx.AsyncBaseTransport):
    """Forwards to the network and records each exchange."""

    inner: httpx.AsyncBaseTransport = attrs.field(factory=httpx.AsyncHTTPTransport)
    exchanges: list[Exchange] = attrs.field(factory=list)

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Send ``request`` and remember Prism's verdict."""
        response = await self.inner.handle_async_request(request)
        self.exchanges.append(
            Exchange(
                method=request.method,
                path=request.url.path,
                status=response.status_code,
                violations=response.headers.get("sl-violations"),
            )
        )
        return response

    async def aclose(self) -> None:
        """Close the forwarding transport."""
        await self.inner.aclose()


@pytest.fixture
async def recorder() -> RecordingTransport:
    """A fresh recording transport per test."""
    return RecordingTransport()


@pytest.fixture
async def client(prism_url: str, recorder: RecordingTransport) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client for Prism, built like the composition root's (base URL and Bearer)."""
    async with httpx.AsyncClient(
        transport=recorder,
        base_url=prism_url,
        headers={"Authorization": "Bearer prism-test-token"},
    ) as http:
        yield http


@pytest.fixture
def provider(client: httpx.AsyncClient) -> CloudflareStreamVideoProvider:
    """The adapter under contract, without a signing key (so playback uses the token endpoint)."""
    return CloudflareStreamVideoProvider(
        client,
        account_id=ACCOUNT,
        policy=HttpPolicy(
            provider="cloudflare",
            settings=RetrySettings(attempts=1, timeout=10.0),
            rng=random.Random(3),
        ),
        customer_subdomain="customer-m033z5x00ks6nunl.cloudflarestream.com",
        allowed_origins=("example.com",),
        max_duration_seconds=600,
    )


def assert_all_valid(recorder: RecordingTransport, expected: int) -> None:
    """Prism accepted each of the ``expected`` requests: 2xx and no violations."""
    assert len(recorder.exchanges) == expected
    for exchange in recorder.exchanges:
        assert 200 <= exchange.status < 300, exchange
        assert exchange.violations is None, exchange


def request(size: int, visibility: Visibility) -> DirectUploadRequest:
    """An upload request for ``size`` bytes."""
    return DirectUploadRequest(
        upload_id="up_contract",
        owner_id="creator-id_abcde12345",
        file_name="clip.mp4",
        file_size=size,
        mime_type="video/mp4",
        metadata=UploadMetadata(title="Contract clip", visibility=visibility),
        now=NOW,
    )


def upload(uid: str, visibility: Visibility, status: UploadStatus) -> MediaUpload:
    """A stored upload for the video ``uid``."""
    return MediaUpload(
        id="up_contract",
        owner_id="creator-id_abcde12345",
        provider="cloudflare",
        file_name="clip.mp4",
        file_size=1000,
        mime_type="video/mp4",
        metadata=UploadMetadata(visibility=visibility),
        created_at=NOW,
        updated_at=NOW,
        status=status,
        provider_upload_id=uid,
        playback_id=uid,
        duration=1.0 if status is UploadStatus.READY else None,
    )


@pytest.mark.parametrize("visibility", list(Visibility))
async def test_basic_upload_create_fits_the_spec(
    provider: CloudflareStreamVideoProvider,
    recorder: RecordingTransport,
    visibility: Visibility,
) -> None:
    """POST /stream/direct_upload is valid for every visibility and its answer is understood."""
    ticket = await provider.create_direct_upload(request(1000, visibility))

    assert ticket.protocol is UploadProtocol.FORM
    assert ticket.playback_id == ticket.provider_upload_id
    assert ticket.url
    assert_all_valid(recorder, 1)
    assert recorder.exchanges[0].path == f"/accounts/{ACCOUNT}/stream/direct_upload"


async def test_get_video_fits_the_spec(
    provider: CloudflareStreamVideoProvider, recorder: RecordingTransport
) -> None:
    """GET /stream/{uid} is valid and the spec's example video object is understood."""
    events = await provider.fetch_events(
        upload("ea95132c15732412d22c1476fa83f27a", Visibility.PUBLIC, UploadStatus.UPLOADING), NOW
    )

    assert isinstance(events, tuple)  # the example is pendingupload: no event
    assert_all_valid(recorder, 1)


@pytest.mark.parametrize("operation", ["delete_video", "cancel_upload"])
async def test_delete_fits_the_spec(
    provider: CloudflareStreamVideoProvider, recorder: RecordingTransport, operation: str
) -> None:
    """DELETE /stream/{uid} is valid."""
    await getattr(provider, operation)(
        upload("ea95132c15732412d22c1476fa83f27a", Visibility.PUBLIC, UploadStatus.READY)
    )

    assert_all_valid(recorder, 1)
    assert recorder.exchanges[0].method == "DELETE"


async def test_signed_playback_token_request_fits_the_spec(
    provider: CloudflareStreamVideoProvider, recorder: RecordingTransport
) -> None:
    """POST /stream/{uid}/token is valid and its token lands in the playback URL."""
    playback = await provider.playback(
        upload("ea95132c15732412d22c1476fa83f27a", Visibility.PRIVATE, UploadStatus.READY), NOW
    )

    assert playback.token
    assert f"/{playback.token}/manifest/video.m3u8" in playback.url
    assert_all_valid(recorder, 1)


async def test_tus_initiate_request_fits_the_spec(
    provider: CloudflareStreamVideoProvider, recorder: RecordingTransport
) -> None:
    """The tus initiate request is valid; Prism's Location-less answer is refused as unusable."""
    with pytest.raises(ProviderUnavailable, match="Location"):
        await provider.create_direct_upload(request(300_000_000, Visibility.PRIVATE))

    assert_all_valid(recorder, 1)
    assert recorder.exchanges[0].path == f"/accounts/{ACCOUNT}/stream"


async def test_prism_rejects_an_invalid_request(
    client: httpx.AsyncClient, recorder: RecordingTransport
) -> None:
    """A direct upload without maxDurationSeconds gets 422, so the checks above can fail."""
    response = await client.post(f"/accounts/{ACCOUNT}/stream/direct_upload", json={})

    assert response.status_code == 422
    assert recorder.exchanges[0].violations is not None
