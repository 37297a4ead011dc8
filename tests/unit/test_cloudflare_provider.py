"""The Cloudflare Stream provider against httpx's MockTransport: requests, answers, errors."""

from __future__ import annotations

import base64
import json
import logging
import random
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from adapters.providers._http import HttpPolicy, RetrySettings
from adapters.providers.cloudflare import (
    DEFAULT_BASIC_UPLOAD_LIMIT,
    DEFAULT_TUS_CHUNK,
    CloudflareStreamVideoProvider,
    CloudflareWebhookVerifier,
)
from media_core.errors import ProviderRejected, ProviderUnavailable
from media_core.events import ProviderEventKind
from media_core.model import (
    FailureCode,
    MediaUpload,
    UploadMetadata,
    UploadProtocol,
    UploadStatus,
    Visibility,
)
from media_core.ports import DirectUploadRequest, VideoProvider, WebhookVerifier

API = "https://api.cloudflare.com/client/v4"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
TOKEN = "cf-api-token-SECRET-5b1f0c"
UID = "ea95132c15732412d22c1476fa83f27a"
NOW = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
KEY_ID = "8f926b2b01f383510025a78a4dcbf6a"

Handler = Callable[[httpx.Request], httpx.Response]


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    """One RSA key for the module (generating one takes a moment)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def rsa_pem(rsa_key: rsa.RSAPrivateKey) -> str:
    """The key as PKCS#1 PEM, the form Cloudflare's keys endpoint hands out (base64-wrapped)."""
    return rsa_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode()


