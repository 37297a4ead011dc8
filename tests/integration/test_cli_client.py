"""The client commands as a user runs them: ``upload``, ``webhooks send``, ``doctor``.

Each test runs the real ``media-core`` in a child process against a real service process. Mux
and Cloudflare are played by a small stub of their APIs (only the create and the credential
read are called), so their webhook routes are the service's own, verified by their adapters.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.cut_proxy import CuttingProxy
from tests.support.prism import free_port
from tests.support.processes import ServiceProcess
from tests.support.service import make_video
from tests.support.videos import make_noisy_video

JWT_SECRET = "j" * 40
MUX_SECRET = "mux-webhook-secret-for-tests"
CLOUDFLARE_SECRET = "cloudflare-webhook-secret-for-tests"
MUX_TOKEN = ("token-id", "token-secret")
CLOUDFLARE_TOKEN = "cloudflare-api-token"
ACCOUNT = "acc123"
CLEARED = ("MEDIA_", "DATABASE_URL", "AUTH_", "REDIS_URL", "MUX_", "CLOUDFLARE_", "FAKE_")


def base_env(data_dir: Path, **extra: str) -> dict[str, str]:
    """This process's environment without any media-core setting, plus ``extra``."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(CLEARED)}
    base = {
        "MEDIA_DATA_DIR": str(data_dir),
        "MEDIA_PROVIDER": "fake",  # no transcoding: the client's side is what is tested
        "RECONCILE_INTERVAL_SECONDS": "0",
    }
    return env | base | extra


