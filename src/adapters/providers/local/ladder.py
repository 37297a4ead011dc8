"""The renditions an HLS ladder offers for a source: capped by the source, never upscaled.

A rung named ``720p`` fits the picture into a 1280x720 box (720x1280 for a portrait source),
keeping the display aspect, so a 1920x800 film is ``1080p`` at its own size and a portrait phone
video gets portrait renditions. Dimensions are even, as 4:2:0 chroma needs.
"""

from __future__ import annotations

from collections.abc import Sequence

from attrs import evolve, frozen

from adapters.providers.local.probe import MediaProbe

DEFAULT_HEIGHTS = (240, 360, 480, 720, 1080)
"""The rungs of the default ladder."""

_REFERENCE_KBPS: tuple[tuple[int, int, int], ...] = (
    # (rung, video kb/s, audio kb/s) for a full 16:9 box at 30 frames a second
    (240, 400, 64),
    (360, 800, 96),
    (480, 1400, 128),
    (720, 2800, 128),
    (1080, 5000, 160),
    (1440, 9000, 192),
    (2160, 16000, 192),
)

_OWN_SIZE_SHARE = 0.85
"""A source this much larger than its largest fitting rung also gets a rendition at its own size."""


@frozen
class Rendition:
    """One variant of the ladder: its name (``720p``), frame size and target bitrates (bit/s)."""

    name: str
    width: int
    height: int
    video_bitrate: int
    audio_bitrate: int


def choose_ladder(
    probe: MediaProbe, heights: Sequence[int] = DEFAULT_HEIGHTS
) -> tuple[Rendition, ...]:
    """The renditions of ``heights`` that ``probe``'s display size can fill, smallest first.

    A source smaller than every rung gets one rendition at its own (even) size.
    """
    width, height = probe.width, probe.height
    portrait = height > width
    ladder: list[Rendition] = []
    largest_scale = 0.0
    for rung in sorted(set(heights)):
        box_width, box_height = _box(rung, portrait=portrait)
        scale = min(box_width / width, box_height / height)
        if scale <= 1.0:
            ladder.append(
                _rendition(
                    f"{rung}p",
                    rung=rung,
                    width=width,
                    height=height,
                    scale=scale,
                    frame_rate=probe.frame_rate,
                    portrait=portrait,
                )
            )
            largest_scale = scale
    below_largest = min(width, height) < max(heights, default=0)
    if not ladder or (below_largest and largest_scale < _OWN_SIZE_SHARE):
        own = _rendition(
            None,
            rung=min(width, height),
            width=width,
            height=height,
            scale=1.0,
            frame_rate=probe.frame_rate,
            portrait=portrait,
        )
        if any(rendition.name == own.name for rendition in ladder):
            # a very wide source fills a rung's box by width, far below its height
            own = evolve(own, name=f"{own.width}x{own.height}")
        ladder.append(own)
    return tuple(ladder)


def _box(rung: int, *, portrait: bool) -> tuple[int, int]:
    long_side = _even(rung * 16 / 9)
    return (rung, long_side) if portrait else (long_side, rung)


def _rendition(
    name: str | None,
    *,
    rung: int,
    width: int,
    height: int,
    scale: float,
    frame_rate: float,
    portrait: bool,
) -> Rendition:
    out_width, out_height = _even(width * scale, width), _even(height * scale, height)
    video_kbps, audio_kbps = _reference(rung)
    box_width, box_height = _box(rung, portrait=portrait)
    # Bits follow the pixels really sent; more than 30 frames a second costs half as much again.
    share = out_width * out_height / (box_width * box_height)
    motion = 1.5 if frame_rate > 31 else 1.0
    return Rendition(
        name=name or f"{min(out_width, out_height)}p",
        width=out_width,
        height=out_height,
        video_bitrate=max(round(video_kbps * 1000 * share * motion), 100_000),
        audio_bitrate=audio_kbps * 1000,
    )


def _reference(rung: int) -> tuple[int, int]:
    """The reference bitrates of the largest table rung not above ``rung``."""
    video_kbps, audio_kbps = _REFERENCE_KBPS[0][1:]
    for size, video, audio in _REFERENCE_KBPS:
        if size <= rung:
            video_kbps, audio_kbps = video, audio
    return video_kbps, audio_kbps


def _even(value: float, limit: int | None = None) -> int:
    """``value`` rounded to an even number, at most ``limit`` (not a pixel more than the source)."""
    even = round(value / 2) * 2
    if limit is not None:
        even = min(even, limit // 2 * 2)
    return max(2, even)