@attrs.define
class FakeCloudflare:
    """Answers requests from a script of handlers and remembers every request."""

    script: list[Handler]
    requests: list[httpx.Request] = attrs.field(factory=list)
    sleeps: list[float] = attrs.field(factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        handler = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        return handler(request)

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def envelope(result: Any, status: int = 200, **headers: str) -> Handler:
    """A handler answering Cloudflare's success envelope around ``result``."""
    body = {"result": result, "success": True, "errors": [], "messages": []}
    return lambda _request: httpx.Response(status, json=body, headers=headers)


def failure(status: int, message: str = "bad request", **headers: str) -> Handler:
    """A handler answering Cloudflare's failure envelope."""
    body = {"result": None, "success": False, "errors": [{"code": 10005, "message": message}]}
    return lambda _request: httpx.Response(status, json=body, headers=headers)


def make_provider(
    fake: FakeCloudflare, **options: Any
) -> tuple[CloudflareStreamVideoProvider, httpx.AsyncClient]:
    """A provider over ``fake``, built the way the composition root builds it."""
    client = httpx.AsyncClient(
        transport=httpx.MockTransport(fake),
        base_url=API,
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    policy = HttpPolicy(
        provider="cloudflare",
        settings=RetrySettings(attempts=3),
        sleep=fake.sleep,
        rng=random.Random(7),
    )
    options.setdefault("customer_subdomain", "customer-m033z5x00ks6nunl.cloudflarestream.com")
    return CloudflareStreamVideoProvider(
        client, account_id=ACCOUNT, policy=policy, **options
    ), client


def upload_request(
    size: int = 10_000_000,
    visibility: Visibility = Visibility.PRIVATE,
    title: str = "Holiday clip",
    owner_id: str = "user-42",
) -> DirectUploadRequest:
    """A request for an upload slot as the core sends it."""
    return DirectUploadRequest(
        upload_id="up_01",
        owner_id=owner_id,
        file_name="holiday.mp4",
        file_size=size,
        mime_type="video/mp4",
        metadata=UploadMetadata(title=title, visibility=visibility),
        now=NOW,
    )


def stored_upload(
    status: UploadStatus = UploadStatus.PROCESSING,
    visibility: Visibility = Visibility.PUBLIC,
    uid: str | None = UID,
    **changes: Any,
) -> MediaUpload:
    """An upload record as the repository holds it after a Cloudflare create."""
    extra: dict[str, Any] = {}
    if status is UploadStatus.READY:
        extra["duration"] = 5.5
    return MediaUpload(
        id="up_01",
        owner_id="user-42",
        provider="cloudflare",
        file_name="holiday.mp4",
        file_size=10_000_000,
        mime_type="video/mp4",
        metadata=UploadMetadata(title="Holiday clip", visibility=visibility),
        created_at=NOW,
        updated_at=NOW,
        status=status,
        provider_upload_id=uid,
        playback_id=uid,
        **extra,
        **changes,
    )


def video(state: str, **fields: Any) -> dict[str, Any]:
    """A video object as ``GET /stream/{uid}`` returns it."""
    status = {"state": state, **fields.pop("status", {})}
    return {"uid": UID, "status": status, "meta": {"mediaCoreUploadId": "up_01"}, **fields}


def upload_metadata(header: str) -> dict[str, str | None]:
    """Decode a tus ``Upload-Metadata`` header into a dict (a bare key maps to None)."""
    pairs: dict[str, str | None] = {}
    for item in header.split(","):
        key, _, value = item.partition(" ")
        pairs[key] = base64.b64decode(value).decode() if value else None
    return pairs


DIRECT_UPLOAD_OK = envelope({"uploadURL": f"https://upload.videodelivery.net/{UID}", "uid": UID})


@pytest.mark.parametrize(
    ("visibility", "signed"),
    [(Visibility.PUBLIC, False), (Visibility.UNLISTED, False), (Visibility.PRIVATE, True)],
)
async def test_basic_upload_sends_the_documented_body_for_each_visibility(
    visibility: Visibility, signed: bool
) -> None:
    """A basic upload asks for signed URLs exactly when PRIVATE, with limits, meta and creator."""
    fake = FakeCloudflare([DIRECT_UPLOAD_OK])
    provider, _ = make_provider(fake, allowed_origins=("example.com", "*.example.org"))

    await provider.create_direct_upload(upload_request(visibility=visibility))

    [request] = fake.requests
    assert request.method == "POST"
    assert request.url == f"{API}/accounts/{ACCOUNT}/stream/direct_upload"
    assert request.headers["authorization"] == f"Bearer {TOKEN}"
    assert json.loads(request.content) == {
        "maxDurationSeconds": 3600,
        "expiry": "2026-11-24T13:00:00Z",
        "requireSignedURLs": signed,
        "allowedOrigins": ["example.com", "*.example.org"],
        "meta": {"name": "Holiday clip", "mediaCoreUploadId": "up_01"},
        "creator": "user-42",
    }


async def test_basic_upload_ticket_is_a_form_post_whose_uid_is_the_playback_id() -> None:
    """The ticket names the one-time URL, the FORM protocol and the uid as both ids."""
    fake = FakeCloudflare([DIRECT_UPLOAD_OK])
    provider, _ = make_provider(fake, upload_expiry_seconds=1800)

    ticket = await provider.create_direct_upload(upload_request())

    assert ticket.protocol is UploadProtocol.FORM
    assert ticket.method == "POST"
    assert ticket.url == f"https://upload.videodelivery.net/{UID}"
    assert ticket.playback_id == UID
    assert ticket.provider_upload_id == UID
    assert ticket.expires_at == NOW + timedelta(minutes=30)
    assert ticket.chunk_size is None


async def test_basic_upload_is_named_after_the_file_without_a_title_and_skips_long_creators() -> (
    None
):
    """No title: meta.name is the file name; an owner id over 64 characters is not sent."""
    fake = FakeCloudflare([DIRECT_UPLOAD_OK])
    provider, _ = make_provider(fake)

    await provider.create_direct_upload(upload_request(title="", owner_id="o" * 65))

    body = json.loads(fake.requests[0].content)
    assert body["meta"]["name"] == "holiday.mp4"
    assert "creator" not in body


def tus_created(_request: httpx.Request) -> httpx.Response:
    """Cloudflare's tus initiate answer: 201 with Location and stream-media-id."""
    return httpx.Response(
        201,
        headers={
            "Location": f"https://upload.cloudflarestream.com/tus/{UID}?tusv2=true",
            "stream-media-id": UID,
        },
    )


@pytest.mark.parametrize(
    ("delta", "protocol", "path"),
    [
        (-1, UploadProtocol.FORM, f"/client/v4/accounts/{ACCOUNT}/stream/direct_upload"),
        (0, UploadProtocol.FORM, f"/client/v4/accounts/{ACCOUNT}/stream/direct_upload"),
        (1, UploadProtocol.TUS, f"/client/v4/accounts/{ACCOUNT}/stream"),
    ],
)
async def test_files_up_to_the_basic_limit_get_a_form_upload_and_larger_ones_tus(
    delta: int, protocol: UploadProtocol, path: str
) -> None:
    """One byte under and at the 200 MB limit go by form; one byte over goes by tus."""
    fake = FakeCloudflare([DIRECT_UPLOAD_OK if protocol is UploadProtocol.FORM else tus_created])
    provider, _ = make_provider(fake)
    assert provider.basic_upload_limit == DEFAULT_BASIC_UPLOAD_LIMIT == 200_000_000

    ticket = await provider.create_direct_upload(
        upload_request(size=DEFAULT_BASIC_UPLOAD_LIMIT + delta)
    )

    assert ticket.protocol is protocol
    assert fake.requests[0].url.path == path


async def test_the_basic_limit_is_a_constructor_argument() -> None:
    """A smaller configured limit moves the threshold with it."""
    fake = FakeCloudflare([tus_created])
    provider, _ = make_provider(fake, basic_upload_limit=1000)

    ticket = await provider.create_direct_upload(upload_request(size=1001))

    assert ticket.protocol is UploadProtocol.TUS


@pytest.mark.parametrize("visibility", [Visibility.PUBLIC, Visibility.PRIVATE])
async def test_tus_create_sends_length_metadata_and_creator(visibility: Visibility) -> None:
    """tus initiate carries Tus-Resumable, Upload-Length, base64 Upload-Metadata and the creator."""
    fake = FakeCloudflare([tus_created])
    provider, _ = make_provider(fake, allowed_origins=("example.com", "test.com"))

    await provider.create_direct_upload(upload_request(size=300_000_000, visibility=visibility))

    [request] = fake.requests
    assert request.method == "POST"
    assert request.url.params["direct_user"] == "true"
    assert request.headers["tus-resumable"] == "1.0.0"
    assert request.headers["upload-length"] == "300000000"
    assert request.headers["upload-creator"] == "user-42"
    assert ", " not in request.headers["upload-metadata"]
    expected: dict[str, str | None] = {
        "name": "Holiday clip",
        "maxDurationSeconds": "3600",
        "expiry": "2026-11-24T13:00:00Z",
        "mediaCoreUploadId": "up_01",
        "allowedorigins": "example.com,test.com",
    }
    if visibility is Visibility.PRIVATE:
        expected["requiresignedurls"] = None
    assert upload_metadata(request.headers["upload-metadata"]) == expected


async def test_tus_ticket_takes_the_url_from_location_and_the_uid_from_stream_media_id() -> None:
    """The ticket's URL is the Location (resolved if relative); its ids are stream-media-id."""
    fake = FakeCloudflare(
        [
            lambda _r: httpx.Response(
                201, headers={"Location": f"/client/v4/tus/{'0' * 32}", "stream-media-id": UID}
            )
        ]
    )
    provider, _ = make_provider(fake)

    ticket = await provider.create_direct_upload(upload_request(size=300_000_000))

    assert ticket.url == f"https://api.cloudflare.com/client/v4/tus/{'0' * 32}"
    assert ticket.playback_id == ticket.provider_upload_id == UID
    assert ticket.protocol is UploadProtocol.TUS
    assert ticket.method == "PATCH"
    assert ticket.headers == {"Tus-Resumable": "1.0.0"}
    assert ticket.chunk_size == DEFAULT_TUS_CHUNK == 52_428_800
    assert ticket.chunk_size % (256 * 1024) == 0


async def test_tus_uid_falls_back_to_the_location_path_without_stream_media_id() -> None:
    """Without the stream-media-id header the uid is the last segment of the Location path."""
    fake = FakeCloudflare(
        [lambda _r: httpx.Response(201, headers={"Location": f"https://upload.example/tus/{UID}"})]
    )
    provider, _ = make_provider(fake)

    ticket = await provider.create_direct_upload(upload_request(size=300_000_000))

    assert ticket.playback_id == UID


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Location": "https://upload.example/tus/x", "stream-media-id": "../../etc"},
    ],
)
async def test_tus_answer_without_location_or_with_an_unsafe_uid_is_unavailable(
    headers: dict[str, str],
) -> None:
    """A tus answer we cannot use raises ProviderUnavailable after one request."""
    fake = FakeCloudflare([lambda _r: httpx.Response(201, headers=headers)])
    provider, _ = make_provider(fake)

    with pytest.raises(ProviderUnavailable):
        await provider.create_direct_upload(upload_request(size=300_000_000))
    assert len(fake.requests) == 1


