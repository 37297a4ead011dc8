"""The Mux provider over ``httpx.MockTransport``: requests, retries, errors, playback tokens."""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.providers._http import HttpPolicy, RetrySettings
from adapters.providers.mux import CHUNK_QUANTUM, MuxVideoProvider
from media_core.errors import Conflict, ProviderRejected, ProviderUnavailable
from media_core.events import ProviderEventKind
from media_core.model import (
    FailureCode,
    MediaUpload,
    UploadMetadata,
    UploadProtocol,
    UploadStatus,
    Visibility,
)
from media_core.ports import DirectUploadRequest, VideoProvider

TOKEN_ID = "mux-token-id-4f1e"
TOKEN_SECRET = "mux-token-secret-9d2c7b"
NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
UPLOAD_URL = "https://storage.googleapis.com/video-storage-us-east1-uploads/abc?Signature=x"

Handler = Callable[[httpx.Request], httpx.Response]


class Recorder:
    """A MockTransport handler that answers from a queue per (method, path) and records requests."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.routes: dict[tuple[str, str], list[httpx.Response | Exception]] = {}

    def on(self, method: str, path: str, *answers: httpx.Response | Exception) -> None:
        """Queue answers for a route; the last one repeats."""
        self.routes[(method, path)] = list(answers)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        queue = self.routes.get((request.method, _path(request)))
        if not queue:
            return httpx.Response(599, json={"error": "no route in test"})
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(answer, Exception):
            raise answer
        return answer

    def calls(self) -> list[tuple[str, str]]:
        """(method, path) of every request, in order."""
        return [(r.method, _path(r)) for r in self.requests]


def _path(request: httpx.Request) -> str:
    """The path as sent on the wire (escapes kept), without the query."""
    return request.url.raw_path.split(b"?")[0].decode()


class Sleeps:
    """Records the delays the policy asked for, without waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key for the signed-playback tests."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def rsa_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    """The key as PKCS#1 PEM text."""
    return rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@pytest.fixture
def recorder() -> Recorder:
    """A fresh recording transport handler."""
    return Recorder()


@pytest.fixture
def sleeps() -> Sleeps:
    """A fresh sleep recorder."""
    return Sleeps()


@pytest.fixture
def client(recorder: Recorder) -> httpx.AsyncClient:
    """A client built like the composition root builds it, over the mock transport."""
    return httpx.AsyncClient(
        transport=httpx.MockTransport(recorder),
        base_url="https://api.mux.com",
        auth=httpx.BasicAuth(TOKEN_ID, TOKEN_SECRET),
    )


@pytest.fixture
def make(client: httpx.AsyncClient, sleeps: Sleeps) -> Callable[..., MuxVideoProvider]:
    """Build a provider with test defaults; keyword arguments override them."""

    def build(**overrides: Any) -> MuxVideoProvider:
        options: dict[str, Any] = {
            "policy": HttpPolicy(
                "mux",
                RetrySettings(attempts=3, backoff_base=0.1, backoff_cap=1.0, max_retry_after=30),
                sleep=sleeps,
                rng=random.Random(7),
            ),
            "cors_origin": "https://app.example.com",
            "upload_timeout_seconds": 3600,
            "test_mode": False,
            "signing_key_id": None,
            "signing_private_key": None,
        }
        options.update(overrides)
        return MuxVideoProvider(client, **options)

    return build


def request_for(visibility: Visibility, upload_id: str = "up_1") -> DirectUploadRequest:
    """A direct-upload request for one visibility."""
    return DirectUploadRequest(
        upload_id=upload_id,
        owner_id="user_1",
        file_name="clip.mp4",
        file_size=10_000_000,
        mime_type="video/mp4",
        metadata=UploadMetadata(title="Clip", visibility=visibility),
        now=NOW,
    )


