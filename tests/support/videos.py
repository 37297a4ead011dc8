"""Videos for upload tests that need several chunks: real H.264 that compresses badly."""

from __future__ import annotations

import io

import av
import numpy as np


def make_noisy_video(seconds: float = 2.0, fps: int = 10, seed: int = 7) -> bytes:
    """A real 160x120 H.264 MP4 of random frames: about 100 KiB a second, playable, sniffable."""
    out = io.BytesIO()
    rng = np.random.default_rng(seed)
    with av.open(out, mode="w", format="mp4") as media:
        stream = media.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        for _ in range(round(seconds * fps)):
            pixels = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(pixels, format="rgb24")):
                media.mux(packet)
        for packet in stream.encode():
            media.mux(packet)
    return out.getvalue()
