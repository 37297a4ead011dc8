"""Nothing a client sends causes a 5xx: the raw edges of the HTTP API, on SQLite and PostgreSQL.

Issue 16's findings each have a regression test here (the number is in the docstring), then
hypothesis drives the same edges with hostile input: ``st.binary()`` bodies, JSON built from
text with surrogates, control and format characters, other scripts' digits in every integer,
and ids with NUL, percent-encodings and 5,000 characters. Every property asserts: no 5xx, the
route's documented 4xx type, and the stored records unchanged.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import re
import socket
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from attrs import define
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.webhooks import NORMALIZED_SIGNATURE_HEADER, sign_normalized
from entrypoints.settings import CloudflareSettings, MuxSettings
from entrypoints.wiring.secrets import webhook_secrets_for
from tests.strategies import hostile_ids, hostile_integers, hostile_text
from tests.support.service import RunningService, make_video
from tests.support.threaded import BACKENDS, service_in_thread

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
MUX_SECRET = "mux-webhook-secret"
CLOUDFLARE_SECRET = "cloudflare-webhook-secret"
CREATE = "/api/v1/media/upload/direct"
WEBHOOK = "/api/v1/media/webhook/upload-complete"
TUS_THRESHOLD = 100_000
HTTP = settings(
    max_examples=25,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
"""Each HTTP property: a bounded, seeded run (two backends, several properties, CI-sized)."""


@define
class Edge:
    """The running service and a synchronous client for it."""

    service: RunningService
    client: httpx.Client

    def auth(self, user: str = "alice") -> dict[str, str]:
        """The bearer header of ``user``."""
        return self.service.auth(user)

    def create(self, user: str = "alice", **overrides: Any) -> httpx.Response:
        """A create request (a 2 KiB MP4 unless overridden)."""
        body: dict[str, Any] = {
            "fileName": "clip.mp4",
            "fileSize": 2048,
            "mimeType": "video/mp4",
            "metadata": {"title": "A clip", "description": "", "visibility": "PUBLIC"},
        }
        body.update(overrides)
        return self.post_json(CREATE, json.dumps(body).encode(), user=user)

    def post_json(self, path: str, raw: bytes, *, user: str = "alice") -> httpx.Response:
        """POST ``raw`` bytes as application/json."""
        headers = {**self.auth(user), "Content-Type": "application/json"}
        return self.client.post(path, content=raw, headers=headers)

    def new_upload(self, user: str = "alice", **overrides: Any) -> dict[str, Any]:
        """A created upload's body."""
        response = self.create(user, **overrides)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def listing(self, user: str = "alice") -> list[dict[str, Any]]:
        """Every upload of ``user``, newest first (one page of 100)."""
        response = self.client.get("/api/v1/media?limit=100", headers=self.auth(user))
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def status(self, upload_id: str, user: str = "alice") -> dict[str, Any]:
        """The stored upload as the status route shows it."""
        response = self.client.get(f"/api/v1/media/status/{upload_id}", headers=self.auth(user))
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def sign(self, raw: bytes, timestamp: int | None = None) -> dict[str, str]:
        """Headers that sign ``raw`` for the normalized route, as the fake provider signs."""
        secret = webhook_secrets_for(self.service.settings)[0]
        return sign_normalized(secret, timestamp or int(time.time()), raw)

    def deliveries(self, outcome: str) -> float:
        """``media_webhook_deliveries_total`` of the fake provider with ``outcome``."""
        text = self.client.get("/metrics").text
        for line in text.splitlines():
            if line.startswith("media_webhook_deliveries_total{") and (
                'provider="fake"' in line and f'outcome="{outcome}"' in line
            ):
                return float(line.rsplit(" ", 1)[1])
        return 0.0


@pytest.fixture(scope="module", params=BACKENDS)
def edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Edge]:
    """The service on SQLite, then on PostgreSQL, with limits that hypothesis cannot exhaust."""
    data_dir: Path = tmp_path_factory.mktemp(f"edges-{request.param}")
    with (
        service_in_thread(
            data_dir,
            request.param,
            metrics_mode="open",
            create_rate_per_minute=1_000_000,
            create_rate_burst=1_000_000,
            webhook_rate_per_minute=1_000_000,
            fake_tus_threshold_bytes=TUS_THRESHOLD,
        ) as service,
        httpx.Client(base_url=service.base_url, timeout=30.0) as client,
    ):
        yield Edge(service, client)


