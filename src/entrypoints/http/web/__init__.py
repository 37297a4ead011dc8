"""The web pages: sign in, upload with progress, follow the status live, list and play videos.

``create_app(container, include_web=True)`` mounts them; a host application that has its own front
end passes ``include_web=False`` and keeps only the API. Everything is static: one HTML page, a
style sheet and a few ES modules (no build step), plus three client libraries served straight from
the project's ``node_modules`` (installed by ``npm ci --omit=dev``; never copied into the
repository): tus-js-client (tus uploads), @mux/upchunk (chunked PUT uploads) and hls.js (HLS
playback). When they are missing the page says so and does what it can without them (a single PUT
instead of chunks, MP4 playback); nothing else breaks.

**Signing in.** The page asks for a bearer token and keeps it in ``sessionStorage`` (this tab
only). It also accepts one in the URL *fragment*, ``http://host:port/#token=<JWT>``, then removes
it from the address bar: on the embedded default a newcomer opens the link built from the token
``media-core serve`` prints and is signed in. We chose this over a development endpoint that hands
out tokens because the fragment never leaves the browser (it is not sent to the server, so it is not
in access logs, nor in ``Referer``), because it needs no route that grants credentials to whoever
can reach the port (any local program, or a web page using DNS rebinding), and because it works the
same with every provider and with a host's own tokens.

All URLs in the page are relative, so the whole application can also be mounted under a prefix.
"""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from entrypoints.http.pipeline import ObservedRoutes
from entrypoints.http.problems import HttpProblem

STATIC_DIR = Path(__file__).parent / "static"
VENDOR_FILES: dict[str, tuple[str, str]] = {
    "tus.min.js": ("tus-js-client", "dist/tus.min.js"),
    "upchunk.mjs": ("@mux/upchunk", "dist/upchunk.mjs"),
    "hls.min.mjs": ("hls.js", "dist/hls.min.mjs"),
}
"""What the page may load from ``node_modules``: served name → (package, file in it)."""

CONTENT_SECURITY_POLICY = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        # Inline styles only: @mux/upchunk's XHR helper parses responses as documents.
        "style-src 'self' 'unsafe-inline'",
        # Thumbnails, videos and uploads live at the provider (Mux, Cloudflare) or here (fake).
        "img-src 'self' https: http: data: blob:",
        "media-src 'self' https: http: blob:",
        "connect-src 'self' https: http:",
        "worker-src 'self' blob:",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    )
)
PAGE_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}
WEB_NODE_MODULES = web.AppKey("web_node_modules", Path)


def find_node_modules(start: Path | None = None) -> Path | None:
    """The ``node_modules`` folder next to the working directory or to this source tree."""
    here = Path(__file__).resolve()
    for base in (start or Path.cwd(), *here.parents):
        candidate = base / "node_modules"
        if (candidate / "tus-js-client").is_dir() or (candidate / "hls.js").is_dir():
            return candidate
    return None


async def index(_: web.Request) -> web.FileResponse:
    """``GET /``: the single page."""
    response = web.FileResponse(STATIC_DIR / "index.html", headers=PAGE_HEADERS)
    response.content_type = "text/html"
    return response


async def static_file(request: web.Request) -> web.FileResponse:
    """``GET /static/media-core/{name}``: the page's own scripts and styles."""
    name = request.match_info["name"]
    path = STATIC_DIR / name
    if name.startswith(".") or "/" in name or not path.is_file():
        raise HttpProblem("not-found")
    return web.FileResponse(path, headers={"Cache-Control": "no-cache", **_type(name)})


async def vendor_file(request: web.Request) -> web.FileResponse:
    """``GET /static/media-core/vendor/{name}``: a client library from ``node_modules``."""
    name = request.match_info["name"]
    entry = VENDOR_FILES.get(name)
    root = request.app.get(WEB_NODE_MODULES)
    if entry is None:
        raise HttpProblem("not-found")
    path = root / entry[0] / entry[1] if root is not None else None
    if path is None or not path.is_file():
        raise HttpProblem(
            "not-found",
            f"the client library {entry[0]} is not installed: run `npm ci --omit=dev` "
            "in the service's directory",
        )
    return web.FileResponse(path, headers={"Cache-Control": "max-age=3600", **_type(name)})


def _type(name: str) -> dict[str, str]:
    kinds = {
        ".js": "text/javascript",
        ".mjs": "text/javascript",
        ".css": "text/css",
        ".svg": "image/svg+xml",
        ".html": "text/html",
    }
    kind = kinds.get(Path(name).suffix)
    return {"Content-Type": f"{kind}; charset=utf-8"} if kind else {}


def add_web_routes(app: web.Application, *, node_modules: Path | None = None) -> None:
    """Mount the page at ``/`` and its files under ``/static/media-core/``.

    ``node_modules`` is where the client libraries are installed; by default the first
    ``node_modules`` found beside the working directory or the source tree.
    """
    found = node_modules or find_node_modules()
    if found is not None:
        app[WEB_NODE_MODULES] = found
    routes = ObservedRoutes(app)
    routes.add_get("/", index)
    routes.add_get("/static/media-core/vendor/{name}", vendor_file)
    routes.add_get("/static/media-core/{name}", static_file)
