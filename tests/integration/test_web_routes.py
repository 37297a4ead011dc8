"""The page's routes over real HTTP: the policy route, the static files, the client libraries."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from aiohttp import web

from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.http.problems import ERROR_REPORTER
from entrypoints.http.web import VENDOR_FILES, WEB_NODE_MODULES, find_node_modules
from tests.conftest import need
from tests.support.service import assert_matches_openapi, service_settings, serving


async def test_policy_route_mirrors_the_server_policy(tmp_path: Path) -> None:
    """GET /api/v1/media/policy answers the configured limit and types, with no token needed."""
    settings = service_settings(tmp_path, database_url="memory://", max_upload_bytes=1_234_567)
    container = build_container(settings)
    async with serving(create_app(container), settings, container) as service:
        response = await service.client.get("/api/v1/media/policy")
    assert response.status_code == 200
    assert_matches_openapi("GET", "/api/v1/media/policy", response)
    body = response.json()
    assert body["maxFileSize"] == 1_234_567
    assert body["types"]["video/mp4"] == [".m4v", ".mp4"]
    assert ".webm" in body["extensions"]
    assert body["extensions"] == sorted(body["extensions"])
    assert body["visibilities"] == ["PUBLIC", "UNLISTED", "PRIVATE"]


async def test_page_and_assets_are_served_with_a_strict_policy(tmp_path: Path) -> None:
    """GET / is the page with a CSP; its modules are JavaScript; nothing else leaks out."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    async with serving(create_app(container), settings, container) as service:
        page = await service.client.get("/")
        script = await service.client.get("/static/media-core/app.js")
        style = await service.client.get("/static/media-core/style.css")
        missing = await service.client.get("/static/media-core/nope.js")
        escape = await service.client.get("/static/media-core/..%2F__init__.py")
        unknown_library = await service.client.get("/static/media-core/vendor/left-pad.js")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    csp = page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "object-src 'none'" in csp
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert 'src="static/media-core/app.js"' in page.text
    assert script.status_code == 200
    assert script.headers["content-type"].startswith("text/javascript")
    assert "import" in script.text
    assert style.headers["content-type"].startswith("text/css")
    assert missing.status_code == escape.status_code == unknown_library.status_code == 404


async def test_client_libraries_come_from_node_modules(tmp_path: Path) -> None:
    """The three libraries are served byte for byte from the installed npm packages."""
    node_modules = find_node_modules(Path(__file__).parent)
    need(node_modules is not None, "needs node_modules (npm ci --omit=dev)")
    assert node_modules is not None
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    async with serving(create_app(container), settings, container) as service:
        for name, (package, file) in VENDOR_FILES.items():
            response = await service.client.get(f"/static/media-core/vendor/{name}")
            assert response.status_code == 200, name
            assert response.headers["content-type"].startswith("text/javascript")
            assert response.content == (node_modules / package / file).read_bytes()


async def test_missing_libraries_answer_how_to_install_them(tmp_path: Path) -> None:
    """Without node_modules the library URLs answer 404 saying which command installs them."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    app = create_app(container)
    app[WEB_NODE_MODULES] = tmp_path / "empty"
    async with serving(app, settings, container) as service:
        page = await service.client.get("/")
        library = await service.client.get("/static/media-core/vendor/tus.min.js")
    assert page.status_code == 200
    assert library.status_code == 404
    assert "npm ci --omit=dev" in library.json()["detail"]


async def test_host_app_can_leave_the_pages_out(tmp_path: Path) -> None:
    """create_app(include_web=False) serves the API and no page."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    async with serving(create_app(container, include_web=False), settings, container) as service:
        page = await service.client.get("/")
        asset = await service.client.get("/static/media-core/app.js")
        policy = await service.client.get("/api/v1/media/policy")
        health = await service.client.get("/healthz")
    assert page.status_code == asset.status_code == 404
    assert policy.status_code == health.status_code == 200


async def test_a_root_route_added_after_create_app_fails_loudly(tmp_path: Path) -> None:
    """A route at ``/`` added later sits behind the catch-all: it answers 500, never a quiet
    404; one under a longer fixed path is matched before the catch-all and works."""
    settings = service_settings(tmp_path, database_url="memory://")
    container = build_container(settings)
    app = create_app(container, include_web=False)

    async def late(_: web.Request) -> web.Response:
        return web.Response(text="late")

    app.router.add_get("/", late)
    app.router.add_get("/late", late)
    reports: list[tuple[BaseException, Mapping[str, object]]] = []

    class Recorder:
        def report(self, error: BaseException, context: Mapping[str, object]) -> None:
            reports.append((error, context))

    app[ERROR_REPORTER] = Recorder()
    async with serving(app, settings, container) as service:
        hidden = await service.client.get("/")
        reached = await service.client.get("/late")
        unknown = await service.client.get("/unknown")
    assert hidden.status_code == 500
    assert hidden.headers["content-type"].startswith("application/problem+json")
    [(error, context)] = reports
    assert isinstance(error, RuntimeError)
    assert context["route"] == "unmatched"
    assert context["request_id"] == hidden.headers["X-Request-ID"]
    assert reached.text == "late"
    assert unknown.status_code == 404
