"""Run the real service in-process on a loopback port, and talk to it like a client would."""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

import attrs
import av
import httpx
import jsonschema
import numpy as np
from aiohttp import web

from adapters.repositories import sql
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.http.auth import issue_token
from entrypoints.http.openapi import document
from entrypoints.http.server import ProblemAppRunner
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import jwt_secret_for
from tests.support.prism import free_port


def service_settings(data_dir: Path, **changes: Any) -> Settings:
    """Settings of the fake provider (unless told otherwise) on a free loopback port, fast.

    ``provider="mux"`` stands for ``providers=("mux",)``, as ``MEDIA_PROVIDER`` does.
    """
    if "provider" in changes:
        changes["providers"] = (changes.pop("provider"),)
    changes.setdefault("providers", ("fake",))
    base = Settings(
        data_dir=data_dir,
        port=free_port(),
        fake_processing_delay_seconds=0.0,
        create_rate_per_minute=600,
        create_rate_burst=100,
    )
    return attrs.evolve(base, **changes)


@attrs.define
class RunningService:
    """A started service: its container, base URL and a client per user."""

    container: Container
    settings: Settings
    base_url: str
    client: httpx.AsyncClient

    def token(self, user: str) -> str:
        """A bearer token for ``user``."""
        secret = jwt_secret_for(self.settings)
        assert secret is not None
        return issue_token(secret, user)

    def auth(self, user: str) -> dict[str, str]:
        """The Authorization header of ``user``."""
        return {"Authorization": f"Bearer {self.token(user)}"}

    async def create(self, user: str = "alice", **overrides: Any) -> httpx.Response:
        """POST a create request (a 2 KiB MP4 by default)."""
        body: dict[str, Any] = {
            "fileName": "clip.mp4",
            "fileSize": 2048,
            "mimeType": "video/mp4",
            "metadata": {"title": "A clip", "description": "", "visibility": "PUBLIC"},
        }
        body.update(overrides)
        return await self.client.post(
            "/api/v1/media/upload/direct", json=body, headers=self.auth(user)
        )

    async def status(self, user: str, upload_id: str) -> httpx.Response:
        """GET the status of ``upload_id`` as ``user``."""
        return await self.client.get(f"/api/v1/media/status/{upload_id}", headers=self.auth(user))

    async def wait_for(
        self, user: str, upload_id: str, statuses: set[str], seconds: float = 15.0
    ) -> dict[str, Any]:
        """Poll the status route until the upload reaches one of ``statuses``."""
        async with asyncio.timeout(seconds):
            while True:
                response = await self.status(user, upload_id)
                body: dict[str, Any] = response.json()
                if body.get("status") in statuses:
                    return body
                await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def running_service(
    settings: Settings, container: Container | None = None
) -> AsyncIterator[RunningService]:
    """Start the app on ``settings.host:settings.port``; stop it afterwards."""
    container = container or build_container(settings)
    if settings.database_url != "memory://":
        engine = sql.create_engine(settings.effective_database_url)
        try:
            await sql.upgrade(engine)
        finally:
            await engine.dispose()
    async with serving(create_app(container), settings, container) as running:
        yield running


@contextlib.asynccontextmanager
async def serving(
    app: web.Application, settings: Settings, container: Container
) -> AsyncIterator[RunningService]:
    """Run ``app`` (``create_app``'s, or one a test built itself) on ``settings.host:port``.

    The database must be ``memory://`` or migrated already (:func:`running_service` does that).
    """
    runner = ProblemAppRunner(app, access_log=None, shutdown_timeout=5.0)
    await runner.setup()
    site = web.TCPSite(runner, settings.host, settings.port)
    await site.start()
    base_url = f"http://{settings.host}:{settings.port}"
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=15.0) as client:
            yield RunningService(
                container=container, settings=settings, base_url=base_url, client=client
            )
    finally:
        await runner.cleanup()


def make_video(seconds: float = 2.0, fps: int = 10, container_format: str = "mp4") -> bytes:
    """A small real H.264 MP4 (or VP8 WebM) of ``seconds`` seconds, encoded with PyAV."""
    out = io.BytesIO()
    codec = "libx264" if container_format == "mp4" else "libvpx"
    with av.open(out, mode="w", format=container_format) as media:
        stream = media.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for index in range(round(seconds * fps)):
            pixels = np.full((48, 64, 3), (index * 12) % 255, dtype=np.uint8)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            for packet in stream.encode(frame):
                media.mux(packet)
        for packet in stream.encode():
            media.mux(packet)
    return out.getvalue()


def assert_matches_openapi(method: str, template: str, response: httpx.Response) -> None:
    """Validate ``response`` against the OpenAPI document's schema for its route and status."""
    doc = document()
    operation = doc["paths"][template][method.lower()]
    spec = operation["responses"].get(str(response.status_code))
    assert spec is not None, f"{method} {template} documents no {response.status_code}"
    content: Mapping[str, Any] = spec.get("content", {})
    if not content:
        assert not response.content, "an undocumented body"
        return
    content_type = response.headers["content-type"].split(";")[0]
    assert content_type in content, f"{content_type} not documented for {response.status_code}"
    schema = {**content[content_type]["schema"], "components": doc["components"]}
    jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    ).validate(response.json())
