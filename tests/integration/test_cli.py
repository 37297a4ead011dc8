"""The ``media-core`` command as an operator runs it: serve, migrate, token — in real processes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import jwt
import pytest

from tests.conftest import need
from tests.support.prism import free_port
from tests.support.service import make_video

CLI = [sys.executable, "-m", "entrypoints.cli"]


@contextlib.contextmanager
def serve(env: dict[str, str], port: int) -> Iterator[list[str]]:
    """Run ``media-core serve``; yield the lines it printed once it listens."""
    process = subprocess.Popen(
        [*CLI, "serve"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    lines: list[str] = []
    try:
        assert process.stdout is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("eyJ"):
                break
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            time.sleep(0.05)
        yield lines
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def curl(*args: str) -> str:
    """Run curl and return what it printed."""
    return subprocess.run(
        ["curl", "-s", "--max-time", "20", *args], capture_output=True, text=True, check=True
    ).stdout


def environment(data_dir: Path, port: int, **extra: str) -> dict[str, str]:
    """The environment of a service on the embedded default."""
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith(("MEDIA_", "DATABASE_URL", "AUTH_", "REDIS_URL"))
    }
    return env | {
        "MEDIA_DATA_DIR": str(data_dir),
        "MEDIA_PORT": str(port),
        "FAKE_PROCESSING_DELAY_SECONDS": "0.1",
        **extra,
    }


def test_curl_journey_and_restart(tmp_path: Path) -> None:
    """The README's curl journey works against `media-core serve`, and survives a restart."""
    need(shutil.which("curl"), "curl is not installed")
    port = free_port()
    env = environment(tmp_path / "data", port)
    video_file = tmp_path / "clip.mp4"
    video_file.write_bytes(make_video(seconds=2.0))
    base = f"http://127.0.0.1:{port}"
    with serve(env, port) as printed:
        token = printed[-1]
        assert token.startswith("eyJ"), printed
        body = json.dumps(
            {
                "fileName": "clip.mp4",
                "fileSize": video_file.stat().st_size,
                "mimeType": "video/mp4",
                "metadata": {"title": "My clip", "description": "", "visibility": "PUBLIC"},
            }
        )
        created = json.loads(
            curl(
                "-X", "POST", f"{base}/api/v1/media/upload/direct",
                "-H", f"Authorization: Bearer {token}",
                "-H", "Content-Type: application/json",
                "-d", body,
            )
        )  # fmt: skip
        assert created["status"] == "ready_for_upload"
        code = curl(
            "-o", "/dev/null", "-w", "%{http_code}", "-X", "PUT",
            "-H", "Content-Type: video/mp4", "--data-binary", f"@{video_file}",
            created["uploadUrl"],
        )  # fmt: skip
        assert code == "200"
        status: dict[str, object] = {}
        for _ in range(100):
            status = json.loads(
                curl(
                    f"{base}/api/v1/media/status/{created['id']}",
                    "-H",
                    f"Authorization: Bearer {token}",
                )
            )
            if status["status"] in ("ready", "failed"):
                break
            time.sleep(0.1)
        assert status["status"] == "ready", status
        assert status["duration"] == pytest.approx(2.0, abs=0.2)
    with serve(env, port) as printed:
        token = printed[-1]
        again = json.loads(
            curl(
                f"{base}/api/v1/media/status/{created['id']}",
                "-H",
                f"Authorization: Bearer {token}",
            )
        )
        assert again == status


def test_bad_settings_stop_with_every_problem(tmp_path: Path) -> None:
    """Invalid settings stop the service at once, listing each problem."""
    env = environment(tmp_path, free_port(), MEDIA_PROVIDER="vimeo", MEDIA_PORT="eighty")
    result = subprocess.run(
        [*CLI, "serve"], env=env, capture_output=True, text=True, timeout=30, check=False
    )
    assert result.returncode == 2
    assert "MEDIA_PROVIDER" in result.stderr
    assert "MEDIA_PORT" in result.stderr


def cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """Run ``media-core <args>`` to completion."""
    return subprocess.run(
        [*CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_token_command(tmp_path: Path) -> None:
    """`media-core token` signs with the data dir's secret, says so, and the service accepts it."""
    env = environment(tmp_path, free_port())
    refused = cli(["token", "--user", "carol"], env)
    assert refused.returncode == 2
    assert "no development secrets" in refused.stderr
    assert not (tmp_path / "secrets.json").exists()
    created = cli(["token", "--user", "carol", "--create-secrets"], env)
    assert created.returncode == 0, created.stderr
    assert f"created {tmp_path.resolve() / 'secrets.json'}" in created.stderr
    again = cli(["token", "--user", "carol"], env)
    assert again.returncode == 0, again.stderr
    assert f"from {tmp_path.resolve() / 'secrets.json'}" in again.stderr
    secret = json.loads((tmp_path / "secrets.json").read_text())["jwtSecret"]
    claims = jwt.decode(again.stdout.strip(), secret, algorithms=["HS256"])
    assert claims["sub"] == "carol"


def test_token_refuses_an_empty_user(tmp_path: Path) -> None:
    """An empty user id is refused before anything is signed."""
    result = cli(["token", "--user", "", "--create-secrets"], environment(tmp_path, free_port()))
    assert result.returncode == 2
    assert "--user: must not be empty" in result.stderr
    assert not (tmp_path / "secrets.json").exists()


def test_token_with_a_configured_secret_says_so(tmp_path: Path) -> None:
    """With AUTH_JWT_SECRET the token is signed with it, and no local secret is made."""
    secret = "s" * 40
    env = environment(tmp_path, free_port(), AUTH_JWT_SECRET=secret)
    result = cli(["token", "--user", "dave"], env)
    assert result.returncode == 0, result.stderr
    assert "signed with AUTH_JWT_SECRET" in result.stderr
    assert jwt.decode(result.stdout.strip(), secret, algorithms=["HS256"])["sub"] == "dave"
    assert not (tmp_path / "secrets.json").exists()


def test_version_and_help_texts(tmp_path: Path) -> None:
    """`--version` prints the version; `--help` lists every command, stats included."""
    env = environment(tmp_path, free_port())
    version = cli(["--version"], env)
    assert version.returncode == 0
    assert version.stdout.startswith("media-core 0.")
    helped = cli(["--help"], env)
    for command in ("serve", "migrate", "reconcile", "token", "stats"):
        assert f"    {command} " in helped.stdout or f"    {command}\n" in helped.stdout
    assert "exit codes:" in helped.stdout


def test_migrate_says_what_it_did(tmp_path: Path) -> None:
    """`migrate` names the revisions on a fresh SQLite file, then says "already current"."""
    env = environment(tmp_path, free_port())
    first = cli(["migrate"], env)
    assert first.returncode == 0, first.stderr
    assert "migrated the schema from an empty database to " in first.stdout
    second = cli(["migrate"], env)
    assert second.returncode == 0, second.stderr
    assert "the schema is already current (revision " in second.stdout


def test_postgres_schema_must_be_migrated(tmp_path: Path) -> None:
    """`serve` refuses an unmigrated PostgreSQL database; `migrate` fixes it."""
    url = os.environ.get("MEDIA_TEST_POSTGRES_URL")
    need(url, "MEDIA_TEST_POSTGRES_URL is not set (a PostgreSQL server)")
    assert url is not None
    name = f"media_cli_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(url, f'CREATE DATABASE "{name}"'))
    database_url = f"{url.rsplit('/', 1)[0]}/{name}"
    try:
        env = environment(tmp_path, free_port(), DATABASE_URL=database_url)
        refused = subprocess.run(
            [*CLI, "serve"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert refused.returncode == 3
        assert "media-core migrate" in refused.stderr
        migrated = subprocess.run(
            [*CLI, "migrate"], env=env, capture_output=True, text=True, timeout=60, check=False
        )
        assert migrated.returncode == 0, migrated.stderr
        port = int(env["MEDIA_PORT"])
        with serve(env, port) as printed:
            assert any("serving on" in line for line in printed), printed
            health = curl(f"http://127.0.0.1:{port}/healthz") if shutil.which("curl") else "{}"
            assert json.loads(health or "{}").get("status") in ("ok", None)
    finally:
        asyncio.run(_admin(url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _admin(url: str, statement: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(statement)
    finally:
        await conn.close()