@pytest.fixture(scope="module", params=BACKENDS)
def provider_edge(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Edge]:
    """A service whose Mux and Cloudflare webhook routes are mounted (their APIs are never
    reached: taking a delivery asks nothing of the provider), on each backend."""
    data_dir: Path = tmp_path_factory.mktemp(f"provider-edges-{request.param}")
    with (
        service_in_thread(
            data_dir,
            request.param,
            webhook_rate_per_minute=1_000_000,
            mux=MuxSettings(
                token_id="id",
                token_secret="s",
                webhook_secrets=(MUX_SECRET,),
                base_url="http://127.0.0.1:9",
            ),
            cloudflare=CloudflareSettings(
                account_id="acc",
                api_token="t",
                webhook_secrets=(CLOUDFLARE_SECRET,),
                base_url="http://127.0.0.1:9",
            ),
        ) as service,
        httpx.Client(base_url=service.base_url, timeout=30.0) as client,
    ):
        yield Edge(service, client)


def problem_type(response: httpx.Response) -> str:
    """The problem type of a problem+json answer (asserting it is one)."""
    assert response.headers["content-type"].startswith("application/problem+json"), response.text
    kind: str = response.json()["type"]
    return kind.removeprefix("/problems/")


# --- findings 1, 5, 6, 7: the create body --------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param(b'"title": "\\ud800"', id="title"),
        pytest.param(b'"description": "a\\udfffb"', id="description"),
        pytest.param(b'"extra": {"\\ud800": "x"}', id="extra-key"),
    ],
)
def test_a_lone_surrogate_in_metadata_is_malformed_json(edge: Edge, raw: bytes) -> None:
    """Finding 1: a lone-surrogate escape is 400 malformed-json, never stored nor echoed."""
    before = edge.listing()
    body = (
        b'{"fileName": "clip.mp4", "fileSize": 10, "mimeType": "video/mp4", "metadata": {'
        + raw
        + b"}}"
    )
    response = edge.post_json(CREATE, body)
    assert response.status_code == 400
    assert problem_type(response) == "malformed-json"
    assert edge.listing() == before


@pytest.mark.parametrize("name", ["\\ud800.mp4", "a\\udfffb.mp4", "clip\\ud83d.mp4"])
def test_a_lone_surrogate_in_the_file_name_is_malformed_json(edge: Edge, name: str) -> None:
    """Finding 1 (SQLite answered 500 for file names): 400 malformed-json, nothing stored."""
    before = edge.listing()
    body = f'{{"fileName": "{name}", "fileSize": 10, "mimeType": "video/mp4"}}'.encode()
    response = edge.post_json(CREATE, body)
    assert response.status_code == 400
    assert problem_type(response) == "malformed-json"
    assert edge.listing() == before


@pytest.mark.parametrize(
    "encode",
    [
        pytest.param(lambda text: text.encode("utf-16"), id="utf-16-bom"),
        pytest.param(lambda text: text.encode("utf-16-le"), id="utf-16-le"),
        pytest.param(
            lambda text: text.replace("QQ", "\ud83d\ude00").encode("utf-8", "surrogatepass"),
            id="cesu-8",
        ),
    ],
)
def test_a_create_body_that_is_not_utf8_is_malformed_json(edge: Edge, encode: Any) -> None:
    """Finding 5: UTF-16 (with or without BOM) and CESU-8 bodies are not guessed into JSON."""
    before = edge.listing()
    text = json.dumps(
        {"fileName": "clip.mp4", "fileSize": 10, "mimeType": "video/mp4",
         "metadata": {"title": "QQ"}},
        ensure_ascii=False,
    )  # fmt: skip
    response = edge.post_json(CREATE, encode(text))
    assert response.status_code == 400
    assert problem_type(response) == "malformed-json"
    assert edge.listing() == before


