"""Videos for tests, generated with PyAV: noisy H.264 for chunked uploads, and small sources of
every kind the local provider must process (codecs, containers, rotation, bit depth, no audio)."""

from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

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


def pattern(index: int, width: int, height: int) -> np.ndarray:
    """An RGB frame with detail and motion: colour ramps and a white square moving right."""
    rows = np.linspace(0, 255, height, dtype=np.uint8)[:, None]
    columns = np.linspace(0, 255, width, dtype=np.uint8)[None, :]
    pixels = np.empty((height, width, 3), dtype=np.uint8)
    pixels[:, :, 0] = columns
    pixels[:, :, 1] = rows
    pixels[:, :, 2] = (index * 16) % 256
    side = max(4, height // 4)
    left = (index * 4) % max(1, width - side)
    pixels[height // 3 : height // 3 + side, left : left + side] = 255
    return pixels


def make_video(
    path: Path,
    *,
    codec: str = "libx264",
    container: str = "mp4",
    width: int = 160,
    height: int = 120,
    fps: int = 15,
    seconds: float = 1.0,
    pixel_format: str = "yuv420p",
    rotation: int | None = None,
    audio: bool = True,
    black_seconds: float = 0.0,
    grey: int | None = None,
    sample_aspect_ratio: Fraction | None = None,
) -> Path:
    """Write a small video to ``path``: ``round(seconds * fps)`` frames of :func:`pattern`.

    ``rotation`` stores a display matrix, as phones do (counter-clockwise degrees, as FFmpeg
    reports it: -90 is a portrait phone video stored landscape). The first ``black_seconds`` are
    black; with ``grey`` every frame is that flat RGB grey level. ``sample_aspect_ratio`` makes
    the pixels non-square (anamorphic). Audio is a 440 Hz tone (AAC
    in MP4, Opus in WebM).
    """
    frames = round(seconds * fps)
    with av.open(str(path), mode="w", format=container) as media:
        video = media.add_stream(codec, rate=fps)
        video.width, video.height, video.pix_fmt = width, height, pixel_format
        if rotation is not None:
            video.set_display_rotation(rotation)
        if sample_aspect_ratio is not None:
            video.sample_aspect_ratio = sample_aspect_ratio
        sound = None
        if audio:
            sound = media.add_stream("libopus" if container == "webm" else "aac", rate=48000)
            sound.layout = "stereo"
        for index in range(frames):
            black = index < round(black_seconds * fps)
            if grey is not None or black:
                pixels = np.full((height, width, 3), 0 if black else grey, np.uint8)
            else:
                pixels = pattern(index, width, height)
            frame = av.VideoFrame.from_ndarray(pixels, format="rgb24")
            frame.pts = index
            frame.time_base = Fraction(1, fps)
            media.mux(video.encode(frame))
        media.mux(video.encode(None))
        if sound is not None:
            _tone(media, sound, seconds)
    return path


def _tone(media: av.container.OutputContainer, sound: av.AudioStream, seconds: float) -> None:
    rate = 48000
    step = 960
    for start in range(0, round(seconds * rate), step):
        times = np.arange(start, start + step) / rate
        wave = (0.2 * np.sin(2 * np.pi * 440 * times)).astype(np.float32)
        frame = av.AudioFrame.from_ndarray(np.stack([wave, wave]), format="fltp", layout="stereo")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        media.mux(sound.encode(frame))
    media.mux(sound.encode(None))


def make_audio_only(path: Path, seconds: float = 1.0) -> Path:
    """An M4A-like MP4 with one AAC stream and no picture."""
    with av.open(str(path), mode="w", format="mp4") as media:
        sound = media.add_stream("aac", rate=48000)
        sound.layout = "stereo"
        _tone(media, sound, seconds)
    return path


def damage_part_way(data: bytes, *, kept: float = 1 / 3, seed: int = 1) -> bytes:
    """An MP4 whose media data after the first ``kept`` share is noise, its index intact: it
    opens and its start decodes, and most of it does not."""
    mdat, moov = data.find(b"mdat"), data.find(b"moov")
    assert 0 < mdat < moov, "the index must follow the media data"
    start = mdat + 4 + round((moov - mdat) * kept)
    end = moov - 4
    noise = np.random.default_rng(seed).integers(0, 256, end - start, dtype=np.uint8).tobytes()
    return data[:start] + noise + data[end:]
