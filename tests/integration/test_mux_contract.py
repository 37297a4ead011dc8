"""The Mux adapter against Prism serving Mux's published OpenAPI spec.

Prism validates every request we send (path, method, Basic auth, JSON body) and answers 422 to an
invalid one, which the adapter turns into ``ProviderRejected``: any drift from Mux's contract fails
here. Answers are the spec's static examples, so the assertions check shapes, not echoed values.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from adapters.providers._http import HttpPolicy, RetrySettings, default_timeout
from adapters.providers.mux import MuxVideoProvider
from media_core.errors import ProviderRejected
from media_core.events import ProviderEventKind
from media_core.model import MediaUpload, UploadMetadata, UploadProtocol, Visibility
from media_core.ports import DirectUploadRequest
from tests.conftest import need
from tests.support.prism import prism_binary, run_prism, specs_dir

pytestmark = pytest.mark.prism

SPEC = specs_dir() / "mux-video.openapi.json"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UPLOAD_PATH = "/video/v1/uploads/zd01Pe2bNpYhxbrwYABgFE01twZdtv4M00kts2i02GhbGjc"
ASSET_ID = "lJ4bGGsp7ZlPf02nMg015W02iHQLN9XnuuLRBsPS00xqd68"


@pytest.fixture(scope="module")
def prism_url() -> Iterator[str]:
    """Prism on 127.0.0.1 serving the trimmed Mux spec, for the whole module."""
    need(prism_binary(), "Prism is not installed (npm ci installs @stoplight/prism-cli)")
    need(SPEC.exists(), f"the Mux OpenAPI spec is missing at {SPEC}")
    with run_prism(SPEC) as url:
        yield url


Exchange = tuple[str, str, int]


@pytest.fixture
def exchanges() -> list[Exchange]:
    """(method, path, status) of every exchange with Prism in one test."""
    return []


@pytest.fixture
async def client(prism_url: str, exchanges: list[Exchange]) -> AsyncIterator[httpx.AsyncClient]:
    """A client configured as the composition root configures it, pointed at Prism.

    It records every exchange, so a test can prove that Prism answered a documented success:
    the adapter tolerates 404 on reads, cancel and delete, and Prism answers 404 for a path
    the spec does not have.
    """

    async def remember(response: httpx.Response) -> None:
        exchanges.append((response.request.method, response.request.url.path, response.status_code))

    async with httpx.AsyncClient(
        base_url=prism_url,
        auth=httpx.BasicAuth("contract-token-id", "contract-token-secret"),
        timeout=default_timeout(10.0),
        event_hooks={"response": [remember]},
    ) as http:
        yield http


@pytest.fixture
def provider(client: httpx.AsyncClient) -> MuxVideoProvider:
    """The adapter with every optional request field switched on."""
    policy = HttpPolicy(
        "mux", RetrySettings(attempts=2, backoff_base=0.01, timeout=10.0), rng=random.Random(1)
    )
    return MuxVideoProvider(
        client,
        policy=policy,
        cors_origin="https://app.example.com",
        upload_timeout_seconds=3600,
        test_mode=True,
        signing_key_id=None,
        signing_private_key=None,
        max_resolution_tier="1080p",
    )


def record(**changes: Any) -> MediaUpload:
    """One of our uploads, with Mux ids shaped like the spec's examples."""
    fields: dict[str, Any] = {
        "id": "up_contract",
        "owner_id": "user_1",
        "provider": "mux",
        "file_name": "clip.mp4",
        "file_size": 1000,
        "mime_type": "video/mp4",
        "metadata": UploadMetadata(visibility=Visibility.PUBLIC),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        "provider_upload_id": "zd01Pe2bNpYhxbrwYABgFE01twZdtv4M00kts2i02GhbGjc",
    }
    fields.update(changes)
    return MediaUpload(**fields)


@pytest.mark.parametrize("visibility", list(Visibility))
async def test_create_upload_is_valid_for_every_visibility(
    provider: MuxVideoProvider, exchanges: list[Exchange], visibility: Visibility
) -> None:
    """POST /video/v1/uploads passes Prism's validation for public and signed policies."""
    request = DirectUploadRequest(
        upload_id="up_contract",
        owner_id="user_1",
        file_name="clip.mp4",
        file_size=1000,
        mime_type="video/mp4",
        metadata=UploadMetadata(visibility=visibility),
        now=NOW,
    )
    ticket = await provider.create_direct_upload(request)
    assert ticket.provider_upload_id
    assert ticket.url.startswith("https://")
    assert ticket.protocol is UploadProtocol.PUT
    assert ticket.expires_at > NOW
    assert exchanges == [("POST", "/video/v1/uploads", 201)]