def _timeout(request: httpx.Request) -> httpx.Response:
    raise httpx.ReadTimeout("read timed out", request=request)


@pytest.mark.parametrize("size", [1000, 300_000_000])
@pytest.mark.parametrize("handler", [failure(503, "overloaded"), _timeout])
async def test_creates_are_not_retried_after_a_possibly_successful_attempt(
    size: int, handler: Handler
) -> None:
    """A 503 or a read timeout on create raises ProviderUnavailable without a second create."""
    fake = FakeCloudflare([handler, DIRECT_UPLOAD_OK])
    provider, _ = make_provider(fake)

    with pytest.raises(ProviderUnavailable):
        await provider.create_direct_upload(upload_request(size=size))
    assert len(fake.requests) == 1


async def test_create_refused_by_cloudflare_is_rejected_with_its_message() -> None:
    """A 4xx becomes ProviderRejected, naming Cloudflare's reason."""
    fake = FakeCloudflare([failure(400, "maxDurationSeconds must be at most 21600")])
    provider, _ = make_provider(fake)

    with pytest.raises(ProviderRejected, match="maxDurationSeconds must be at most 21600"):
        await provider.create_direct_upload(upload_request())


@pytest.mark.parametrize(
    "handler",
    [
        envelope({"uid": UID}),
        envelope({"uploadURL": "https://upload.videodelivery.net/x", "uid": "a/b"}),
        lambda _r: httpx.Response(200, text="<html>"),
        lambda _r: httpx.Response(200, json=[1, 2]),
        lambda _r: httpx.Response(200, json={"success": True, "result": None}),
    ],
)
async def test_unusable_create_answers_are_unavailable(handler: Handler) -> None:
    """A 2xx without an upload URL, with a bad uid or without JSON raises ProviderUnavailable."""
    provider, _ = make_provider(FakeCloudflare([handler]))

    with pytest.raises(ProviderUnavailable):
        await provider.create_direct_upload(upload_request())