def test_invisible_characters_are_not_stored(edge: Edge) -> None:
    """Finding 6: word joiner and BOM go like the zero-width space; an emoji's ZWJ stays."""
    upload = edge.new_upload(
        metadata={"title": "a\u2060b\ufeffc\u200b 👩\u200d💻", "description": "x\ufeffy"}
    )
    stored = edge.status(upload["id"])
    assert stored["metadata"]["title"] == "abc 👩\u200d💻"
    assert stored["metadata"]["description"] == "xy"


@pytest.mark.parametrize(
    "name", ["a.exe.mp4", "movie.php.mp4", "x.html.mp4", "x.svg.mp4", "a\u0000.mp4", "a\x00b.mp4"]
)
def test_dangerous_file_names_are_refused(edge: Edge, name: str) -> None:
    """Finding 7: inner executable or markup extensions and NUL: 422 invalid-file-name."""
    before = edge.listing()
    response = edge.create(fileName=name)
    assert response.status_code == 422
    assert problem_type(response) == "invalid-file-name"
    assert response.json()["errors"][0]["pointer"] == "/fileName"
    assert edge.listing() == before


# --- finding 3: integers -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["²", "\uff15", "\u0665", "1²", "9" * 30])
def test_a_list_limit_of_other_digits_is_invalid_input(edge: Edge, limit: str) -> None:
    """Finding 3: ``?limit=²`` is the route's 422 (it was a 500), naming the parameter."""
    response = edge.client.get("/api/v1/media", params={"limit": limit}, headers=edge.auth())
    assert response.status_code == 422
    assert problem_type(response) == "invalid-input"
    assert response.json()["errors"][0]["parameter"] == "limit"


@pytest.mark.parametrize("timestamp", ["²", "\uff11\uff17\uff10\uff10\uff10\uff10\uff10\uff10"])
def test_a_signature_timestamp_of_other_digits_is_invalid_signature(
    edge: Edge, timestamp: str
) -> None:
    """Finding 3: ``t=²`` answered 500 on every webhook route, with no secret needed."""
    upload = edge.new_upload()
    raw = json.dumps({"eventId": "e", "uploadId": upload["id"], "status": "processing"}).encode()
    header = f"t={timestamp},v1={'0' * 64}".encode()
    response = edge.client.post(
        WEBHOOK,
        content=raw,
        headers=[(NORMALIZED_SIGNATURE_HEADER.encode(), header)],
    )
    assert response.status_code == 401
    assert problem_type(response) == "invalid-signature"
    assert edge.status(upload["id"])["status"] == "uploading"


@pytest.fixture(scope="module")
def private_video(edge: Edge) -> str:
    """The playback id of a READY private video of the fake provider (a real 1 s MP4)."""
    video = make_video(seconds=1.0)
    created = edge.new_upload(
        fileSize=len(video), metadata={"title": "private", "visibility": "PRIVATE"}
    )
    put = edge.client.put(created["upload"]["url"], content=video)
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 30
    while (stored := edge.status(created["id"]))["status"] != "ready":
        assert time.monotonic() < deadline, stored
        time.sleep(0.05)
    playback_id: str = stored["playbackId"]
    return playback_id


def video_with_token(edge: Edge, playback_id: str, token: str) -> httpx.Response:
    """GET the fake provider's video file with ``?token=``."""
    path = f"/api/v1/media/fake/videos/{playback_id}/video?token={quote(token, safe='.')}"
    return edge.client.get(path)


def test_a_fake_playback_token_of_other_digits_is_not_found(edge: Edge, private_video: str) -> None:
    """Finding 3: the fake provider's ``?token=²…`` answered 500; now the same 404 as any."""
    playback = edge.client.get(
        f"/api/v1/media/{private_video}/playback", headers=edge.auth()
    ).json()
    assert video_with_token(edge, private_video, playback["token"]).status_code == 200
    for token in ("².abc", "\uff19\uff19\uff19.abc", "1e9.x", "\u0669" * 10 + ".x"):
        assert video_with_token(edge, private_video, token).status_code == 404, token


def tus_url(edge: Edge) -> str:
    """The tus URL of a new upload over the threshold."""
    created = edge.new_upload(fileSize=TUS_THRESHOLD + 1)
    assert created["upload"]["protocol"] == "tus", created
    url: str = created["upload"]["url"]
    return url


