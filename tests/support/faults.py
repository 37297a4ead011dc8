"""Fault injection: a provider API that fails on a seeded schedule, a store that fails on cue.

- :class:`FakeMuxApi` plays the part of Mux's HTTP API (uploads and assets, with state), as an
  ``httpx`` handler, so the real :class:`~adapters.providers.mux.MuxVideoProvider` runs on it.
- :class:`FaultyTransport` wraps such a handler and, with a seeded RNG, fails a share of the
  calls the ways networks and providers fail: timeouts (before the request reached the provider,
  or after it acted), 5xx, 429 with ``Retry-After``, dropped connections. It records which calls
  took effect at the provider though their answer was lost.
- :class:`FaultyRepository` wraps a ``MediaRepository`` and makes chosen methods raise
  ``RepositoryUnavailable`` the next n times they are called.
"""

from __future__ import annotations

import json
import random
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import attrs
import httpx

from media_core.errors import RepositoryUnavailable

FAULT_KINDS = (
    "connect_timeout",  # never reached the provider
    "connect_error",  # never reached the provider
    "server_error",  # 503 from a provider that did nothing
    "throttled",  # 429 with Retry-After: 1
    "read_timeout",  # the provider acted; its answer never came
    "dropped",  # the provider acted; the connection dropped before the answer
)
LOST_ANSWER_KINDS = frozenset({"read_timeout", "dropped"})


@attrs.define
class FakeMuxApi:
    """Mux's uploads and assets endpoints, with state a test can move forward."""

    uploads: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    assets: dict[str, dict[str, Any]] = attrs.field(factory=dict)
    calls: Counter[str] = attrs.field(factory=Counter)

    def handle(self, request: httpx.Request) -> httpx.Response:
        """Answer one request as Mux would (404 for anything not modelled)."""
        parts = request.url.path.strip("/").split("/")
        key = f"{request.method} {'/'.join(parts[:3])}"
        self.calls[key] += 1
        if request.method == "POST" and parts == ["video", "v1", "uploads"]:
            return self._create(json.loads(request.content))
        if parts[:3] == ["video", "v1", "uploads"] and len(parts) >= 4:
            upload = self.uploads.get(parts[3])
            if upload is None:
                return httpx.Response(404, json={"error": {"type": "not_found"}})
            if request.method == "PUT" and parts[4:] == ["cancel"]:
                if upload["status"] != "waiting":
                    return httpx.Response(403, json={"error": {"type": "forbidden"}})
                upload["status"] = "cancelled"
            return httpx.Response(200, json={"data": upload})
        if parts[:3] == ["video", "v1", "assets"] and len(parts) == 4:
            asset = self.assets.get(parts[3])
            if asset is None:
                return httpx.Response(404, json={"error": {"type": "not_found"}})
            if request.method == "DELETE":
                del self.assets[parts[3]]
                return httpx.Response(204)
            return httpx.Response(200, json={"data": asset})
        return httpx.Response(404, json={"error": {"type": "not_found"}})

    def _create(self, body: dict[str, Any]) -> httpx.Response:
        upload_id = f"mu{len(self.uploads):05d}"
        self.uploads[upload_id] = {
            "id": upload_id,
            "status": "waiting",
            "timeout": body.get("timeout", 3600),
            "url": f"https://storage.example/{upload_id}",
            "new_asset_settings": body["new_asset_settings"],
            "cors_origin": body.get("cors_origin", "*"),
        }
        return httpx.Response(201, json={"data": self.uploads[upload_id]})

    def passthrough(self, upload_id: str) -> str:
        """Our upload id, as the provider's upload carries it."""
        return str(self.uploads[upload_id]["new_asset_settings"]["passthrough"])

    def finish(self, upload_id: str, *, ready: bool) -> None:
        """The bytes arrived and Mux made an asset that is ready, or errored (no webhook sent)."""
        upload = self.uploads[upload_id]
        asset_id = f"as-{upload_id}"
        upload["status"] = "asset_created"
        upload["asset_id"] = asset_id
        asset: dict[str, Any] = {
            "id": asset_id,
            "upload_id": upload_id,
            "passthrough": self.passthrough(upload_id),
            "status": "ready" if ready else "errored",
        }
        if ready:
            asset["duration"] = 12.5
            asset["playback_ids"] = [{"id": f"pb-{upload_id}", "policy": "public"}]
        else:
            asset["errors"] = {"type": "invalid_input", "messages": ["not a video"]}
        self.assets[asset_id] = asset


class FaultyTransport(httpx.AsyncBaseTransport):
    """Fails ``rate`` of the calls to ``handler`` (seeded), in the ways of :data:`FAULT_KINDS`."""

    def __init__(
        self,
        handler: Callable[[httpx.Request], httpx.Response],
        *,
        rate: float,
        seed: int,
        kinds: Sequence[str] = FAULT_KINDS,
    ) -> None:
        self.handler = handler
        self.rate = rate
        self.rng = random.Random(seed)
        self.kinds = tuple(kinds)
        self.injected: Counter[str] = Counter()
        self.passed = 0
        self.lost_answers: list[httpx.Request] = []
        """Requests the provider acted on while the caller got no answer."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Forward ``request``, or fail it as the schedule says."""
        await request.aread()
        kind = self.rng.choice(self.kinds) if self.rng.random() < self.rate else None
        if kind is None:
            self.passed += 1
            return self.handler(request)
        self.injected[kind] += 1
        if kind == "connect_timeout":
            raise httpx.ConnectTimeout("injected: connect timeout", request=request)
        if kind == "connect_error":
            raise httpx.ConnectError("injected: connection refused", request=request)
        if kind == "server_error":
            return httpx.Response(503, json={"error": {"type": "unavailable"}})
        if kind == "throttled":
            return httpx.Response(
                429, headers={"Retry-After": "1"}, json={"error": {"type": "rate_limited"}}
            )
        self.handler(request)  # the provider acts, then the answer is lost
        self.lost_answers.append(request)
        if kind == "read_timeout":
            raise httpx.ReadTimeout("injected: read timeout", request=request)
        raise httpx.RemoteProtocolError("injected: server disconnected", request=request)


class FaultyRepository:
    """A ``MediaRepository`` that delegates, except that chosen methods fail on cue.

    ``fail_next("update", times=2)`` makes the next two ``update`` calls raise
    ``RepositoryUnavailable`` without reaching the inner repository.
    """

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.pending: Counter[str] = Counter()
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()

    def fail_next(self, method: str, *, times: int = 1) -> None:
        """Make the next ``times`` calls of ``method`` fail."""
        self.pending[method] += times

    def __getattr__(self, name: str) -> Any:
        target = getattr(self.inner, name)
        if not callable(target):
            return target

        async def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            if self.pending[name] > 0:
                self.pending[name] -= 1
                self.failed[name] += 1
                raise RepositoryUnavailable(f"injected: {name} failed")
            return await target(*args, **kwargs)

        return call