async def test_a_2xx_that_reports_failure_is_rejected() -> None:
    """Cloudflare's envelope with success false is a refusal even under status 200."""
    provider, _ = make_provider(FakeCloudflare([failure(200, "quota exceeded")]))

    with pytest.raises(ProviderRejected, match="quota exceeded"):
        await provider.create_direct_upload(upload_request())


async def test_reads_are_retried_on_429_honouring_retry_after() -> None:
    """A throttled read waits at least Retry-After, then succeeds on the next attempt."""
    fake = FakeCloudflare(
        [failure(429, "rate limited", **{"Retry-After": "2"}), envelope(video("queued"))]
    )
    provider, _ = make_provider(fake)

    events = await provider.fetch_events(stored_upload(UploadStatus.UPLOADING), NOW)

    assert len(fake.requests) == 2
    assert len(fake.sleeps) == 1
    assert fake.sleeps[0] >= 2.0
    assert [e.kind for e in events] == [ProviderEventKind.PROCESSING]


async def test_reads_give_up_after_the_bounded_attempts() -> None:
    """Persistent 5xx answers end in ProviderUnavailable after exactly three attempts."""
    fake = FakeCloudflare([failure(500, "internal")])
    provider, _ = make_provider(fake)

    with pytest.raises(ProviderUnavailable):
        await provider.fetch_events(stored_upload(), NOW)
    assert len(fake.requests) == 3
    assert len(fake.sleeps) == 2


