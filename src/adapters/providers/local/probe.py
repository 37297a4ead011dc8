"""What a video file really is, found by demuxing and decoding it rather than trusting its headers.

:func:`probe` opens the file with PyAV, decodes the first video frame (and audio frame, if any)
and reads every packet's timestamps for the duration, so a renamed, truncated or audio-only
file is refused with :class:`InvalidMedia` and a reason a user can act on.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from attrs import frozen

from adapters.providers.local.upright import display_rotation, display_size

CONTAINERS: dict[str, frozenset[str]] = {
    "video/mp4": frozenset({"mp4"}),
    "video/x-m4v": frozenset({"mp4"}),
    "video/quicktime": frozenset({"mp4"}),
    "video/3gpp": frozenset({"mp4"}),
    "video/webm": frozenset({"webm"}),
    "video/x-matroska": frozenset({"webm"}),
    "video/x-msvideo": frozenset({"avi"}),
    "video/mpeg": frozenset({"mpeg", "mpegts"}),
}
"""The containers (:attr:`MediaProbe.container`) each accepted MIME type may really be."""

_DEMUXERS = {
    "mov,mp4,m4a,3gp,3g2,mj2": "mp4",
    "matroska,webm": "webm",
    "avi": "avi",
    "mpeg": "mpeg",
    "mpegts": "mpegts",
}
"""FFmpeg demuxer → our container name; other demuxers (images, text, raw streams) are refused."""

_MAX_PACKETS_TO_FIRST_FRAME = 500
"""A decoder that yields nothing after this many packets is not decoding this stream."""

UNREADABLE = "The file is damaged or is not a video we can read."
"""The reason given for a file FFmpeg cannot open or read through."""


class InvalidMedia(Exception):
    """The file is not a video we can process; :attr:`reason` says why in a user's words."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@frozen
class MediaProbe:
    """The facts about a source that processing needs, all taken from decoded data.

    ``width`` and ``height`` are the display size: non-square pixels widened, then turned by
    ``rotation`` (clockwise degrees, one of 0, 90, 180, 270, from the display matrix phones
    write). ``duration`` spans the video stream. ``bit_rate`` is the file's size over its
    duration.
    """

    container: str
    duration: float
    width: int
    height: int
    rotation: int
    frame_rate: float
    pixel_format: str
    video_codec: str
    has_audio: bool
    audio_codec: str | None
    bit_rate: int | None


def probe(path: Path, *, declared_mime_type: str | None = None) -> MediaProbe:
    """Probe ``path`` by decoding; raise :class:`InvalidMedia` unless it is a usable video.

    With ``declared_mime_type`` the real container must be one that type names.
    """
    try:
        with av.open(str(path), mode="r") as container:
            return _probe_open(container, path, declared_mime_type)
    except av.error.FFmpegError as exc:
        raise InvalidMedia(UNREADABLE) from exc


def _probe_open(
    container: av.container.InputContainer, path: Path, declared_mime_type: str | None
) -> MediaProbe:
    name = _container_name(container, declared_mime_type)
    video = container.streams.video[0]
    audio = container.streams.audio[0] if container.streams.audio else None
    video.thread_type = "AUTO"
    scan = _Scan(video, audio)
    for packet in _packets(container, video, audio):
        if not scan.add(packet):
            break
    first_video = scan.first_frame or _first(_flush(video))
    if first_video is None:
        raise InvalidMedia("The video in this file cannot be decoded.")
    duration = scan.duration
    if duration <= 0.0 or scan.packets < 2:
        raise InvalidMedia("This file holds a still image, not a video.")
    rotation = display_rotation(first_video)
    width, height = display_size(
        first_video.width, first_video.height, rotation, video.sample_aspect_ratio
    )
    return MediaProbe(
        container=name,
        duration=duration,
        width=width,
        height=height,
        rotation=rotation,
        frame_rate=_frame_rate(video.average_rate, scan.packets, duration),
        pixel_format=first_video.format.name,
        video_codec=video.codec_context.name,
        has_audio=scan.audio_decodes,
        audio_codec=audio.codec_context.name if audio is not None and scan.audio_decodes else None,
        bit_rate=round(path.stat().st_size * 8 / duration),
    )


def _container_name(container: av.container.InputContainer, declared_mime_type: str | None) -> str:
    name = _DEMUXERS.get(container.format.name)
    if name is None:
        raise InvalidMedia("This file is not in a video format we accept (MP4, MOV, WebM, MKV).")
    if declared_mime_type is not None and name not in CONTAINERS.get(
        declared_mime_type.split(";")[0].strip().lower(), frozenset()
    ):
        raise InvalidMedia(
            f"The file was sent as {declared_mime_type}, but it is a {name.upper()} file."
        )
    if not container.streams.video:
        if container.streams.audio:
            raise InvalidMedia("This file has sound but no picture: upload a video.")
        raise InvalidMedia("This file has no video in it.")
    return name


class _Scan:
    """What the packets of a file say: the video's time span and count, and what decodes."""

    def __init__(self, video: av.VideoStream, audio: av.AudioStream | None) -> None:
        self.video, self.audio = video, audio
        self.time_base = video.time_base or Fraction(1, 90000)
        self.first_frame: av.VideoFrame | None = None
        self.audio_decodes = False
        self.start: float | None = None
        self.end = 0.0
        self.packets = 0

    @property
    def duration(self) -> float:
        return max(self.end - (self.start or 0.0), 0.0)

    def add(self, packet: av.Packet[Any]) -> bool:
        """Account for ``packet``; False once the video has shown it does not decode."""
        if packet.stream.index != self.video.index:
            if not self.audio_decodes and self.audio is not None:
                self.audio_decodes = bool(_decode_quietly(self.audio, packet))
            return True
        self.packets += 1
        if packet.pts is not None:
            start = float(packet.pts * self.time_base)
            self.start = start if self.start is None else min(self.start, start)
            self.end = max(self.end, start + float((packet.duration or 0) * self.time_base))
        if self.first_frame is None:
            if self.packets > _MAX_PACKETS_TO_FIRST_FRAME:
                return False
            frames = _decode_quietly(self.video, packet)
            if frames:
                assert isinstance(frames[0], av.VideoFrame)
                self.first_frame = frames[0]
        return True


def _packets(
    container: av.container.InputContainer,
    video: av.VideoStream,
    audio: av.AudioStream | None,
) -> Iterator[av.Packet[Any]]:
    streams: list[av.VideoStream | av.AudioStream] = [video] if audio is None else [video, audio]
    try:
        for packet in container.demux(streams):
            if packet.size:
                yield packet
    except av.error.EOFError:
        return


def _first(frames: list[av.VideoFrame]) -> av.VideoFrame | None:
    return frames[0] if frames else None


def _flush(video: av.VideoStream) -> list[av.VideoFrame]:
    try:
        return video.decode(None)
    except av.error.FFmpegError:
        return []


def _decode_quietly(stream: av.VideoStream | av.AudioStream, packet: av.Packet[Any]) -> list[Any]:
    """The frames of ``packet``, or none if it is damaged (decoders resume at the next one)."""
    try:
        return stream.decode(packet)
    except av.error.FFmpegError:
        return []


def _frame_rate(declared: Fraction | None, packets: int, duration: float) -> float:
    measured = packets / duration
    # The container's average rate is exact (30000/1001) where the packet count rounds; keep it
    # when the packets agree with it.
    if declared and math.isclose(float(declared), measured, rel_tol=0.02):
        return float(declared)
    return measured
