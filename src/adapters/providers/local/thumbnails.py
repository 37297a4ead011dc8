"""Still images of a video: a representative frame, any frame as JPEG or WebP, a storyboard.

A thumbnail is the decoded frame nearest the asked time (after a seek to the keyframe before it),
turned upright and scaled to the asked width with the display aspect kept; never wider than the
video. :func:`representative_time` looks at a few frames spread over the video and picks the one
with the most detail, so a fade from black does not become the poster.

Processing needs no seek at all: a :class:`FrameSampler` is handed every frame of the transcode's
one decode and keeps what the representative time and the storyboard need.
"""

from __future__ import annotations

import math
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import av.error
from attrs import frozen
from av.video.reformatter import ColorRange, Interpolation

from adapters.providers.local.probe import UNREADABLE, InvalidMedia, MediaProbe, probe
from adapters.providers.local.upright import display_rotation, display_size, upright

ImageFormat = Literal["jpeg", "webp"]

CONTENT_TYPES: dict[str, str] = {"jpeg": "image/jpeg", "webp": "image/webp"}
"""The media type of each image format, for serving."""

_CANDIDATES = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)
"""Where in the video :func:`representative_time` looks, as shares of the duration."""

_REACH = 1.0
"""Seconds :func:`representative_time` decodes past a keyframe at most, per look."""

_SAMPLE_SIZE = (64, 36)
_JPEG_QSCALE = 3
"""FFmpeg's JPEG quantiser scale (2 best .. 31 worst): 3 is visually clean at a few tens of KB."""
_WEBP_QUALITY = "80"


@frozen
class Storyboard:
    """A sprite of tiles (JPEG) and the WebVTT that maps each time range to its tile."""

    image: bytes
    vtt: str
    columns: int
    rows: int
    tile_width: int
    tile_height: int


def representative_time(source: Path, probe: MediaProbe) -> float:
    """The time (seconds) of the frame with the most detail among a few spread over the video.

    Each look decodes at most :data:`_REACH` past the keyframe before its time, so a long-GOP
    source costs a few seconds of decoding, not a few GOPs.
    """
    best_time, best_score = 0.0, -math.inf
    with _open(source) as container:
        start = _start_seconds(container)
        for share in _CANDIDATES:
            frame = _frame_at(container, share * probe.duration, reach=_REACH)
            if frame is None or frame.time is None:
                continue
            score = _detail(frame)
            if score > best_score + 1e-9:
                best_time, best_score = max(frame.time - start, 0.0), score
    return best_time


def render_thumbnail(
    source: Path,
    *,
    time: float | None,
    width: int | None,
    image_format: ImageFormat,
) -> bytes:
    """The frame at ``time`` (None: :func:`representative_time`) as an image ``width`` wide.

    ``width`` None is the video's display width; a wider one is capped to it. The height follows
    the display aspect. A time past the end gives the last frame. Only a ``time`` of None reads
    the whole file (a probe); otherwise one seek and at most a GOP are decoded. Raises
    :class:`InvalidMedia` if no frame decodes.
    """
    at = representative_time(source, probe(source)) if time is None else max(time, 0.0)
    with _open(source) as container:
        frame = _frame_at(container, at)
        aspect = container.streams.video[0].sample_aspect_ratio
    if frame is None:
        raise InvalidMedia("The video in this file cannot be decoded.")
    shown_width, shown_height = display_size(
        frame.width, frame.height, display_rotation(frame), aspect
    )
    return _shown(upright(frame), (shown_width, shown_height), width, image_format)


def _shown(
    frame: av.VideoFrame, shown: tuple[int, int], width: int | None, image_format: ImageFormat
) -> bytes:
    """An upright ``frame`` whose display size is ``shown`` as an image ``width`` wide (None:
    the display width; never wider), the height following the display aspect."""
    shown_width, shown_height = shown
    out_width = min(width or shown_width, shown_width)
    out_height = max(1, round(out_width * shown_height / shown_width))
    return encode_image(frame, out_width, out_height, image_format)


def storyboard(
    source: Path, *, interval: float = 5.0, tile_width: int = 160, columns: int = 10
) -> Storyboard:
    """One tile every ``interval`` seconds in a sprite, and a WebVTT of ``#xywh`` cues."""
    facts = probe(source)
    layout = _Layout.of(facts, interval=interval, tile_width=tile_width, columns=columns)
    tiles: list[av.VideoFrame | None] = []
    with _open(source) as container:
        for index in range(layout.count):
            frame = _frame_at(container, index * interval)
            tiles.append(None if frame is None else layout.tile(upright(frame)))
    return layout.assemble(tiles)