@pytest.mark.parametrize(
    ("fields", "kind", "progress"),
    [
        ({}, ProviderEventKind.PROCESSING, None),
        ({"status": {"pctComplete": "39.000000"}}, ProviderEventKind.PROCESSING, 39),
        ({"status": {"pctComplete": "99.9"}}, ProviderEventKind.PROCESSING, 99),
        ({"status": {"pctComplete": "n/a"}}, ProviderEventKind.PROCESSING, None),
        ({"readyToStream": True, "duration": -1}, ProviderEventKind.PROCESSING, None),
        ({"readyToStream": True, "duration": 12.5}, ProviderEventKind.READY, 100),
    ],
)
async def test_fetch_events_reports_processing_progress_and_readiness(
    fields: dict[str, Any], kind: ProviderEventKind, progress: int | None
) -> None:
    """inprogress maps to PROCESSING with pctComplete (a string); a playable video to READY."""
    fake = FakeCloudflare([envelope(video("inprogress", **fields))])
    provider, _ = make_provider(fake)

    [event] = await provider.fetch_events(stored_upload(), NOW)

    assert fake.requests[0].method == "GET"
    assert fake.requests[0].url.path == f"/client/v4/accounts/{ACCOUNT}/stream/{UID}"
    assert event.kind is kind
    assert event.progress == progress
    assert event.provider == "cloudflare"
    assert event.upload_id == "up_01"
    assert event.playback_id == event.provider_upload_id == UID


async def test_fetch_events_maps_a_ready_video_with_its_facts() -> None:
    """A ready video gives READY with duration, thumbnail and aspect ratio."""
    ready = video(
        "ready",
        readyToStream=True,
        duration=5.5,
        thumbnail=f"https://customer-x.cloudflarestream.com/{UID}/thumbnails/thumbnail.jpg",
        input={"width": 1920, "height": 1080},
    )
    provider, _ = make_provider(FakeCloudflare([envelope(ready)]))

    [event] = await provider.fetch_events(stored_upload(), NOW)

    assert event.kind is ProviderEventKind.READY
    assert event.duration == 5.5
    assert event.thumbnail_url == ready["thumbnail"]
    assert event.aspect_ratio == "16:9"
    assert event.event_type == "video.ready"


@pytest.mark.parametrize(
    ("code", "failure_code"),
    [
        ("ERR_NON_VIDEO", FailureCode.INVALID_FILE),
        ("ERR_DURATION_EXCEED_CONSTRAINT", FailureCode.INVALID_FILE),
        ("ERR_FETCH_ORIGIN_ERROR", FailureCode.PROVIDER_ERROR),
        ("ERR_UNKNOWN", FailureCode.PROVIDER_ERROR),
    ],
)
async def test_fetch_events_maps_errors_to_failure_codes(
    code: str, failure_code: FailureCode
) -> None:
    """An error state becomes FAILED with a code from errorReasonCode and its text as reason."""
    errored = video("error", status={"errorReasonCode": code, "errorReasonText": "It broke."})
    provider, _ = make_provider(FakeCloudflare([envelope(errored)]))

    [event] = await provider.fetch_events(stored_upload(), NOW)

    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is failure_code
    assert event.failure_reason == f"It broke. ({code})"


async def test_fetch_events_says_nothing_while_cloudflare_waits_for_the_bytes() -> None:
    """pendingupload yields no event."""
    provider, _ = make_provider(FakeCloudflare([envelope(video("pendingupload"))]))

    assert await provider.fetch_events(stored_upload(UploadStatus.UPLOADING), NOW) == ()


async def test_fetch_delivery_ids_are_derived_from_content() -> None:
    """The same facts read twice share a delivery id; a different progress gets another."""
    first = video("inprogress", status={"pctComplete": "40"}, modified="2026-11-24T12:00:00Z")
    again = video("inprogress", status={"pctComplete": "40.000000"}, modified="2026-11-24T12:01Z")
    later = video("inprogress", status={"pctComplete": "41"})
    fake = FakeCloudflare([envelope(first), envelope(again), envelope(later)])
    provider, _ = make_provider(fake)

    ids = [(await provider.fetch_events(stored_upload(), NOW))[0].delivery_id for _ in range(3)]

    assert ids[0] == ids[1]
    assert ids[2] != ids[0]


