"""The local provider under test: its settings, its worker processes, and small real clips."""

from __future__ import annotations

import contextlib
import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import av
import httpx
import numpy as np

from entrypoints.settings import LocalSettings, Settings
from entrypoints.workers import WorkerProcesses
from tests.support.service import service_settings


def local_settings(
    data_dir: Path,
    *,
    database_url: str | None = None,
    service: dict[str, Any] | None = None,
    **local: Any,
) -> Settings:
    """The local provider on SQLite in ``data_dir`` (or ``database_url``), one small rung, short
    segments and a short lease, so that tests run in seconds; ``local`` sets ``LocalSettings``,
    ``service`` any other setting."""
    options: dict[str, Any] = {
        "ladder": (240,),
        "segment_seconds": 1.0,
        "encoder_threads": 1,
        "job_lease_seconds": 3.0,
        "tus_threshold_bytes": None,
    }
    options.update(local)
    return service_settings(
        data_dir,
        provider="local",
        database_url=database_url,
        local=LocalSettings(**options),
        **(service or {}),
    )


@contextlib.contextmanager
def worker_processes(settings: Settings, count: int = 1) -> Iterator[WorkerProcesses]:
    """``count`` real worker processes for ``settings``, stopped afterwards."""
    processes = WorkerProcesses(settings, count)
    processes.start()
    try:
        yield processes
    finally:
        processes.stop()


def make_clip(
    seconds: float = 2.0,
    *,
    width: int = 320,
    height: int = 240,
    fps: int = 25,
    audio: bool = True,
    video: bool = True,
) -> bytes:
    """A real H.264 (+ AAC) MP4 with motion: a bright square crossing noise, and a tone."""
    out = io.BytesIO()
    rng = np.random.default_rng(3)
    with av.open(out, mode="w", format="mp4") as media:
        picture = media.add_stream("libx264", rate=fps) if video else None
        if picture is not None:
            picture.width, picture.height, picture.pix_fmt = width, height, "yuv420p"
            picture.options = {"preset": "ultrafast"}
        sound = media.add_stream("aac", rate=48000) if audio else None
        if picture is not None:
            for index in range(round(seconds * fps)):
                pixels = rng.integers(0, 80, (height, width, 3), dtype=np.uint8)
                left = (index * 7) % max(width - 40, 1)
                pixels[height // 3 : height // 3 + 40, left : left + 40] = 230
                frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
                media.mux(picture.encode(frame))
            media.mux(picture.encode())
        if sound is not None:
            samples = 1024
            for index in range(round(seconds * 48000 / samples)):
                start = index * samples
                tone = np.sin(2 * np.pi * 440 * (start + np.arange(samples)) / 48000)
                frame = av.AudioFrame.from_ndarray(
                    (tone * 0.2).astype(np.float32).reshape(1, -1), format="fltp", layout="mono"
                )
                frame.sample_rate = 48000
                frame.pts = start
                media.mux(sound.encode(frame))
            media.mux(sound.encode())
    return out.getvalue()


async def fetch_hls(client: httpx.AsyncClient, master_url: str) -> dict[str, bytes]:
    """Every file of an HLS presentation by URL: the master, its media playlists, their segments."""
    files: dict[str, bytes] = {}

    async def get(url: str, content_type: str) -> bytes:
        response = await client.get(url)
        assert response.status_code == 200, (url, response.status_code, response.text[:200])
        assert response.headers["content-type"].startswith(content_type), url
        assert response.headers["access-control-allow-origin"] == "*"
        files[url] = response.content
        return response.content

    master = (await get(master_url, "application/vnd.apple.mpegurl")).decode()
    assert master.startswith("#EXTM3U")
    for playlist_uri in _uris(master):
        playlist_url = urljoin(master_url, playlist_uri)
        playlist = (await get(playlist_url, "application/vnd.apple.mpegurl")).decode()
        assert "#EXT-X-ENDLIST" in playlist
        for segment_uri in _uris(playlist):
            await get(urljoin(playlist_url, segment_uri), "video/")
    return files


def _uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def decoded_frames(segment: bytes) -> int:
    """How many video frames a segment decodes to (it must decode without error)."""
    with av.open(io.BytesIO(segment)) as media:
        return sum(1 for _ in media.decode(video=0))


def image_size(data: bytes, image_format: str) -> tuple[int, int]:
    """Width and height of a JPEG or WebP image, decoded."""
    demuxer = {"jpeg": "jpeg_pipe", "webp": "webp_pipe"}[image_format]
    with av.open(io.BytesIO(data), format=demuxer) as media:
        frame = next(media.decode(video=0))
        return frame.width, frame.height


BANDWIDTH = re.compile(r"BANDWIDTH=(\d+)")