@pytest.mark.parametrize("offset", ["²", "\uff10", "\u0660", "0²", "-0", "9" * 30])
def test_a_tus_offset_of_other_digits_is_a_bad_request(edge: Edge, offset: str) -> None:
    """Finding 3: ``Upload-Offset: ²`` answered 500; it is tus's 400 and stores no byte."""
    url = tus_url(edge)
    response = edge.client.patch(
        url,
        content=b"x",
        headers=[
            (b"Tus-Resumable", b"1.0.0"),
            (b"Content-Type", b"application/offset+octet-stream"),
            (b"Upload-Offset", offset.encode()),
        ],
    )
    assert response.status_code == 400
    head = edge.client.head(url, headers={"Tus-Resumable": "1.0.0"})
    assert head.headers["Upload-Offset"] == "0"


# --- finding 4: ids ------------------------------------------------------------------------------

ID_ROUTES = [
    ("GET", "/api/v1/media/status/{}"),
    ("POST", "/api/v1/media/{}/cancel"),
    ("DELETE", "/api/v1/media/{}"),
    ("GET", "/api/v1/media/{}/playback"),
]


@pytest.mark.parametrize(("method", "template"), ID_ROUTES)
@pytest.mark.parametrize(
    "raw_id", ["%00", "abc%00", "%00" * 26, "01jd5x0c2hq9m4x7v3k8n6p1r%00", "x" * 5000, "%C3%A9"]
)
def test_ids_without_an_ids_shape_are_not_found(
    edge: Edge, method: str, template: str, raw_id: str
) -> None:
    """Finding 4: NUL in an id answered 500 on PostgreSQL; now the same 404 as an unknown id."""
    known = edge.new_upload()
    response = edge.client.request(method, template.format(raw_id), headers=edge.auth())
    assert response.status_code == 404, response.text
    assert problem_type(response) == "upload-not-found"
    unknown = edge.client.request(method, template.format("nosuchid"), headers=edge.auth())
    assert (unknown.status_code, unknown.json()) == (
        404,
        {**response.json(), "instance": unknown.json()["instance"]},
    )
    assert edge.status(known["id"])["status"] == "uploading"


# --- finding 2: a signed delivery that can never be applied --------------------------------------


def test_a_signed_failure_with_a_lone_surrogate_is_refused_counted_and_logged(
    edge: Edge, caplog: pytest.LogCaptureFixture
) -> None:
    """Finding 2: 400 malformed-webhook (it was a 500 retried for a day), counted in the
    metrics, logged as a warning, and the upload is untouched."""
    upload = edge.new_upload()
    before = edge.status(upload["id"])
    counted = edge.deliveries("malformed")
    raw = json.dumps(
        {"eventId": "e1", "uploadId": upload["id"], "status": "failed", "failureReason": "\ud800"}
    ).encode()
    with caplog.at_level(logging.INFO):
        response = edge.client.post(WEBHOOK, content=raw, headers=edge.sign(raw))
    assert response.status_code == 400
    assert problem_type(response) == "malformed-webhook"
    assert edge.deliveries("malformed") == counted + 1
    assert any(
        record.levelno == logging.WARNING and "malformed-webhook" in record.getMessage()
        for record in caplog.records
    ), caplog.text
    assert edge.status(upload["id"]) == before


def test_a_failure_reason_with_nul_is_applied_cleaned(edge: Edge) -> None:
    """NUL in a provider's message (PostgreSQL refuses it) is stripped, the event applies."""
    upload = edge.new_upload()
    raw = json.dumps(
        {"eventId": "e2", "uploadId": upload["id"], "status": "failed", "failureReason": "a\x00b"}
    ).encode()
    response = edge.client.post(WEBHOOK, content=raw, headers=edge.sign(raw))
    assert response.status_code == 200, response.text
    assert edge.status(upload["id"])["failureReason"] == "ab"


# --- finding 8: repeated signature headers -------------------------------------------------------