class FrameSampler:
    """The representative time and the storyboard, from frames handed over as they are decoded.

    :meth:`add` takes every upright frame once, in order, with its time from the start (what
    :func:`.hls.transcode_hls` gives its ``on_frame``); it looks at the frames at the times
    :func:`representative_time` and :func:`storyboard` would seek to, so the results match
    theirs without a second decode of the file.
    """

    def __init__(
        self,
        facts: MediaProbe,
        *,
        interval: float = 5.0,
        tile_width: int = 160,
        columns: int = 10,
    ) -> None:
        self.layout = _Layout.of(facts, interval=interval, tile_width=tile_width, columns=columns)
        self.interval = interval
        self.candidates = [share * facts.duration for share in _CANDIDATES]
        self.half_frame = 0.5 / (facts.frame_rate or 30.0)
        self.tiles: list[av.VideoFrame | None] = []
        self.looked = 0
        self.best_time, self.best_score = 0.0, -math.inf
        self.best_frame: av.VideoFrame | None = None
        self.last: tuple[av.VideoFrame, float] | None = None
        self._shown = (facts.width, facts.height)

    def add(self, frame: av.VideoFrame, seconds: float) -> None:
        """Account for ``frame``, shown ``seconds`` after the first one."""
        self.last = frame, seconds
        reached = seconds + self.half_frame
        if self.looked < len(self.candidates) and reached >= self.candidates[self.looked]:
            self._look(frame, seconds)
            while self.looked < len(self.candidates) and reached >= self.candidates[self.looked]:
                self.looked += 1
        if self._tile_due(reached):
            tile = self.layout.tile(frame)
            while self._tile_due(reached):
                self.tiles.append(tile)

    def representative_time(self) -> float:
        """The time of the frame with the most detail among those looked at."""
        if self.looked < len(self.candidates) and self.last is not None:
            self._look(*self.last)  # the times past the last frame see the last frame
            self.looked = len(self.candidates)
        return self.best_time

    def poster(self, width: int | None, image_format: ImageFormat = "jpeg") -> bytes | None:
        """The frame at :meth:`representative_time` as :func:`render_thumbnail` renders it
        there, from the frame already decoded; None if no frame was seen."""
        self.representative_time()
        if self.best_frame is None:
            return None
        return _shown(self.best_frame, self._shown, width, image_format)

    def storyboard(self) -> Storyboard:
        """The sprite and its WebVTT; tiles past the last frame show the last frame."""
        tiles: list[av.VideoFrame | None] = list(self.tiles)
        if len(tiles) < self.layout.count:
            last = None if self.last is None else self.layout.tile(self.last[0])
            tiles += [last] * (self.layout.count - len(tiles))
        return self.layout.assemble(tiles)

    def _tile_due(self, reached: float) -> bool:
        return len(self.tiles) < self.layout.count and reached >= len(self.tiles) * self.interval

    def _look(self, frame: av.VideoFrame, seconds: float) -> None:
        score = _detail(frame)
        if score > self.best_score + 1e-9:
            self.best_time, self.best_score = max(seconds, 0.0), score
            self.best_frame = frame