async def test_a_vanished_video_fails_a_processing_upload_but_not_a_waiting_one() -> None:
    """404 on read: PROCESSING becomes FAILED (deleted); UPLOADING is left to expiry."""
    fake = FakeCloudflare([failure(404, "not found")])
    provider, _ = make_provider(fake)

    assert await provider.fetch_events(stored_upload(UploadStatus.UPLOADING), NOW) == ()
    [event] = await provider.fetch_events(stored_upload(UploadStatus.PROCESSING), NOW)

    assert event.kind is ProviderEventKind.FAILED
    assert event.failure_code is FailureCode.DELETED


async def test_an_upload_without_a_uid_is_not_looked_up_or_deleted() -> None:
    """No uid yet: fetch, cancel and delete send nothing."""
    fake = FakeCloudflare([envelope(video("ready"))])
    provider, _ = make_provider(fake)
    upload = stored_upload(UploadStatus.UPLOADING, uid=None)

    assert await provider.fetch_events(upload, NOW) == ()
    await provider.cancel_upload(upload)
    await provider.delete_video(upload)

    assert fake.requests == []


@pytest.mark.parametrize(
    "answer",
    [
        {"uid": UID, "status": {"state": "exploded"}},
        {"uid": "f" * 32, "status": {"state": "ready"}},
        {"uid": UID, "status": "ready"},
    ],
)
async def test_fetch_events_refuses_unexpected_video_objects(answer: dict[str, Any]) -> None:
    """An unknown state, another video's uid or a wrong shape raises ProviderUnavailable."""
    provider, _ = make_provider(FakeCloudflare([envelope(answer)]))

    with pytest.raises(ProviderUnavailable):
        await provider.fetch_events(stored_upload(), NOW)


@pytest.mark.parametrize("operation", ["cancel_upload", "delete_video"])
@pytest.mark.parametrize("status", [200, 404])
async def test_cancel_and_delete_remove_the_video_and_accept_a_missing_one(
    operation: str, status: int
) -> None:
    """Both send DELETE /stream/{uid}; a video already gone is not an error."""
    fake = FakeCloudflare([lambda _r: httpx.Response(status)])
    provider, _ = make_provider(fake)

    await getattr(provider, operation)(stored_upload())

    [request] = fake.requests
    assert request.method == "DELETE"
    assert request.url.path == f"/client/v4/accounts/{ACCOUNT}/stream/{UID}"


async def test_delete_refused_by_cloudflare_is_rejected() -> None:
    """A 403 on delete is ProviderRejected."""
    provider, _ = make_provider(FakeCloudflare([failure(403, "forbidden")]))

    with pytest.raises(ProviderRejected):
        await provider.delete_video(stored_upload())


@pytest.mark.parametrize(
    "subdomain",
    [
        "customer-m033z5x00ks6nunl.cloudflarestream.com",
        "https://customer-m033z5x00ks6nunl.cloudflarestream.com/",
        "customer-m033z5x00ks6nunl",
        "m033z5x00ks6nunl",
    ],
)
async def test_public_playback_uses_the_customer_subdomain(subdomain: str) -> None:
    """PUBLIC playback is the HLS manifest and thumbnail under the customer host, no token."""
    fake = FakeCloudflare([envelope({})])
    provider, _ = make_provider(fake, customer_subdomain=subdomain)

    playback = await provider.playback(stored_upload(UploadStatus.READY), NOW)

    host = "https://customer-m033z5x00ks6nunl.cloudflarestream.com"
    assert playback.url == f"{host}/{UID}/manifest/video.m3u8"
    assert playback.thumbnail_url == f"{host}/{UID}/thumbnails/thumbnail.jpg"
    assert playback.token is None
    assert playback.mime_type == "application/vnd.apple.mpegurl"
    assert fake.requests == []


async def test_playback_host_comes_from_the_video_without_a_configured_subdomain() -> None:
    """No subdomain: the host is read from the stored thumbnail, else from the video's URLs."""
    hls = f"https://customer-abc123.cloudflarestream.com/{UID}/manifest/video.m3u8"
    fake = FakeCloudflare([envelope(video("ready", playback={"hls": hls}))])
    provider, _ = make_provider(fake, customer_subdomain=None)
    thumb = f"https://customer-zzz.cloudflarestream.com/{UID}/thumbnails/thumbnail.jpg"

    from_thumbnail = await provider.playback(
        stored_upload(UploadStatus.READY, thumbnail_url=thumb), NOW
    )
    from_video = await provider.playback(stored_upload(UploadStatus.READY), NOW)

    assert from_thumbnail.url.startswith("https://customer-zzz.cloudflarestream.com/")
    assert from_video.url == hls
    assert len(fake.requests) == 1


