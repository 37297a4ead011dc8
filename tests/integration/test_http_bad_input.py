"""Every kind of bad input gets problem+json with a stable type and the field; nothing is stored."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from aiohttp.test_utils import make_mocked_request

from entrypoints.http.auth import JwtBearerAuthenticator
from entrypoints.wiring.secrets import jwt_secret_for
from media_core.errors import NotAuthenticated
from tests.support.service import (
    RunningService,
    assert_matches_openapi,
    running_service,
    service_settings,
)

CREATE = "/api/v1/media/upload/direct"
VALID: dict[str, Any] = {
    "fileName": "clip.mp4",
    "fileSize": 1000,
    "mimeType": "video/mp4",
    "metadata": {"title": "t", "description": "d", "visibility": "PUBLIC"},
}


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RunningService]:
    """The service with a 10 MB upload limit and a 2 KiB body limit."""
    settings = service_settings(tmp_path, max_upload_bytes=10_000_000, max_body_bytes=2048)
    async with running_service(settings) as running:
        yield running


def with_(path: str, value: Any) -> dict[str, Any]:
    """VALID with the value at ``path`` (``metadata.title``) replaced; ``...`` deletes it."""
    body: dict[str, Any] = {**VALID, "metadata": dict(VALID["metadata"])}
    target = body
    *parents, last = path.split(".")
    for parent in parents:
        target = target[parent]
    if value is ...:
        del target[last]
    else:
        target[last] = value
    return body


BAD_BODIES = [
    pytest.param(with_("fileSize", "1000"), 422, "invalid-input", "/fileSize", id="size-as-string"),
    pytest.param(with_("fileSize", 10.5), 422, "invalid-input", "/fileSize", id="size-fraction"),
    pytest.param(with_("fileSize", True), 422, "invalid-input", "/fileSize", id="size-bool"),
    pytest.param(with_("fileName", 5), 422, "invalid-input", "/fileName", id="name-number"),
    pytest.param(with_("fileName", ...), 422, "invalid-input", "/fileName", id="name-missing"),
    pytest.param(with_("metadata", "x"), 422, "invalid-input", "/metadata", id="metadata-string"),
    pytest.param(
        with_("metadata.visibility", "SECRET"),
        422,
        "invalid-input",
        "/metadata/visibility",
        id="unknown-visibility",
    ),
    pytest.param(with_("colour", "red"), 422, "invalid-input", "/colour", id="unknown-field"),
    pytest.param(
        with_("mimeType", "application/pdf"),
        422,
        "unsupported-media-type",
        "/mimeType",
        id="mime-not-allowed",
    ),
    pytest.param(
        with_("fileName", "clip.exe"), 422, "unsupported-media-type", "/fileName", id="bad-ext"
    ),
    pytest.param(
        with_("fileName", "clip"), 422, "unsupported-media-type", "/fileName", id="no-ext"
    ),
    pytest.param(with_("fileSize", 0), 422, "invalid-file-size", "/fileSize", id="size-zero"),
    pytest.param(with_("fileSize", -5), 422, "invalid-file-size", "/fileSize", id="size-negative"),
    pytest.param(
        with_("fileSize", 10_000_001), 422, "file-too-large", "/fileSize", id="size-over-limit"
    ),
    pytest.param(
        with_("metadata.title", "x" * 201),
        422,
        "metadata-too-long",
        "/metadata/title",
        id="title-too-long",
    ),
    pytest.param(
        with_("metadata.extra", {"k": 1}),
        422,
        "invalid-input",
        "/metadata/extra",
        id="extra-not-strings",
    ),
    pytest.param([1, 2], 422, "invalid-input", "/", id="array-body"),
]


@pytest.mark.parametrize(("body", "status", "code", "pointer"), BAD_BODIES)
async def test_bad_create_bodies(
    service: RunningService, body: Any, status: int, code: str, pointer: str
) -> None:
    """Each bad body answers its problem type, names the field, and stores nothing."""
    response = await service.client.post(CREATE, json=body, headers=service.auth("alice"))
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    problem = response.json()
    assert problem["type"] == f"/problems/{code}"
    assert problem["status"] == status
    assert pointer in [error.get("pointer") for error in problem["errors"]]
    assert_matches_openapi("POST", CREATE, response)
    listing = await service.client.get("/api/v1/media", headers=service.auth("alice"))
    assert listing.json()["items"] == []


async def test_malformed_json(service: RunningService) -> None:
    """A body that is not JSON is a 400 malformed-json."""
    response = await service.client.post(
        CREATE,
        content=b'{"fileName": ',
        headers={**service.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["type"] == "/problems/malformed-json"
    assert_matches_openapi("POST", CREATE, response)


async def test_invalid_utf8(service: RunningService) -> None:
    """Bytes that are not UTF-8 are malformed JSON, not a crash."""
    response = await service.client.post(
        CREATE,
        content=b'{"fileName": "\xff\xfe"}',
        headers={**service.auth("alice"), "Content-Type": "application/json"},
    )
    assert response.status_code == 400


async def test_wrong_content_type(service: RunningService) -> None:
    """A form body on a JSON route is a 415."""
    response = await service.client.post(
        CREATE, data={"fileName": "x"}, headers=service.auth("alice")
    )
    assert response.status_code == 415
    assert response.json()["type"] == "/problems/unsupported-content-type"


async def test_body_too_large(service: RunningService) -> None:
    """A body over the fixed limit is a 413, whether or not it declares its length."""
    big = with_("metadata.description", "x" * 4000)
    response = await service.client.post(CREATE, json=big, headers=service.auth("alice"))
    assert response.status_code == 413
    assert response.json()["type"] == "/problems/body-too-large"
    assert_matches_openapi("POST", CREATE, response)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"fileName": "'
        for _ in range(10):
            yield b"x" * 1000
        yield b'"}'

    streamed = await service.client.post(
        CREATE,
        content=chunks(),
        headers={**service.auth("alice"), "Content-Type": "application/json"},
    )
    assert streamed.status_code == 413


@pytest.mark.parametrize(
    "header",
    [
        None,
        "Bearer",
        "Basic dXNlcjpwYXNz",
        "Bearer not-a-jwt",
        "Bearer " + jwt.encode({"sub": "alice", "exp": 9999999999}, "wrong" * 8, algorithm="HS256"),
    ],
    ids=["none", "empty-bearer", "basic", "garbage", "wrong-key"],
)
async def test_authentication_required(service: RunningService, header: str | None) -> None:
    """User routes refuse missing or bad credentials with 401 and WWW-Authenticate."""
    headers = {"Authorization": header} if header else {}
    response = await service.client.post(CREATE, json=VALID, headers=headers)
    assert response.status_code == 401
    assert response.json()["type"] == "/problems/not-authenticated"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    listing = await service.client.get("/api/v1/media", headers=headers)
    assert listing.status_code == 401


async def test_expired_token(service: RunningService) -> None:
    """An expired token is refused."""
    secret = jwt_secret_for(service.settings)
    assert secret
    stale = jwt.encode({"sub": "alice", "exp": int(time.time()) - 3600}, secret, algorithm="HS256")
    response = await service.client.get(
        "/api/v1/media", headers={"Authorization": f"Bearer {stale}"}
    )
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


@pytest.mark.parametrize("limit", ["0", "101", "abc", "-1"])
async def test_bad_list_limit(service: RunningService, limit: str) -> None:
    """A bad page size names the query parameter."""
    response = await service.client.get(
        "/api/v1/media", params={"limit": limit}, headers=service.auth("alice")
    )
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "limit"
    assert_matches_openapi("GET", "/api/v1/media", response)


async def test_bad_cursor(service: RunningService) -> None:
    """A forged cursor is a 422, not a 500."""
    response = await service.client.get(
        "/api/v1/media", params={"cursor": "!!not-a-cursor!!"}, headers=service.auth("alice")
    )
    assert response.status_code == 422


async def test_unknown_route_and_method(service: RunningService) -> None:
    """Unknown URLs and methods answer problem+json too."""
    missing = await service.client.get("/api/v1/nothing")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")
    wrong = await service.client.put(CREATE)
    assert wrong.status_code == 405
    assert wrong.headers["content-type"].startswith("application/problem+json")
    assert wrong.headers["Allow"] == "POST"
    assert "X-Request-ID" in wrong.headers
    top = await service.client.delete("/healthz")  # a top-level path, beside the catch-all
    assert top.status_code == 405
    assert top.headers["Allow"] == "GET,HEAD"
    for path in ("/", "/x", "/api/v1/media/status/a/b", "/static/media-core/nothing/deeper"):
        assert (await service.client.post(path)).status_code in (404, 405), path
    # A variable last segment names nothing for a method its route lacks: 404, not 405.
    for method, path in (("GET", "/api/v1/media/nope"), ("POST", "/api/v1/media/status/x")):
        unknown = await service.client.request(method, path, headers=service.auth("alice"))
        assert unknown.status_code == 404, (method, path, unknown.headers.get("Allow"))
        assert unknown.json()["type"] == "/problems/not-found"
        assert "Allow" not in unknown.headers
    cancel = await service.client.get("/api/v1/media/some-id/cancel", headers=service.auth("alice"))
    assert cancel.status_code == 405
    assert cancel.headers["Allow"] == "POST"
    for code in ("not-found", "method-not-allowed", "upload-mismatch"):
        documented = await service.client.get(
            f"/problems/{code}", headers={"Accept": "application/json"}
        )
        assert documented.status_code == 200, code


async def test_errors_entries_use_one_form(service: RunningService) -> None:
    """pointer for body fields, parameter for query parameters, header for headers."""
    body = await service.client.post(CREATE, json={"fileName": 5}, headers=service.auth("alice"))
    assert all(set(e) == {"pointer", "detail"} for e in body.json()["errors"]), body.json()
    for params in ({"limit": "0"}, {"cursor": "!!not-a-cursor!!"}):
        query = await service.client.get(
            "/api/v1/media", params=params, headers=service.auth("alice")
        )
        assert query.status_code == 422
        assert query.json()["errors"] == [
            {"parameter": next(iter(params)), "detail": query.json()["detail"]}
        ]


async def test_a_body_that_is_not_an_object_reads_well(service: RunningService) -> None:
    """A JSON array says what it is, without a stray pointer in the sentence."""
    response = await service.client.post(CREATE, json=[1, 2], headers=service.auth("alice"))
    assert response.status_code == 422
    assert response.json()["detail"] == "the body must be a JSON object, not an array"
    assert response.json()["errors"] == [
        {"pointer": "/", "detail": "the body must be a JSON object, not an array"}
    ]


async def test_problem_types_are_documented(service: RunningService) -> None:
    """Each problem type links to a page that explains it."""
    page = await service.client.get(
        "/problems/file-too-large", headers={"Accept": "application/json"}
    )
    assert page.status_code == 200
    assert page.json()["status"] == 422
    html = await service.client.get("/problems/not-authenticated")
    assert "Not authenticated" in html.text
    assert (await service.client.get("/problems/nope")).status_code == 404


async def test_rate_limit(tmp_path: Path) -> None:
    """The third create in a burst of two is a 429 with Retry-After and RateLimit headers."""
    settings = service_settings(tmp_path, create_rate_per_minute=1, create_rate_burst=2)
    async with running_service(settings) as service:
        first = await service.create()
        second = await service.create()
        third = await service.create()
        other_user = await service.create("bob")
    assert first.status_code == second.status_code == other_user.status_code == 201
    assert first.headers["RateLimit-Limit"] == "2"
    assert first.headers["RateLimit-Remaining"] == "1"
    assert second.headers["RateLimit-Remaining"] == "0"
    assert third.status_code == 429
    assert third.json()["type"] == "/problems/rate-limited"
    assert 1 <= int(third.headers["Retry-After"]) <= 60
    assert third.headers["RateLimit-Remaining"] == "0"
    assert_matches_openapi("POST", CREATE, third)


async def test_a_remembered_token_still_expires(service: RunningService) -> None:
    """A token accepted once is refused after its expiry (plus leeway), not served from memory."""
    secret = jwt_secret_for(service.settings)
    assert secret
    authenticator = JwtBearerAuthenticator(key=secret, algorithms=["HS256"], leeway=0)
    token = jwt.encode({"sub": "alice", "exp": int(time.time()) + 1}, secret, algorithm="HS256")
    request = make_mocked_request("GET", "/", headers={"Authorization": f"Bearer {token}"})
    assert await authenticator.authenticate(request) == "alice"
    await asyncio.sleep(2.1)
    with pytest.raises(NotAuthenticated):
        await authenticator.authenticate(request)