@frozen
class _Layout:
    """Where each storyboard tile goes in the sprite, and what time range it stands for."""

    duration: float
    interval: float
    count: int
    columns: int
    rows: int
    tile_width: int
    tile_height: int

    @classmethod
    def of(cls, facts: MediaProbe, *, interval: float, tile_width: int, columns: int) -> _Layout:
        # 4:2:0 tiles need even sides to sit on chroma sample boundaries in the sprite
        tile_width = max(2, min(tile_width, facts.width) // 2 * 2)
        tile_height = max(2, round(tile_width * facts.height / facts.width / 2) * 2)
        count = max(1, math.ceil(facts.duration / interval))
        columns = min(columns, count)
        return cls(
            duration=facts.duration,
            interval=interval,
            count=count,
            columns=columns,
            rows=math.ceil(count / columns),
            tile_width=tile_width,
            tile_height=tile_height,
        )

    def tile(self, frame: av.VideoFrame) -> av.VideoFrame:
        """``frame`` (upright) at the tile size, in the sprite's pixel format."""
        return _scaled(frame, self.tile_width, self.tile_height, "yuv420p")

    def assemble(self, tiles: list[av.VideoFrame | None]) -> Storyboard:
        """The sprite of ``tiles`` (one per cue; None: the tile before it) and the WebVTT."""
        planes = _Sprite(self.columns * self.tile_width, self.rows * self.tile_height)
        previous: av.VideoFrame | None = None
        cues = ["WEBVTT", ""]
        for index, tile in enumerate(tiles):
            x = (index % self.columns) * self.tile_width
            y = (index // self.columns) * self.tile_height
            previous = tile or previous
            if previous is not None:
                planes.paste(previous, x, y)
            end = min((index + 1) * self.interval, self.duration)
            cues += [
                f"{_vtt_time(index * self.interval)} --> {_vtt_time(end)}",
                f"storyboard.jpg#xywh={x},{y},{self.tile_width},{self.tile_height}",
                "",
            ]
        return Storyboard(
            image=encode_image(planes.frame(), planes.width, planes.height, "jpeg"),
            vtt="\n".join(cues),
            columns=self.columns,
            rows=self.rows,
            tile_width=self.tile_width,
            tile_height=self.tile_height,
        )


def encode_image(frame: av.VideoFrame, width: int, height: int, image_format: ImageFormat) -> bytes:
    """``frame`` scaled to ``width`` x ``height`` and encoded as one JPEG or WebP image."""
    if image_format == "jpeg":
        context = av.CodecContext.create("mjpeg", "w")
        context.pix_fmt = "yuvj420p"
        context.color_range = ColorRange.JPEG
        # PyAV cannot set a frame's quality, which fixed-qscale mode reads: pin the rate
        # control's quantiser range instead.
        context.qmin = context.qmax = _JPEG_QSCALE
        image = _scaled(frame, width, height, "yuvj420p", ColorRange.JPEG)
    else:
        context = av.CodecContext.create("libwebp", "w")
        context.pix_fmt = "yuv420p"
        context.options = {"quality": _WEBP_QUALITY}
        image = _scaled(frame, width, height, "yuv420p")
    assert isinstance(context, av.VideoCodecContext)
    context.width, context.height = width, height
    context.time_base = Fraction(1, 1)
    image.pts = 0
    packets = context.encode(image) + context.encode(None)
    return b"".join(bytes(packet) for packet in packets)


def _scaled(
    frame: av.VideoFrame,
    width: int,
    height: int,
    pixel_format: str,
    color_range: ColorRange | None = None,
) -> av.VideoFrame:
    return frame.reformat(
        width=width,
        height=height,
        format=pixel_format,
        interpolation=Interpolation.BICUBIC,
        # an unflagged source is TV range; a full-range one must not be stretched again
        src_color_range=ColorRange.JPEG if frame.color_range == ColorRange.JPEG else None,
        dst_color_range=color_range,
    )


def _open(source: Path) -> av.container.InputContainer:
    try:
        return av.open(str(source), mode="r")
    except av.error.FFmpegError as exc:
        raise InvalidMedia(UNREADABLE) from exc


def _start_seconds(container: av.container.InputContainer) -> float:
    video = container.streams.video[0]
    return float((video.start_time or 0) * (video.time_base or 0))


def _frame_at(
    container: av.container.InputContainer, at: float, *, reach: float | None = None
) -> av.VideoFrame | None:
    """The first decoded frame at or after ``at`` seconds from the start, else the last one.

    With ``reach``, no frame more than ``reach`` seconds after the keyframe the seek lands on.
    """
    video = container.streams.video[0]
    time_base = video.time_base
    assert time_base is not None
    start = video.start_time or 0
    container.seek(start + int(at / time_base), stream=video, backward=True, any_frame=False)
    video.codec_context.flush_buffers()
    last: av.VideoFrame | None = None
    target = at + float(start * time_base) - 0.5 / float(video.average_rate or 30)
    try:
        for packet in container.demux(video):
            try:
                frames = packet.decode()
            except av.error.InvalidDataError:
                continue
            for frame in frames:
                assert isinstance(frame, av.VideoFrame)
                if last is None and reach is not None and frame.time is not None:
                    target = min(target, frame.time + reach)
                last = frame
                if frame.time is not None and frame.time >= target:
                    return frame
    except av.error.EOFError:
        pass
    return last


def _detail(frame: av.VideoFrame) -> float:
    """How much a frame shows: the spread of its luma, on a small grey copy."""
    grey = frame.reformat(width=_SAMPLE_SIZE[0], height=_SAMPLE_SIZE[1], format="gray")
    plane = grey.planes[0]
    data = bytes(plane)
    values = [
        data[row * plane.line_size + column]
        for row in range(grey.height)
        for column in range(grey.width)
    ]
    mean = sum(values) / len(values)
    return math.sqrt(sum((value - mean) ** 2 for value in values) / len(values))


class _Sprite:
    """A yuv420p picture assembled tile by tile in memory (black where no tile lands)."""

    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.planes = [
            bytearray(width * height),
            bytearray(b"\x80" * ((width // 2) * (height // 2))),
            bytearray(b"\x80" * ((width // 2) * (height // 2))),
        ]

    def paste(self, tile: av.VideoFrame, x: int, y: int) -> None:
        for index, (plane, source) in enumerate(zip(self.planes, tile.planes, strict=True)):
            shift = 0 if index == 0 else 1
            stride = self.width >> shift
            data = bytes(source)
            for row in range(source.height):
                begin = ((y >> shift) + row) * stride + (x >> shift)
                start = row * source.line_size
                plane[begin : begin + source.width] = data[start : start + source.width]

    def frame(self) -> av.VideoFrame:
        frame = av.VideoFrame(self.width, self.height, "yuv420p")
        for index, (plane, target) in enumerate(zip(self.planes, frame.planes, strict=True)):
            stride = self.width >> (0 if index == 0 else 1)
            if target.line_size == stride:
                target.update(bytes(plane))
            else:
                rows = len(plane) // stride
                target.update(
                    b"".join(
                        bytes(plane[row * stride : (row + 1) * stride]).ljust(
                            target.line_size, b"\0"
                        )
                        for row in range(rows)
                    )
                )
        return frame


def _vtt_time(seconds: float) -> str:
    millis = round(seconds * 1000)
    whole, millis = divmod(millis, 1000)
    return f"{whole // 3600:02d}:{whole // 60 % 60:02d}:{whole % 60:02d}.{millis:03d}"