def record(**changes: Any) -> MediaUpload:
    """One of our uploads (UPLOADING at Mux unless changed)."""
    fields: dict[str, Any] = {
        "id": "up_1",
        "owner_id": "user_1",
        "provider": "mux",
        "file_name": "clip.mp4",
        "file_size": 1000,
        "mime_type": "video/mp4",
        "metadata": UploadMetadata(visibility=Visibility.PUBLIC),
        "created_at": NOW - timedelta(hours=1),
        "updated_at": NOW - timedelta(hours=1),
        "provider_upload_id": "muxup_1",
    }
    fields.update(changes)
    return MediaUpload(**fields)


def created(upload_id: str = "muxup_1", url: str = UPLOAD_URL, **extra: Any) -> httpx.Response:
    """Mux's 201 for a created direct upload."""
    data = {"id": upload_id, "url": url, "status": "waiting", "timeout": 3600, **extra}
    return httpx.Response(201, json={"data": data})


def upload_body(status: str, **extra: Any) -> httpx.Response:
    """Mux's 200 for a direct upload in ``status``."""
    data = {"id": "muxup_1", "status": status, "timeout": 3600, **extra}
    data.setdefault("new_asset_settings", {"playback_policies": ["public"], "passthrough": "up_1"})
    return httpx.Response(200, json={"data": data})


def asset_body(status: str, **extra: Any) -> httpx.Response:
    """Mux's 200 for an asset in ``status``."""
    data = {
        "id": "asset_1",
        "status": status,
        "upload_id": "muxup_1",
        "passthrough": "up_1",
        "playback_ids": [{"id": "play_1", "policy": "public"}],
        "aspect_ratio": "16:9",
        **extra,
    }
    return httpx.Response(200, json={"data": data})


# --- create_direct_upload --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("visibility", "policy"),
    [
        (Visibility.PUBLIC, "public"),
        (Visibility.UNLISTED, "public"),
        (Visibility.PRIVATE, "signed"),
    ],
)
async def test_create_sends_the_documented_body_for_each_visibility(
    make: Callable[..., MuxVideoProvider],
    recorder: Recorder,
    visibility: Visibility,
    policy: str,
) -> None:
    """POST /video/v1/uploads with the playback policy, our id as passthrough, CORS, timeout."""
    recorder.on("POST", "/video/v1/uploads", created())
    ticket = await make().create_direct_upload(request_for(visibility))
    (sent,) = recorder.requests
    assert (sent.method, sent.url.path) == ("POST", "/video/v1/uploads")
    assert json.loads(sent.content) == {
        "new_asset_settings": {"playback_policy": [policy], "passthrough": "up_1"},
        "cors_origin": "https://app.example.com",
        "timeout": 3600,
    }
    assert sent.headers["content-type"] == "application/json"
    expected_auth = base64.b64encode(f"{TOKEN_ID}:{TOKEN_SECRET}".encode()).decode()
    assert sent.headers["authorization"] == f"Basic {expected_auth}"
    assert ticket.provider_upload_id == "muxup_1"
    assert ticket.url == UPLOAD_URL
    assert ticket.protocol is UploadProtocol.PUT
    assert ticket.method == "PUT"
    assert ticket.playback_id is None
    assert ticket.expires_at == NOW + timedelta(seconds=3600)
    assert ticket.chunk_size is not None
    assert ticket.chunk_size > 0
    assert ticket.chunk_size % (256 * 1024) == 0