@pytest.mark.parametrize("order", ["good-bad", "bad-good", "joined"])
def test_repeated_signature_headers_verify_in_any_order(edge: Edge, order: str) -> None:
    """Finding 8: "good, bad" and "bad, good" and their comma-joined form all verify."""
    upload = edge.new_upload()
    raw = json.dumps({"eventId": f"e-{order}", "uploadId": upload["id"], "status": "processing"})
    body = raw.encode()
    now = int(time.time())
    good = edge.sign(body, now)[NORMALIZED_SIGNATURE_HEADER]
    bad = sign_normalized("not-the-secret", now, body)[NORMALIZED_SIGNATURE_HEADER]
    values = {"good-bad": [good, bad], "bad-good": [bad, good], "joined": [f"{bad}, {good}"]}
    headers = [(NORMALIZED_SIGNATURE_HEADER, value) for value in values[order]]
    response = edge.client.post(WEBHOOK, content=body, headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["outcome"] == "applied"


# --- finding 10: what aiohttp refuses before any route -------------------------------------


def raw_exchange(edge: Edge, request: bytes) -> bytes:
    """Send ``request`` bytes on a fresh connection; return everything the server answers."""
    host, port = edge.service.settings.host, edge.service.settings.port
    with socket.create_connection((host, port), timeout=10) as connection:
        connection.sendall(request)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize(
    ("request_bytes", "status", "code"),
    [
        pytest.param(
            b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Secret: " + b"S3CRET" * 2000 + b"\r\n\r\n",
            431,
            "header-too-large",
            id="oversized-header",
        ),
        pytest.param(
            b"GET /S3CRET" + b"a" * 9000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
            431,
            "header-too-large",
            id="oversized-request-line",
        ),
        pytest.param(b"S3CRET\x00 / HTTP/1.1\r\n\r\n", 400, "bad-request", id="bad-method"),
        pytest.param(
            b"GET / HTTP/1.1\r\nHost: x\r\nS3CRET header\r\n\r\n", 400, "bad-request", id="bad-line"
        ),
    ],
)
def test_what_aiohttp_refuses_is_problem_json_without_echo_or_error_log(
    edge: Edge, caplog: pytest.LogCaptureFixture, request_bytes: bytes, status: int, code: str
) -> None:
    """Finding 10: problem+json with a stable type, the input not echoed, no ERROR line."""
    with caplog.at_level(logging.DEBUG):
        answer = raw_exchange(edge, request_bytes)
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == str(status).encode(), answer[:200]
    assert b"application/problem+json" in head
    assert json.loads(body)["type"] == f"/problems/{code}"
    assert b"S3CRET" not in answer
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    assert edge.client.get("/healthz").status_code == 200


# --- properties: hostile input at every edge -----------------------------------------------------


@HTTP
@given(body=st.binary(max_size=400))
def test_any_create_body_bytes_are_answered_without_5xx(edge: Edge, body: bytes) -> None:
    """``st.binary()`` bodies: 400 malformed-json or 422 invalid-input; nothing stored."""
    before = edge.listing()
    response = edge.post_json(CREATE, body)
    assert response.status_code in (400, 422), response.text
    assert problem_type(response) == ("malformed-json" if response.status_code == 400 else
                                      "invalid-input")  # fmt: skip
    assert edge.listing() == before


_VISIBLE_CF_ALLOWED = {"\u200c", "\u200d"} | {chr(c) for c in range(0xE0020, 0xE0080)}


@HTTP
@given(title=hostile_text, description=hostile_text, name=hostile_text, key=hostile_text)
def test_hostile_text_in_a_create_is_stored_clean_or_refused(
    edge: Edge, title: str, description: str, name: str, key: str
) -> None:
    """JSON text with surrogates, controls and format characters: 201 with clean text, or
    400 malformed-json (exactly when a surrogate is in it), or a 422; never a 5xx."""
    before = edge.listing()
    fields = (title, description, name, key)
    response = edge.create(
        fileName=f"{name}.mp4",
        metadata={"title": title, "description": description, "extra": {key or "k": title}},
    )
    has_surrogate = any(0xD800 <= ord(char) <= 0xDFFF for text in fields for char in text)
    if has_surrogate:
        assert response.status_code == 400, response.text
        assert problem_type(response) == "malformed-json"
    else:
        assert response.status_code in (201, 422), response.text
    if response.status_code != 201:
        assert edge.listing() == before
        return
    stored = edge.status(response.json()["id"])
    for text in (
        stored["fileName"],
        stored["metadata"]["title"],
        stored["metadata"]["description"],
    ):
        for char in text:
            category = unicodedata.category(char)
            assert category != "Cc" or char == "\n", repr(text)
            assert category != "Cf" or char in _VISIBLE_CF_ALLOWED, repr(text)


@HTTP
@given(limit=hostile_integers)
def test_any_non_ascii_list_limit_is_invalid_input(edge: Edge, limit: str) -> None:
    """Other scripts' digits, signs and junk as ``?limit=``: 422 naming the parameter."""
    response = edge.client.get(f"/api/v1/media?limit={quote(limit, safe='')}", headers=edge.auth())
    assert response.status_code == 422, response.text
    assert response.json()["errors"][0]["parameter"] == "limit"


@HTTP
@given(raw_id=hostile_ids, route=st.sampled_from(ID_ROUTES))
def test_any_hostile_id_is_not_found(edge: Edge, raw_id: str, route: tuple[str, str]) -> None:
    """Ids with NUL, separators, invisible characters or 5,000 characters, percent-encoded:
    404 upload-not-found (or the router's not-found once an encoded ``/`` splits the path)."""
    method, template = route
    before = edge.listing()
    path = template.format(quote(raw_id, safe=""))
    response = edge.client.request(method, path, headers=edge.auth())
    assert response.status_code in (404, 405), response.text
    assert problem_type(response) in ("upload-not-found", "not-found", "method-not-allowed")
    assert edge.listing() == before


@HTTP
@given(body=st.binary(max_size=400))
def test_any_signed_bytes_are_malformed_webhook_and_change_nothing(edge: Edge, body: bytes) -> None:
    """Correctly signed arbitrary bytes: 400 malformed-webhook, the records unchanged."""
    before = edge.listing()
    response = edge.client.post(WEBHOOK, content=body, headers=edge.sign(body))
    assert response.status_code == 400, response.text
    assert problem_type(response) == "malformed-webhook"
    assert edge.listing() == before


@HTTP
@given(reason=hostile_text, upload_ref=st.one_of(st.just(None), hostile_ids))
def test_any_signed_failure_text_applies_clean_or_changes_nothing(
    edge: Edge, reason: str, upload_ref: str | None
) -> None:
    """A signed FAILED delivery with hostile text (and maybe a hostile reference): applied
    with storable text, or a 4xx malformed-webhook with the upload untouched; never a 5xx."""
    upload = edge.new_upload()
    before = edge.status(upload["id"])
    body = {
        "eventId": f"evt-{time.monotonic_ns()}",
        "uploadId": upload["id"] if upload_ref is None else upload_ref,
        "status": "failed",
        "failureReason": reason,
    }
    raw = json.dumps(body).encode()
    response = edge.client.post(WEBHOOK, content=raw, headers=edge.sign(raw))
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert problem_type(response) == "malformed-webhook"
        assert edge.status(upload["id"]) == before
        return
    after = edge.status(upload["id"])
    if upload_ref is None:
        assert after["status"] == "failed"
        assert "\x00" not in after["failureReason"]
    else:
        assert after == before


header_integers = hostile_integers.map(str.strip)
"""As a header value carries them: HTTP strips the blanks around a field value."""


@HTTP
@given(timestamp=header_integers)
def test_any_non_ascii_signature_timestamp_is_invalid_signature(edge: Edge, timestamp: str) -> None:
    """Every integer the signature header may carry that is not ASCII digits: 401."""
    raw = b'{"eventId": "e", "uploadId": "u", "status": "processing"}'
    value = f"t={timestamp},v1={'0' * 64}".encode("utf-8", "surrogateescape")
    response = edge.client.post(
        WEBHOOK, content=raw, headers=[(NORMALIZED_SIGNATURE_HEADER.encode(), value)]
    )
    assert response.status_code == 401, response.text
    assert problem_type(response) == "invalid-signature"


@pytest.mark.parametrize("token", [b"\xff\xfe", b"a.b.c\xff", b"\xed\xa0\x80"])
def test_a_bearer_token_that_is_not_ascii_is_not_authenticated(edge: Edge, token: bytes) -> None:
    """Non-ASCII bytes in the token reached the JWT library surrogate-escaped: a 500."""
    response = edge.client.get("/api/v1/media", headers=[(b"Authorization", b"Bearer " + token)])
    assert response.status_code == 401, response.text
    assert problem_type(response) == "not-authenticated"


@HTTP
@given(
    token=st.binary(min_size=1, max_size=80).filter(
        lambda raw: not set(raw) & set(b"\r\n\x00") and raw.strip() == raw
    )
)
def test_any_bearer_token_bytes_are_not_authenticated(edge: Edge, token: bytes) -> None:
    """Any bytes after ``Bearer `` (UTF-8 or not): 401 not-authenticated, or the parser's 400
    bad-request for bytes HTTP does not allow in a header; never a 5xx."""
    response = edge.client.get("/api/v1/media", headers=[(b"Authorization", b"Bearer " + token)])
    answer = (response.status_code, problem_type(response))
    assert answer in ((401, "not-authenticated"), (400, "bad-request")), response.text


@HTTP
@given(offset=header_integers)
def test_any_non_ascii_tus_offset_is_a_bad_request(edge: Edge, offset: str) -> None:
    """Every ``Upload-Offset`` that is not ASCII digits: tus's 400, no byte stored."""
    url = tus_url(edge)
    response = edge.client.patch(
        url,
        content=b"x",
        headers=[
            (b"Tus-Resumable", b"1.0.0"),
            (b"Content-Type", b"application/offset+octet-stream"),
            (b"Upload-Offset", offset.encode()),
        ],
    )
    assert response.status_code == 400, response.text
    assert edge.client.head(url, headers={"Tus-Resumable": "1.0.0"}).headers["Upload-Offset"] == "0"


@HTTP
@given(expires=hostile_integers)
def test_any_non_ascii_playback_token_is_not_found(
    edge: Edge, private_video: str, expires: str
) -> None:
    """The fake provider's ``?token=<expires>.<mac>`` with any non-ASCII expiry: 404."""
    response = video_with_token(edge, private_video, f"{expires}.abc")
    assert response.status_code == 404, response.text


# --- the Mux and Cloudflare routes, and the fake's Content-Range ---------------------------


def provider_delivery(route: str, body: bytes) -> tuple[str, dict[str, str]]:
    """The path and headers of ``body`` signed as Mux or Cloudflare signs it, now."""
    now = int(time.time())
    secret = MUX_SECRET if route == "mux" else CLOUDFLARE_SECRET
    digest = hmac.new(secret.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    if route == "mux":
        return "/api/v1/media/webhook/mux", {"Mux-Signature": f"t={now},v1={digest}"}
    return "/api/v1/media/webhook/cloudflare", {"Webhook-Signature": f"time={now},sig1={digest}"}


def provider_failure(route: str, reason: str) -> bytes:
    """A documented failure delivery of ``route`` with its message replaced by ``reason``."""
    if route == "mux":
        body = json.loads((FIXTURES / "mux" / "asset_errored.json").read_bytes())
        body["data"]["errors"]["messages"] = [reason]
    else:
        body = json.loads((FIXTURES / "cloudflare" / "video_ready.json").read_bytes())
        fragment = FIXTURES / "cloudflare" / "video_error_fragment.json"
        body.update(json.loads(fragment.read_bytes()))
        body["status"]["errReasonText"] = reason
    return json.dumps(body).encode()


@pytest.mark.parametrize("route", ["mux", "cloudflare"])
def test_a_provider_failure_with_a_lone_surrogate_is_malformed_webhook(
    provider_edge: Edge, route: str
) -> None:
    """Finding 2 on the Mux and Cloudflare routes: 400 malformed-webhook, not a 500."""
    before = provider_edge.listing()
    body = provider_failure(route, "bad \ud800 file")
    path, headers = provider_delivery(route, body)
    response = provider_edge.client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert problem_type(response) == "malformed-webhook"
    assert provider_edge.listing() == before


@pytest.mark.parametrize("route", ["mux", "cloudflare"])
def test_a_provider_body_in_cesu8_is_malformed_webhook(provider_edge: Edge, route: str) -> None:
    """Finding 5 on the Mux and Cloudflare routes: signed CESU-8 surrogate bytes are refused."""
    text = provider_failure(route, "QQ").decode().replace("QQ", "\ud83d\ude00")
    body = text.encode("utf-8", "surrogatepass")
    path, headers = provider_delivery(route, body)
    response = provider_edge.client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert problem_type(response) == "malformed-webhook"


@HTTP
@given(route=st.sampled_from(["mux", "cloudflare"]), body=st.binary(max_size=400))
def test_any_signed_provider_bytes_are_malformed_webhook(
    provider_edge: Edge, route: str, body: bytes
) -> None:
    """Arbitrary bytes signed as Mux or Cloudflare sign: 400 malformed-webhook, nothing stored."""
    before = provider_edge.listing()
    path, headers = provider_delivery(route, body)
    response = provider_edge.client.post(path, content=body, headers=headers)
    assert response.status_code == 400, response.text
    assert problem_type(response) == "malformed-webhook"
    assert provider_edge.listing() == before


@HTTP
@given(route=st.sampled_from(["mux", "cloudflare"]), reason=hostile_text)
def test_any_provider_failure_text_is_taken_or_malformed(
    provider_edge: Edge, route: str, reason: str
) -> None:
    """A documented failure with hostile text: acknowledged (it names no upload of ours) or
    400 malformed-webhook; never a 5xx, nothing stored."""
    before = provider_edge.listing()
    body = provider_failure(route, reason)
    path, headers = provider_delivery(route, body)
    response = provider_edge.client.post(path, content=body, headers=headers)
    assert response.status_code in (200, 400), response.text
    if response.status_code == 400:
        assert problem_type(response) == "malformed-webhook"
    assert provider_edge.listing() == before


@HTTP
@given(route=st.sampled_from(["mux", "cloudflare"]), timestamp=header_integers)
def test_any_non_ascii_provider_timestamp_is_invalid_signature(
    provider_edge: Edge, route: str, timestamp: str
) -> None:
    """``t=``/``time=`` with other scripts' digits on the Mux and Cloudflare routes: 401."""
    body = provider_failure(route, "x")
    path, headers = provider_delivery(route, body)
    name, value = next(iter(headers.items()))
    odd = re.sub(r"^(t|time)=[0-9]+", lambda m: f"{m.group(1)}={timestamp}", value)
    response = provider_edge.client.post(
        path, content=body, headers=[(name.encode(), odd.encode("utf-8", "surrogateescape"))]
    )
    assert response.status_code == 401, response.text
    assert problem_type(response) == "invalid-signature"


@HTTP
@given(first=header_integers, last=header_integers)
def test_any_non_ascii_content_range_is_invalid_input(edge: Edge, first: str, last: str) -> None:
    """The fake PUT's ``Content-Range: bytes <first>-<last>/<size>`` with other digits: 422."""
    created = edge.new_upload()
    response = edge.client.put(
        created["upload"]["url"],
        content=b"x",
        headers=[(b"Content-Range", f"bytes {first}-{last}/2048".encode())],
    )
    assert response.status_code == 422, response.text
    assert problem_type(response) == "invalid-input"
    assert edge.status(created["id"])["status"] == "uploading"


@pytest.mark.parametrize("length", ["²", "\uff11", "1²", "-1", "1 1"])
def test_a_content_length_of_other_digits_is_a_bad_request(edge: Edge, length: str) -> None:
    """aiohttp's parser refuses it; the answer is problem+json like every other refusal."""
    request = (
        b"POST /api/v1/media/upload/direct HTTP/1.1\r\nHost: x\r\nContent-Length: "
        + length.encode()
        + b"\r\n\r\n{}"
    )
    head, _, body = raw_exchange(edge, request).partition(b"\r\n\r\n")
    assert head.split(b" ", 2)[1] == b"400", head
    assert json.loads(body)["type"] == "/problems/bad-request"