def cli(
    args: list[str], env: dict[str, str], timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run ``media-core <args>`` to completion."""
    return subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def service(env: dict[str, str], port: int, log: Path) -> Iterator[ServiceProcess]:
    """``media-core serve`` on ``port`` until the block ends."""
    process = ServiceProcess(env, port, log)
    try:
        process.wait_ready()
        yield process
    finally:
        process.stop()


def test_upload_resumes_after_an_interruption(tmp_path: Path) -> None:
    """A connection cut mid-file exits 7; the same command again continues and reaches READY."""
    port = free_port()
    proxy = CuttingProxy(port)
    env = base_env(
        tmp_path / "data",
        MEDIA_PORT=str(port),
        MEDIA_PUBLIC_URL=proxy.url,  # upload URLs lead through the proxy
        FAKE_PROCESSING_DELAY_SECONDS="0.1",
        FAKE_UPLOAD_CHUNK_BYTES=str(32 * 1024),
    )
    video = tmp_path / "noisy.mp4"
    video.write_bytes(make_noisy_video(seconds=2.0))
    size = video.stat().st_size
    assert size > 4 * 32 * 1024
    try:
        with service(env, port, tmp_path / "serve.log"):
            proxy.cap = 100 * 1024
            first = cli(["upload", str(video), "--title", "Noisy", "--json"], env)
            assert first.returncode == 7, first.stderr
            assert "run the same command again" in first.stderr
            assert proxy.cuts >= 1
            states = list((tmp_path / "data" / "uploads").glob("*.json"))
            assert len(states) == 1
            upload_id = json.loads(states[0].read_text())["id"]

            proxy.cap = None
            second = cli(["upload", str(video), "--json", "--wait", "--timeout", "60"], env)
            assert second.returncode == 0, second.stderr
            result = json.loads(second.stdout)
            assert result["id"] == upload_id, "the second run must continue the same upload"
            assert 0 < result["resumedFrom"] < size
            assert result["resumedFrom"] % (32 * 1024) == 0
            assert result["status"] == "ready"
            assert result["playbackUrl"].startswith(proxy.url)
            played = httpx.get(result["playbackUrl"], timeout=10)
            assert played.content == video.read_bytes()
            assert not list((tmp_path / "data" / "uploads").glob("*.json"))
    finally:
        proxy.close()


def test_upload_exit_codes_say_what_failed(tmp_path: Path) -> None:
    """No service: 4; a refused token: 6; a file the policy refuses: 5; a missing file: 2."""
    port = free_port()
    env = base_env(tmp_path / "data", MEDIA_PORT=str(port), FAKE_PROCESSING_DELAY_SECONDS="0.1")
    video = tmp_path / "clip.mp4"
    video.write_bytes(make_video(seconds=1.0))
    token = ["--token", "not-a-jwt"]
    unreachable = cli(["upload", str(video), *token], env)
    assert unreachable.returncode == 4, unreachable.stderr
    assert "cannot be reached" in unreachable.stderr
    assert cli(["upload", str(tmp_path / "missing.mp4"), *token], env).returncode == 2
    with service(env, port, tmp_path / "serve.log"):
        refused = cli(["upload", str(video), *token], env)
        assert refused.returncode == 6, refused.stderr
        text = tmp_path / "notes.txt"
        text.write_text("not a video")
        rejected = cli(["upload", str(text)], env)
        assert rejected.returncode == 5, rejected.stderr
        assert "422" in rejected.stderr
        done = cli(["upload", str(video), "--wait", "--visibility", "private"], env)
        assert done.returncode == 0, done.stderr
        upload_id, status, url = done.stdout.split()
        assert upload_id.startswith("01")
        assert status == "ready"
        assert "token=" in url, "a PRIVATE video plays from a signed URL"
        assert httpx.get(url, timeout=10).status_code == 200


class ProviderStub(BaseHTTPRequestHandler):
    """The two calls the service and doctor make to Mux or Cloudflare: create, and one read."""

    def log_message(self, *args: Any) -> None:  # keep the test output clean
        del args

    def _authorized(self) -> bool:
        header = self.headers.get("Authorization", "")
        mux = "Basic " + base64.b64encode(":".join(MUX_TOKEN).encode()).decode()
        return header in (mux, f"Bearer {CLOUDFLARE_TOKEN}")

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        """Mux's list of uploads or Cloudflare's signing keys: the credential check."""
        if not self._authorized():
            self._answer(401, {"error": {"type": "unauthorized"}, "success": False})
        elif self.path.startswith("/video/v1/uploads"):
            self._answer(200, {"data": []})
        else:
            self._answer(200, {"success": True, "errors": [], "messages": [], "result": []})

    def do_POST(self) -> None:
        """Mux's or Cloudflare's direct-upload create."""
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        if not self._authorized():
            self._answer(401, {"success": False})
        elif self.path == "/video/v1/uploads":
            data = {
                "id": "muxupload0123456789",
                "url": "https://storage.example/put",
                "timeout": 3600,
            }
            self._answer(201, {"data": data | {"status": "waiting"}})
        else:
            result = {
                "uid": "0123456789abcdef0123456789abcdef",
                "uploadURL": "https://upload.example/x",
            }
            self._answer(200, {"success": True, "errors": [], "messages": [], "result": result})


@pytest.fixture
def provider_stub() -> Iterator[str]:
    """The stub's base URL, served on a thread for one test."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), ProviderStub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def provider_env(provider: str, stub: str, data_dir: Path, port: int) -> dict[str, str]:
    """A service of ``provider`` whose API is the stub."""
    common = {"MEDIA_PROVIDER": provider, "MEDIA_PORT": str(port), "AUTH_JWT_SECRET": JWT_SECRET}
    if provider == "mux":
        settings = {
            "MUX_TOKEN_ID": MUX_TOKEN[0],
            "MUX_TOKEN_SECRET": MUX_TOKEN[1],
            "MUX_WEBHOOK_SECRETS": MUX_SECRET,
            "MUX_BASE_URL": stub,
        }
    else:
        settings = {
            "CLOUDFLARE_ACCOUNT_ID": ACCOUNT,
            "CLOUDFLARE_API_TOKEN": CLOUDFLARE_TOKEN,
            "CLOUDFLARE_WEBHOOK_SECRET": CLOUDFLARE_SECRET,
            "CLOUDFLARE_BASE_URL": stub,
        }
    return base_env(data_dir, **common, **settings)


def _create(base: str, token: str) -> dict[str, Any]:
    body = {
        "fileName": "clip.mp4",
        "fileSize": 1000,
        "mimeType": "video/mp4",
        "metadata": {"title": "t", "description": "", "visibility": "PUBLIC"},
    }
    response = httpx.post(
        f"{base}/api/v1/media/upload/direct",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


@pytest.mark.parametrize(
    ("provider", "events"),
    [
        ("mux", ["video.upload.asset_created", "video.asset.ready"]),
        ("cloudflare", ["video.ready"]),
    ],
)
def test_signed_provider_webhooks_are_accepted_by_their_routes(
    provider: str, events: list[str], provider_stub: str, tmp_path: Path
) -> None:
    """`webhooks send` signs as the provider does; its route verifies it and the upload is READY."""
    port = free_port()
    env = provider_env(provider, provider_stub, tmp_path / "data", port)
    with service(env, port, tmp_path / "serve.log") as running:
        token = cli(["token", "--user", "erin"], env)
        assert token.returncode == 0, token.stderr
        created = _create(running.base_url, token.stdout.strip())
        for event in events:
            sent = cli(
                ["webhooks", "send", "--provider", provider, "--event", event,
                 "--upload", created["id"], "--duration", "3.5"],
                env,
            )  # fmt: skip
            assert sent.returncode == 0, sent.stderr
            assert f"/api/v1/media/webhook/{provider}: 200" in sent.stderr
            assert json.loads(sent.stdout)["outcome"] == "applied", sent.stdout
        status = httpx.get(
            f"{running.base_url}/api/v1/media/status/{created['id']}",
            headers={"Authorization": f"Bearer {token.stdout.strip()}"},
            timeout=10,
        ).json()
        assert status["status"] == "ready"
        assert status["duration"] == pytest.approx(3.5)
        if provider == "cloudflare":
            assert status["playbackId"] == created["playbackId"], "the stored uid is reused"
        forged = cli(
            ["webhooks", "send", "--provider", provider, "--event", events[-1],
             "--upload", created["id"], "--secret", "not-the-secret"],
            env,
        )  # fmt: skip
        assert forged.returncode == 6
        assert "invalid-signature" in forged.stdout


def test_doctor_names_what_is_broken(provider_stub: str, tmp_path: Path) -> None:
    """All checks pass against a healthy Mux deployment; a wrong secret or Redis is named."""
    port = free_port()
    env = provider_env("mux", provider_stub, tmp_path / "data", port)
    with service(env, port, tmp_path / "serve.log"):
        healthy = cli(["doctor"], env)
        assert healthy.returncode == 0, healthy.stdout + healthy.stderr
        assert "✓ mux credentials: accepted" in healthy.stdout
        assert "✓ mux webhook secret: present" in healthy.stdout
        assert "✓ public URL" in healthy.stdout
        assert "✗" not in healthy.stdout

        wrong = cli(["doctor"], env | {"MUX_TOKEN_SECRET": "wrong"})
        assert wrong.returncode == 1
        assert "✗ mux credentials" in wrong.stdout
        assert "fix: check MUX_TOKEN_ID and MUX_TOKEN_SECRET" in wrong.stdout
        assert "1 of 7 checks failed: mux credentials" in wrong.stdout

        no_redis = cli(["doctor"], env | {"REDIS_URL": f"redis://127.0.0.1:{free_port()}/0"})
        assert no_redis.returncode == 1
        assert "✗ redis" in no_redis.stdout
        assert "checks failed: redis" in no_redis.stdout
    stopped = cli(["doctor"], env)
    assert stopped.returncode == 1
    assert "✗ public URL" in stopped.stdout
    assert "fix: start the service" in stopped.stdout