async def test_reading_upload_and_asset_is_valid(
    provider: MuxVideoProvider, exchanges: list[Exchange]
) -> None:
    """GET upload then GET asset are valid requests; the examples map to PROCESSING and READY."""
    events = await provider.fetch_events(record(), NOW)
    assert [e.kind for e in events] == [ProviderEventKind.PROCESSING, ProviderEventKind.READY]
    assert events[1].playback_id
    assert events[1].duration is not None
    assert exchanges == [
        ("GET", UPLOAD_PATH, 200),
        ("GET", "/video/v1/assets/AnFVqAVXfb7vVL3ypSQDMnJZunnb8nkwe02O00p2gK8P00", 200),
    ]


async def test_reading_a_known_asset_is_valid(
    provider: MuxVideoProvider, exchanges: list[Exchange]
) -> None:
    """GET /video/v1/assets/{id} alone is a valid request."""
    events = await provider.fetch_events(record(provider_asset_id=ASSET_ID), NOW)
    assert [e.kind for e in events] == [ProviderEventKind.READY]
    assert exchanges == [("GET", f"/video/v1/assets/{ASSET_ID}", 200)]


async def test_cancel_is_valid(provider: MuxVideoProvider, exchanges: list[Exchange]) -> None:
    """PUT /video/v1/uploads/{id}/cancel is a valid request."""
    await provider.cancel_upload(record())
    assert exchanges == [("PUT", f"{UPLOAD_PATH}/cancel", 200)]


async def test_cancel_refused_then_cleanup_is_valid(prism_url: str) -> None:
    """The 403 path (cancel refused, read the upload, delete its asset) sends valid requests.

    A request hook asks Prism for its documented 403 on the cancel call only; the upload read
    then answers the spec's example (``asset_created`` with an ``asset_id``), so the adapter
    goes on to delete that asset.
    """
    sent: list[tuple[str, str, int]] = []

    async def prefer_403_on_cancel(request: httpx.Request) -> None:
        if request.url.path.endswith("/cancel"):
            request.headers["Prefer"] = "code=403"

    async def remember(response: httpx.Response) -> None:
        request = response.request
        sent.append((request.method, request.url.path, response.status_code))

    async with httpx.AsyncClient(
        base_url=prism_url,
        auth=httpx.BasicAuth("contract-token-id", "contract-token-secret"),
        event_hooks={"request": [prefer_403_on_cancel], "response": [remember]},
    ) as http:
        provider = MuxVideoProvider(
            http, policy=HttpPolicy("mux", RetrySettings(attempts=1)), cors_origin="*"
        )
        await provider.cancel_upload(record())
    assert sent == [
        ("PUT", f"{UPLOAD_PATH}/cancel", 403),
        ("GET", UPLOAD_PATH, 200),
        ("DELETE", "/video/v1/assets/AnFVqAVXfb7vVL3ypSQDMnJZunnb8nkwe02O00p2gK8P00", 204),
    ]


async def test_delete_asset_is_valid(provider: MuxVideoProvider, exchanges: list[Exchange]) -> None:
    """DELETE /video/v1/assets/{id} is a valid request."""
    await provider.delete_video(record(provider_asset_id=ASSET_ID))
    assert exchanges == [("DELETE", f"/video/v1/assets/{ASSET_ID}", 204)]


async def test_delete_without_asset_cancels_validly(
    provider: MuxVideoProvider, exchanges: list[Exchange]
) -> None:
    """Deleting before an asset exists cancels the upload, a valid request."""
    await provider.delete_video(record())
    assert exchanges == [("PUT", f"{UPLOAD_PATH}/cancel", 200)]


async def test_prism_refuses_a_request_that_breaks_the_contract(
    client: httpx.AsyncClient,
) -> None:
    """The control: an invalid body gets 422, which the policy reports as ProviderRejected."""
    policy = HttpPolicy("mux", RetrySettings(attempts=1))
    bad = {"new_asset_settings": {"playback_policy": ["secret"]}, "timeout": 5}
    with pytest.raises(ProviderRejected, match="422"):
        await policy.send(client, "create_upload", "POST", "/video/v1/uploads", json=bad)


async def test_prism_refuses_a_request_without_credentials(prism_url: str) -> None:
    """The control for auth: without Basic credentials Prism answers 401."""
    async with httpx.AsyncClient(base_url=prism_url) as anonymous:
        response = await anonymous.get("/video/v1/assets/abc")
    assert response.status_code == 401
