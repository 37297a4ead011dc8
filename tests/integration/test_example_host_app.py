"""The example host app keeps its own Video rows in step through media-core's domain events."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
from aiohttp import web
from examples.host_app.app import build

from tests.support.prism import free_port
from tests.support.service import make_video, service_settings


async def _wait_for(client: httpx.AsyncClient, user: str, status: str) -> list[dict[str, Any]]:
    async with asyncio.timeout(15):
        while True:
            rows: list[dict[str, Any]] = (
                await client.get("/videos", headers={"X-User": user})
            ).json()
            if rows and all(row["status"] == status for row in rows):
                return rows
            await asyncio.sleep(0.05)


async def test_host_rows_follow_uploads_and_user_deletion(tmp_path: Path) -> None:
    """Upload through the mounted API; the host's row gets playback id, status and thumbnail;
    deleting the user removes the media records and the host's rows."""
    port = free_port()
    settings = service_settings(tmp_path, port=port, public_url=f"http://127.0.0.1:{port}/media")
    app, _ = build(settings)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    video = make_video(seconds=1.0)
    try:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=15) as client:
            anonymous = await client.get("/media/api/v1/media")
            assert anonymous.status_code == 401
            created = await client.post(
                "/media/api/v1/media/upload/direct",
                headers={"X-User": "erin"},
                json={
                    "fileName": "clip.mp4",
                    "fileSize": len(video),
                    "mimeType": "video/mp4",
                    "metadata": {"title": "Erin's clip", "visibility": "PUBLIC"},
                },
            )
            assert created.status_code == 201, created.text
            body = created.json()
            rows = (await client.get("/videos", headers={"X-User": "erin"})).json()
            assert [row["status"] for row in rows] == ["uploading"]
            put = await client.put(body["uploadUrl"], content=video)
            assert put.status_code == 200
            ready = await _wait_for(client, "erin", "ready")
            status = (
                await client.get(
                    f"/media/api/v1/media/status/{body['id']}", headers={"X-User": "erin"}
                )
            ).json()
            assert ready == [
                {
                    "media_upload_id": body["id"],
                    "user_id": "erin",
                    "title": "Erin's clip",
                    "status": "ready",
                    "playback_id": status["playbackId"],
                    "thumbnail_url": status["thumbnailUrl"],
                }
            ]
            deleted = await client.delete("/users/erin")
            assert deleted.json() == {"deletedUploads": 1}
            assert (await client.get("/videos", headers={"X-User": "erin"})).json() == []
            gone = await client.get(
                f"/media/api/v1/media/status/{body['id']}", headers={"X-User": "erin"}
            )
            assert gone.status_code == 404
    finally:
        await runner.cleanup()