async def test_private_playback_self_signs_an_rs256_token_with_the_stream_key(
    rsa_key: rsa.RSAPrivateKey, rsa_pem: str
) -> None:
    """With a signing key, PRIVATE playback carries a local RS256 JWT in place of the uid."""
    fake = FakeCloudflare([envelope({})])
    rules = [{"type": "ip.geoip.country", "country": ["GB"], "action": "allow"}]
    provider, _ = make_provider(
        fake,
        signing_key_id=KEY_ID,
        signing_key_pem=rsa_pem,
        playback_token_ttl_seconds=7200,
        access_rules=rules,
    )

    playback = await provider.playback(stored_upload(UploadStatus.READY, Visibility.PRIVATE), NOW)

    assert fake.requests == []
    assert playback.token is not None
    assert jwt.get_unverified_header(playback.token) == {
        "alg": "RS256",
        "kid": KEY_ID,
        "typ": "JWT",
    }
    claims = jwt.decode(
        playback.token,
        rsa_key.public_key(),
        algorithms=["RS256"],
        options={"verify_exp": False},
    )
    expires = NOW + timedelta(hours=2)
    assert claims == {
        "sub": UID,
        "kid": KEY_ID,
        "exp": int(expires.timestamp()),
        "accessRules": rules,
    }
    host = "https://customer-m033z5x00ks6nunl.cloudflarestream.com"
    assert playback.url == f"{host}/{playback.token}/manifest/video.m3u8"
    assert playback.thumbnail_url == f"{host}/{playback.token}/thumbnails/thumbnail.jpg"
    assert playback.thumbnail_token == playback.token
    assert playback.expires_at == expires


async def test_the_signing_key_may_be_given_base64_encoded_as_cloudflare_returns_it(
    rsa_key: rsa.RSAPrivateKey, rsa_pem: str
) -> None:
    """The base64 ``pem`` field of Cloudflare's keys API is accepted as it is."""
    provider, _ = make_provider(
        FakeCloudflare([envelope({})]),
        signing_key_id=KEY_ID,
        signing_key_pem=base64.b64encode(rsa_pem.encode()).decode(),
    )

    playback = await provider.playback(stored_upload(UploadStatus.READY, Visibility.PRIVATE), NOW)

    assert playback.token is not None
    jwt.decode(
        playback.token, rsa_key.public_key(), algorithms=["RS256"], options={"verify_exp": False}
    )


async def test_private_playback_without_a_key_asks_the_token_endpoint() -> None:
    """Without a signing key the token comes from POST /stream/{uid}/token with our expiry."""
    fake = FakeCloudflare([envelope({"token": "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"})])
    provider, _ = make_provider(fake)

    playback = await provider.playback(stored_upload(UploadStatus.READY, Visibility.PRIVATE), NOW)

    [request] = fake.requests
    assert request.method == "POST"
    assert request.url.path == f"/client/v4/accounts/{ACCOUNT}/stream/{UID}/token"
    assert json.loads(request.content) == {"exp": int((NOW + timedelta(hours=1)).timestamp())}
    assert playback.token == "eyJhbGciOi.eyJzdWIiOi.c2lnbmF0dXJl"
    assert f"/{playback.token}/manifest/video.m3u8" in playback.url


async def test_an_unusable_token_answer_is_unavailable() -> None:
    """A token endpoint answer without a token-shaped string raises ProviderUnavailable."""
    provider, _ = make_provider(FakeCloudflare([envelope({"token": "a/b c"})]))

    with pytest.raises(ProviderUnavailable):
        await provider.playback(stored_upload(UploadStatus.READY, Visibility.PRIVATE), NOW)


