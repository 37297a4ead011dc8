"""Routes a provider serves itself are mounted by the composition root, like the service's own."""

from __future__ import annotations

from pathlib import Path

import httpx
from aiohttp import web
from dependency_injector import providers

from adapters.providers.fake import FakeVideoProvider
from adapters.providers.routes import ProviderRoute
from adapters.system import SystemClock
from entrypoints.container import build_container, resolve
from entrypoints.settings import load_settings
from entrypoints.wiring.providers import build_provider_routes
from media_core.errors import InvalidInput
from tests.integration.test_provider_switch import environment
from tests.support.service import running_service, service_settings


async def test_a_contributed_route_is_served_observed_and_maps_errors(tmp_path: Path) -> None:
    """Contributed routes answer over HTTP, count in the metrics, and speak problem+json."""

    async def hello(request: web.Request) -> web.Response:
        return web.Response(text=f"hello {request.match_info['name']}")

    async def refuse(_: web.Request) -> web.Response:
        raise InvalidInput("not today", field="/name")

    settings = service_settings(tmp_path, database_url="memory://", metrics_mode="open")
    container = build_container(settings)
    container.provider_routes.override(
        providers.Object(
            (
                ProviderRoute("GET", "/api/v1/media/test/{name}", hello),
                ProviderRoute("POST", "/api/v1/media/test/{name}", refuse),
            )
        )
    )
    async with running_service(settings, container) as service:
        greeted = await service.client.get("/api/v1/media/test/ada")
        refused = await service.client.post("/api/v1/media/test/ada")
        fake_upload = await service.client.put("/api/v1/media/fake/uploads/x", content=b"x")
        metrics = (await service.client.get("/metrics")).text
    assert greeted.status_code == 200
    assert greeted.text == "hello ada"
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["type"].endswith("/invalid-input")
    # Only the contributed routes are mounted: the fake's own are replaced, not added to.
    assert fake_upload.status_code == 404
    assert 'route="/api/v1/media/test/{name}"' in metrics


async def test_fake_routes_resolve_the_one_provider_the_service_uses(tmp_path: Path) -> None:
    """Each handler awaits the container's provider: the instance the service creates uploads on."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    assert {(route.method, route.path) for route in container.provider_routes()} >= {
        ("PUT", "/api/v1/media/fake/uploads/{token}"),
        ("PATCH", "/api/v1/media/fake/tus/{token}"),
        ("GET", "/api/v1/media/fake/videos/{playback_id}/video"),
    }
    fake = FakeVideoProvider(
        base_url=f"http://{settings.host}:{settings.port}",
        data_dir=tmp_path / "own-fake",
        secret="own-fake-secret",
        webhook_secret="own-webhook-secret",
        clock=SystemClock(),
        auto_deliver=False,
    )
    container.embedded_provider.override(providers.Object(fake))
    async with running_service(settings, container) as service:
        assert await resolve(container.embedded_provider) is fake
        created = await service.create(fileSize=4)
        assert created.status_code == 201, created.text
        url = created.json()["uploadUrl"]
        put = await service.client.put(
            url, content=b"\x00\x00", headers={"Content-Range": "bytes 0-1/4"}
        )
    assert put.status_code == 308, put.text
    assert fake.intake.received_bytes(fake.intake.open_slot(url.rsplit("/", 1)[1])) == 2


async def test_a_provider_without_routes_mounts_none(tmp_path: Path) -> None:
    """With Mux in force the fake's paths are unknown (404 problem+json), not a 500."""
    settings = load_settings(environment("mux", tmp_path))
    assert build_provider_routes(settings, None) == ()
    container = build_container(settings)
    container.provider_transport.override(
        providers.Object(httpx.MockTransport(lambda _: httpx.Response(500)))
    )
    async with running_service(settings, container) as service:
        response = await service.client.put("/api/v1/media/fake/uploads/x", content=b"x")
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("application/problem+json")