async def test_create_sends_the_test_flag_and_optional_asset_settings(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Test mode, video quality and the resolution cap are sent when configured."""
    recorder.on("POST", "/video/v1/uploads", created(timeout=900))
    provider = make(
        test_mode=True,
        upload_timeout_seconds=900,
        video_quality="basic",
        max_resolution_tier="1080p",
        chunk_size=4 * CHUNK_QUANTUM,
    )
    ticket = await provider.create_direct_upload(request_for(Visibility.PUBLIC))
    body = json.loads(recorder.requests[0].content)
    assert body["test"] is True
    assert body["timeout"] == 900
    assert body["new_asset_settings"]["video_quality"] == "basic"
    assert body["new_asset_settings"]["max_resolution_tier"] == "1080p"
    assert ticket.expires_at == NOW + timedelta(seconds=900)
    assert ticket.chunk_size == 4 * CHUNK_QUANTUM


async def test_create_is_not_retried_after_a_read_timeout(
    make: Callable[..., MuxVideoProvider], recorder: Recorder, sleeps: Sleeps
) -> None:
    """A create that may have reached Mux is tried once: ProviderUnavailable, one request."""
    recorder.on("POST", "/video/v1/uploads", httpx.ReadTimeout("slow"), created())
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await make().create_direct_upload(request_for(Visibility.PUBLIC))
    assert len(recorder.requests) == 1
    assert sleeps.delays == []


async def test_create_is_not_retried_after_a_server_error(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 502 on create is reported as unavailable, without a second (duplicate) create."""
    recorder.on("POST", "/video/v1/uploads", httpx.Response(502), created())
    with pytest.raises(ProviderUnavailable):
        await make().create_direct_upload(request_for(Visibility.PUBLIC))
    assert len(recorder.requests) == 1


async def test_create_is_retried_when_the_connection_was_never_made(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A connect error proves nothing was sent, so the create is tried again."""
    recorder.on("POST", "/video/v1/uploads", httpx.ConnectError("refused"), created())
    ticket = await make().create_direct_upload(request_for(Visibility.PUBLIC))
    assert ticket.provider_upload_id == "muxup_1"
    assert len(recorder.requests) == 2


async def test_create_throttled_reports_the_retry_after(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Mux's 429 on create becomes ProviderUnavailable carrying Retry-After."""
    recorder.on("POST", "/video/v1/uploads", httpx.Response(429, headers={"Retry-After": "2"}))
    with pytest.raises(ProviderUnavailable) as caught:
        await make().create_direct_upload(request_for(Visibility.PUBLIC))
    assert caught.value.retry_after == 2.0


async def test_a_4xx_on_create_is_rejected_with_muxs_message(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 400 is ProviderRejected, and says what Mux said."""
    error = {"error": {"type": "invalid_parameters", "messages": ["cors_origin is invalid"]}}
    recorder.on("POST", "/video/v1/uploads", httpx.Response(400, json=error))
    with pytest.raises(ProviderRejected, match="cors_origin is invalid"):
        await make().create_direct_upload(request_for(Visibility.PUBLIC))


@pytest.mark.parametrize(
    "answer",
    [
        httpx.Response(201, json={"data": {"id": "muxup_1"}}),
        httpx.Response(201, json={"data": {"url": UPLOAD_URL}}),
        httpx.Response(201, json={"data": {"id": "muxup_1", "url": "http://insecure"}}),
        httpx.Response(201, json={"nodata": True}),
        httpx.Response(201, text="<html>"),
    ],
)
async def test_a_create_answer_without_id_or_url_is_a_provider_fault(
    make: Callable[..., MuxVideoProvider], recorder: Recorder, answer: httpx.Response
) -> None:
    """A 2xx that is not a usable upload is ProviderUnavailable, not a crash."""
    recorder.on("POST", "/video/v1/uploads", answer)
    with pytest.raises(ProviderUnavailable):
        await make().create_direct_upload(request_for(Visibility.PUBLIC))


async def test_no_credentials_in_errors_or_logs(
    make: Callable[..., MuxVideoProvider],
    recorder: Recorder,
    rsa_pem: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Failed calls name neither the token secret nor the Basic header nor the signing key."""
    caplog.set_level(logging.DEBUG)
    provider = make(signing_key_id="key_1", signing_private_key=rsa_pem)
    recorder.on("POST", "/video/v1/uploads", httpx.Response(401, json={"error": "unauthorized"}))
    recorder.on("GET", "/video/v1/uploads/muxup_1", httpx.Response(503), httpx.ReadTimeout("x"))
    messages: list[str] = []
    with pytest.raises(ProviderRejected) as rejected:
        await provider.create_direct_upload(request_for(Visibility.PRIVATE))
    messages.append(str(rejected.value))
    with pytest.raises(ProviderUnavailable) as unavailable:
        await provider.fetch_events(record(), NOW)
    messages.append(str(unavailable.value))
    basic = base64.b64encode(f"{TOKEN_ID}:{TOKEN_SECRET}".encode()).decode()
    private_body = rsa_pem.splitlines()[1]
    haystack = "\n".join([*messages, caplog.text, repr(provider)])
    assert caplog.records  # the retries were logged, so the check below looked at something
    for secret in (TOKEN_SECRET, basic, private_body):
        assert secret not in haystack


# --- retries on reads --------------------------------------------------------------------------


async def test_a_429_on_a_read_waits_for_retry_after_then_succeeds(
    make: Callable[..., MuxVideoProvider], recorder: Recorder, sleeps: Sleeps
) -> None:
    """Reads honour Retry-After and try again."""
    recorder.on(
        "GET",
        "/video/v1/uploads/muxup_1",
        httpx.Response(429, headers={"Retry-After": "3"}),
        upload_body("waiting"),
    )
    assert await make().fetch_events(record(), NOW) == []
    assert len(recorder.requests) == 2
    assert sleeps.delays[0] >= 3.0


async def test_a_5xx_on_a_read_is_retried_with_bounded_jitter(
    make: Callable[..., MuxVideoProvider], recorder: Recorder, sleeps: Sleeps
) -> None:
    """Two 5xx then a success: three requests, two short jittered waits."""
    recorder.on(
        "GET",
        "/video/v1/uploads/muxup_1",
        httpx.Response(500),
        httpx.Response(503),
        upload_body("cancelled"),
    )
    events = await make().fetch_events(record(), NOW)
    assert [e.failure_code for e in events] == [FailureCode.CANCELLED]
    assert len(recorder.requests) == 3
    assert len(sleeps.delays) == 2
    assert all(0 <= d <= 1.0 for d in sleeps.delays)


async def test_reads_that_keep_timing_out_are_unavailable(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Every attempt times out: ProviderUnavailable after the bounded number of attempts."""
    recorder.on("GET", "/video/v1/uploads/muxup_1", httpx.ReadTimeout("slow"))
    with pytest.raises(ProviderUnavailable, match="timed out"):
        await make().fetch_events(record(), NOW)
    assert len(recorder.requests) == 3


# --- fetch_events --------------------------------------------------------------------------------


async def test_fetch_reads_upload_then_asset_and_maps_them_like_webhooks(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """An upload with an asset: PROCESSING from the upload, READY from the asset."""
    recorder.on(
        "GET", "/video/v1/uploads/muxup_1", upload_body("asset_created", asset_id="asset_1")
    )
    recorder.on("GET", "/video/v1/assets/asset_1", asset_body("ready", duration=12.5))
    events = await make().fetch_events(record(), NOW)
    assert recorder.calls() == [
        ("GET", "/video/v1/uploads/muxup_1"),
        ("GET", "/video/v1/assets/asset_1"),
    ]
    assert [e.kind for e in events] == [ProviderEventKind.PROCESSING, ProviderEventKind.READY]
    assert [e.delivery_id for e in events] == [
        "reconcile:muxup_1:asset_created",
        "reconcile:asset_1:ready",
    ]
    ready = events[1]
    assert (ready.upload_id, ready.asset_id, ready.playback_id) == ("up_1", "asset_1", "play_1")
    assert ready.duration == 12.5
    assert ready.thumbnail_url == "https://image.mux.com/play_1/thumbnail.jpg"
    assert all(e.provider == "mux" and e.occurred_at == NOW for e in events)


async def test_fetch_is_deterministic_so_a_rerun_is_a_duplicate(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Reading the same state twice gives the same delivery ids."""
    recorder.on("GET", "/video/v1/assets/asset_1", asset_body("preparing"))
    provider = make()
    upload = record(provider_asset_id="asset_1", status=UploadStatus.PROCESSING)
    first = await provider.fetch_events(upload, NOW)
    second = await provider.fetch_events(upload, NOW + timedelta(minutes=5))
    assert [e.delivery_id for e in first] == [e.delivery_id for e in second]
    assert first[0].delivery_id == "reconcile:asset_1:preparing"


async def test_fetch_reads_only_the_asset_when_it_is_known(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """With the asset id on record, the upload is not read (Mux rate-limits reads)."""
    recorder.on("GET", "/video/v1/assets/asset_1", asset_body("errored", errors={"type": "x"}))
    events = await make().fetch_events(record(provider_asset_id="asset_1"), NOW)
    assert recorder.calls() == [("GET", "/video/v1/assets/asset_1")]
    assert [e.failure_code for e in events] == [FailureCode.PROVIDER_ERROR]


async def test_fetch_of_a_vanished_asset_is_failed_deleted(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 404 on the asset means it was deleted at Mux."""
    recorder.on("GET", "/video/v1/assets/asset_1", httpx.Response(404, json={"error": {}}))
    (event,) = await make().fetch_events(record(provider_asset_id="asset_1"), NOW)
    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.DELETED
    assert event.delivery_id == "reconcile:asset_1:deleted"


@pytest.mark.parametrize(
    ("answer", "codes"),
    [
        (upload_body("waiting"), []),
        (httpx.Response(404), []),
        (upload_body("timed_out"), [FailureCode.EXPIRED]),
        (upload_body("errored", error={"type": "invalid_input", "message": "bad"}),
         [FailureCode.INVALID_FILE]),
    ],
)  # fmt: skip
async def test_fetch_maps_each_upload_status(
    make: Callable[..., MuxVideoProvider],
    recorder: Recorder,
    answer: httpx.Response,
    codes: list[FailureCode],
) -> None:
    """Waiting and unknown uploads say nothing new; timed out and errored ones fail."""
    recorder.on("GET", "/video/v1/uploads/muxup_1", answer)
    events = await make().fetch_events(record(), NOW)
    assert [e.failure_code for e in events] == codes


async def test_fetch_without_any_mux_id_asks_nothing(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """An upload Mux never acknowledged has nothing to read."""
    assert await make().fetch_events(record(provider_upload_id=None), NOW) == []
    assert recorder.requests == []


# --- cancel and delete --------------------------------------------------------------------------


async def test_cancel_puts_to_the_cancel_endpoint(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """PUT /video/v1/uploads/{id}/cancel, and nothing else."""
    recorder.on("PUT", "/video/v1/uploads/muxup_1/cancel", upload_body("cancelled"))
    await make().cancel_upload(record())
    assert recorder.calls() == [("PUT", "/video/v1/uploads/muxup_1/cancel")]


async def test_cancel_of_a_gone_upload_is_not_an_error(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 404 on cancel means there is nothing left to stop."""
    recorder.on("PUT", "/video/v1/uploads/muxup_1/cancel", httpx.Response(404))
    await make().cancel_upload(record())


async def test_cancel_too_late_deletes_the_asset_mux_made(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Mux refuses to cancel a finished upload (403); its asset is then deleted, not orphaned."""
    recorder.on("PUT", "/video/v1/uploads/muxup_1/cancel", httpx.Response(403))
    recorder.on("GET", "/video/v1/uploads/muxup_1", upload_body("asset_created", asset_id="a_9"))
    recorder.on("DELETE", "/video/v1/assets/a_9", httpx.Response(204))
    await make().cancel_upload(record())
    assert recorder.calls() == [
        ("PUT", "/video/v1/uploads/muxup_1/cancel"),
        ("GET", "/video/v1/uploads/muxup_1"),
        ("DELETE", "/video/v1/assets/a_9"),
    ]


async def test_cancel_of_an_already_cancelled_upload_stops_there(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 403 for an upload already cancelled: nothing to delete."""
    recorder.on("PUT", "/video/v1/uploads/muxup_1/cancel", httpx.Response(403))
    recorder.on("GET", "/video/v1/uploads/muxup_1", upload_body("cancelled"))
    await make().cancel_upload(record())
    assert ("DELETE", "/video/v1/assets/a_9") not in recorder.calls()
    assert len(recorder.requests) == 2


async def test_delete_deletes_the_asset_and_retries_a_5xx(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """DELETE /video/v1/assets/{id}, retried after a 503 (deleting twice is harmless)."""
    recorder.on("DELETE", "/video/v1/assets/asset_1", httpx.Response(503), httpx.Response(204))
    await make().delete_video(record(provider_asset_id="asset_1"))
    assert recorder.calls() == [("DELETE", "/video/v1/assets/asset_1")] * 2


async def test_delete_of_a_gone_asset_is_not_an_error(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 404 on delete means it is already gone."""
    recorder.on("DELETE", "/video/v1/assets/asset_1", httpx.Response(404))
    await make().delete_video(record(provider_asset_id="asset_1"))


async def test_delete_without_an_asset_cancels_the_upload(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """With no asset yet, deleting means cancelling the direct upload."""
    recorder.on("PUT", "/video/v1/uploads/muxup_1/cancel", upload_body("cancelled"))
    await make().delete_video(record())
    assert recorder.calls() == [("PUT", "/video/v1/uploads/muxup_1/cancel")]


async def test_a_rejected_delete_is_a_domain_error(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """A 401 on delete is ProviderRejected (bad credentials), not an httpx error."""
    recorder.on("DELETE", "/video/v1/assets/asset_1", httpx.Response(401))
    with pytest.raises(ProviderRejected, match="401"):
        await make().delete_video(record(provider_asset_id="asset_1"))


async def test_ids_are_escaped_in_paths(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """An id with a slash cannot reach another endpoint."""
    recorder.on("DELETE", "/video/v1/assets/a%2F..%2Fx", httpx.Response(204))
    await make().delete_video(record(provider_asset_id="a/../x"))
    assert recorder.requests[0].url.raw_path == b"/video/v1/assets/a%2F..%2Fx"


# --- playback -------------------------------------------------------------------------------


def ready(visibility: Visibility) -> MediaUpload:
    """A READY upload with playback id ``play_1``."""
    return record(
        status=UploadStatus.READY,
        playback_id="play_1",
        duration=10.0,
        progress=100,
        metadata=UploadMetadata(visibility=visibility),
    )


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.UNLISTED])
async def test_public_playback_uses_plain_stream_and_image_urls(
    make: Callable[..., MuxVideoProvider], visibility: Visibility
) -> None:
    """Public and unlisted videos play from stream.mux.com without a token."""
    playback = await make().playback(ready(visibility), NOW)
    assert playback.url == "https://stream.mux.com/play_1.m3u8"
    assert playback.thumbnail_url == "https://image.mux.com/play_1/thumbnail.jpg"
    assert playback.mime_type == "application/vnd.apple.mpegurl"
    assert playback.token is None
    assert playback.expires_at is None


async def test_private_playback_is_signed_rs256_for_video_and_thumbnail(
    make: Callable[..., MuxVideoProvider], rsa_key: rsa.RSAPrivateKey, rsa_pem: str
) -> None:
    """PRIVATE: RS256 tokens with kid, sub = playback id, aud v and t, exp = now + TTL."""
    provider = make(
        signing_key_id="key_1", signing_private_key=rsa_pem, playback_token_ttl_seconds=600
    )
    playback = await provider.playback(ready(Visibility.PRIVATE), NOW)
    assert playback.token is not None
    assert playback.thumbnail_token is not None
    assert playback.url == f"https://stream.mux.com/play_1.m3u8?token={playback.token}"
    assert playback.thumbnail_url == (
        f"https://image.mux.com/play_1/thumbnail.jpg?token={playback.thumbnail_token}"
    )
    assert playback.expires_at == NOW + timedelta(seconds=600)
    public = rsa_key.public_key()
    for token, audience in ((playback.token, "v"), (playback.thumbnail_token, "t")):
        assert jwt.get_unverified_header(token)["kid"] == "key_1"
        claims = jwt.decode(
            token, public, algorithms=["RS256"], audience=audience, options={"verify_exp": False}
        )
        assert claims == {
            "sub": "play_1",
            "aud": audience,
            "exp": int((NOW + timedelta(seconds=600)).timestamp()),
            "kid": "key_1",
        }


async def test_the_signing_key_may_be_base64_of_the_pem_as_mux_hands_it_out(
    make: Callable[..., MuxVideoProvider], rsa_key: rsa.RSAPrivateKey, rsa_pem: str
) -> None:
    """Mux's dashboard gives the private key base64-encoded; both forms sign alike."""
    encoded = base64.b64encode(rsa_pem.encode()).decode()
    provider = make(signing_key_id="key_1", signing_private_key=encoded)
    playback = await provider.playback(ready(Visibility.PRIVATE), NOW)
    assert playback.token is not None
    jwt.decode(
        playback.token,
        rsa_key.public_key(),
        algorithms=["RS256"],
        audience="v",
        options={"verify_exp": False},
    )


async def test_private_playback_without_a_signing_key_is_a_clear_conflict(
    make: Callable[..., MuxVideoProvider],
) -> None:
    """No key configured: Conflict naming the settings, not a server error."""
    with pytest.raises(Conflict, match="MUX_SIGNING_KEY_ID"):
        await make().playback(ready(Visibility.PRIVATE), NOW)


async def test_playback_without_a_playback_id_is_a_conflict(
    make: Callable[..., MuxVideoProvider],
) -> None:
    """An upload Mux has not given a playback id yet cannot be played."""
    with pytest.raises(Conflict, match="playback id"):
        await make().playback(record(), NOW)


@pytest.mark.parametrize(
    "key", ["not a key at all", "bm90IGEgcGVt", "-----BEGIN PRIVATE KEY-----x"]
)
def test_an_unreadable_signing_key_fails_at_construction_without_echoing_it(
    make: Callable[..., MuxVideoProvider], key: str
) -> None:
    """A bad key is a ValueError at start, and the message does not contain the key."""
    with pytest.raises(ValueError, match="signing key") as caught:
        make(signing_key_id="key_1", signing_private_key=key)
    assert key not in str(caught.value)


def test_a_non_rsa_signing_key_is_refused(make: Callable[..., MuxVideoProvider]) -> None:
    """RS256 needs RSA: an EC key is refused at construction."""
    pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    with pytest.raises(ValueError, match="RSA"):
        make(signing_key_id="key_1", signing_private_key=pem)


# --- construction ---------------------------------------------------------------------------------


def test_the_provider_is_a_video_provider_named_mux(
    make: Callable[..., MuxVideoProvider],
) -> None:
    """It satisfies the port and names itself ``mux``."""
    provider: VideoProvider = make()
    assert provider.name == "mux"


@pytest.mark.parametrize(
    "overrides",
    [
        {"chunk_size": 1000},
        {"chunk_size": 0},
        {"upload_timeout_seconds": 30},
        {"upload_timeout_seconds": 700_000},
        {"playback_token_ttl_seconds": 0},
        {"signing_key_id": "key_1"},
    ],
)
def test_invalid_options_fail_at_construction(
    make: Callable[..., MuxVideoProvider], overrides: dict[str, Any]
) -> None:
    """Chunk sizes off the 256 KiB grid, timeouts outside Mux's range, a lone key id: refused."""
    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        make(**overrides)


async def test_an_overlong_upload_id_does_not_reach_mux(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """Passthrough holds at most 255 characters; a longer id is refused before any request."""
    with pytest.raises(ValueError, match="passthrough"):
        await make().create_direct_upload(request_for(Visibility.PUBLIC, upload_id="u" * 256))
    assert recorder.requests == []


async def test_cancel_without_a_mux_upload_id_deletes_a_known_asset(
    make: Callable[..., MuxVideoProvider], recorder: Recorder
) -> None:
    """With only the asset known, cancelling deletes that asset; with nothing known, no call."""
    recorder.on("DELETE", "/video/v1/assets/asset_1", httpx.Response(204))
    provider = make()
    await provider.cancel_upload(record(provider_upload_id=None, provider_asset_id="asset_1"))
    await provider.cancel_upload(record(provider_upload_id=None))
    assert recorder.calls() == [("DELETE", "/video/v1/assets/asset_1")]