@pytest.mark.parametrize(
    "options",
    [
        {"account_id": "../x"},
        {"max_duration_seconds": 0},
        {"max_duration_seconds": 36001},
        {"upload_expiry_seconds": 60},
        {"basic_upload_limit": 0},
        {"playback_token_ttl_seconds": 86401},
        {"tus_chunk_size": 5 * 1024 * 1024 + 1},
        {"tus_chunk_size": 4 * 1024 * 1024},
        {"tus_chunk_size": 256 * 1024 * 1024},
        {"signing_key_id": KEY_ID},
        {"customer_subdomain": "bad host/with path"},
    ],
)
def test_the_constructor_refuses_settings_cloudflare_would_refuse(options: dict[str, Any]) -> None:
    """Out-of-range limits, unsafe ids and half a signing key fail at construction."""
    settings: dict[str, Any] = {"account_id": ACCOUNT, **options}
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    with pytest.raises(ValueError):  # noqa: PT011 - each case has its own message
        CloudflareStreamVideoProvider(client, policy=HttpPolicy(provider="cloudflare"), **settings)


@pytest.mark.parametrize(
    "pem",
    [
        "-----BEGIN RSA PRIVATE KEY-----\nSECRETKEYMATERIAL\n-----END RSA PRIVATE KEY-----\n",
        "not-base64-SECRETKEYMATERIAL!",
    ],
)
def test_an_unreadable_signing_key_fails_without_quoting_it(pem: str) -> None:
    """A broken key is refused at construction, and the message does not repeat it."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    with pytest.raises(ValueError) as caught:  # noqa: PT011 - the message is checked below
        CloudflareStreamVideoProvider(
            client,
            account_id=ACCOUNT,
            policy=HttpPolicy(provider="cloudflare"),
            signing_key_id=KEY_ID,
            signing_key_pem=pem,
        )
    assert "SECRETKEYMATERIAL" not in str(caught.value)
    assert caught.value.__cause__ is None


def test_a_non_rsa_signing_key_is_refused() -> None:
    """Stream signs RS256, so an EC key is refused at construction."""
    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        .decode()
    )
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda r: httpx.Response(200)))

    with pytest.raises(TypeError, match="RSA"):
        CloudflareStreamVideoProvider(
            client,
            account_id=ACCOUNT,
            policy=HttpPolicy(provider="cloudflare"),
            signing_key_id=KEY_ID,
            signing_key_pem=ec_pem,
        )


async def test_no_secret_reaches_messages_logs_or_repr(
    caplog: pytest.LogCaptureFixture, rsa_pem: str
) -> None:
    """API token, signing key and upload URLs appear in no error, log record or repr."""
    upload_url = f"https://upload.videodelivery.net/{UID}-capability"
    fake = FakeCloudflare(
        [
            envelope({"uploadURL": upload_url, "uid": UID}),
            failure(429, "slow down", **{"Retry-After": "1"}),
            failure(503, "unavailable"),
            failure(500, "internal"),
            failure(400, "bad request"),
            _timeout,
        ]
    )
    provider, _ = make_provider(fake, signing_key_id=KEY_ID, signing_key_pem=rsa_pem)
    caplog.set_level(logging.DEBUG)
    messages: list[str] = []

    await provider.create_direct_upload(upload_request())
    for call in (
        lambda: provider.fetch_events(stored_upload(), NOW),
        lambda: provider.delete_video(stored_upload()),
        lambda: provider.create_direct_upload(upload_request()),
    ):
        with pytest.raises((ProviderUnavailable, ProviderRejected)) as caught:
            await call()
        messages.append(str(caught.value))

    pem_body = "".join(rsa_pem.splitlines()[1:-1])[:40]
    text = "\n".join([*messages, caplog.text, repr(provider)])
    assert caplog.records, "the retries should have been logged"
    for secret in (TOKEN, pem_body, upload_url):
        assert secret not in text


def test_the_adapters_satisfy_their_ports() -> None:
    """The provider is a VideoProvider and the verifier a WebhookVerifier (checked by mypy too)."""
    provider, _ = make_provider(FakeCloudflare([envelope({})]))
    as_port: VideoProvider = provider
    verifier: WebhookVerifier = CloudflareWebhookVerifier(secrets="s3cret")

    assert as_port.name == "cloudflare"
    assert verifier.provider == "cloudflare"
