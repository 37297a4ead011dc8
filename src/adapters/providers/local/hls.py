"""Adaptive HLS from one decode: every rendition scaled from the same decoded frame.

:func:`transcode_hls` decodes the source once, turns it upright (display matrix), and feeds each
rendition of the ladder through its own reformatter into its own libx264 encoder and FFmpeg HLS
muxer (MPEG-TS segments). Scaling cascades: the largest rendition is scaled (and made 8-bit 4:2:0
TV range) from the source, each smaller one from the smallest picture already scaled that covers
it, and a rendition of the source's own size and format is the decoded frame itself. Keyframes
are forced at the same presentation times in every rendition (a fixed GOP, no scene-cut
keyframes), so segments line up across the ladder and players switch cleanly. Audio is decoded,
resampled and AAC-encoded once, at the best rendition's bitrate, and the same packets are muxed
into every rendition. When everything is written, :mod:`.playlists` tidies the media playlists
and describes them in the master playlist.

Layout of ``out_dir``: ``master.m3u8`` and one folder per rendition (``720p/index.m3u8``,
``720p/segment_00000.ts``, ...). On any error, or :class:`Cancelled`, the files written so far are
removed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error
from attrs import frozen
from av.audio.resampler import AudioResampler
from av.video.frame import PictureType
from av.video.reformatter import ColorRange, Interpolation, VideoReformatter

from adapters.providers.local.ladder import Rendition
from adapters.providers.local.playlists import (
    MASTER_PLAYLIST,
    MEDIA_PLAYLIST,
    Encoded,
    HlsOutput,
    HlsRendition,
    write_master,
)
from adapters.providers.local.probe import UNREADABLE, InvalidMedia
from adapters.providers.local.upright import Upright, display_rotation

DEFAULT_PRESET = "veryfast"
"""The x264 preset: the speed/size trade-off that keeps a 1080p ladder at real time on 2 cores."""

DEFAULT_CRF = 23
"""x264's constant quality, capped per rendition by its bitrate (``maxrate``, 2 s ``bufsize``)."""

SEGMENT_PATTERN = "segment_%05d.ts"

_AAC_RATES = (48000, 44100)

_MAX_ENCODER_THREADS = 4
"""Frame threads per x264 encoder when ``threads`` is 0 (x264 alone would take 1.5 per core)."""

_DAMAGED_SHARE = 0.1
"""The share of video packets that fail to decode above which the file is damaged, not glitched
(counted in errors, not frames: field-coded video decodes two packets into one frame)."""

DAMAGED = "Part of the video in this file is damaged and cannot be decoded."

_TIME_SLACK = 1e-4
"""Seconds of timestamp rounding (millisecond time bases) still counted as on a boundary."""


__all__ = [
    "DAMAGED",
    "DEFAULT_CRF",
    "DEFAULT_PRESET",
    "MASTER_PLAYLIST",
    "MEDIA_PLAYLIST",
    "Cancelled",
    "HlsOutput",
    "HlsRendition",
    "transcode_hls",
]


class Cancelled(Exception):
    """``should_stop()`` returned true: the transcode stopped and removed its output."""


def _no_progress(fraction: float) -> None:
    del fraction


def _never() -> bool:
    return False


def _ignore(frame: av.VideoFrame, seconds: float) -> None:
    del frame, seconds


def transcode_hls(
    source: Path,
    out_dir: Path,
    ladder: Sequence[Rendition],
    *,
    segment_seconds: float = 4.0,
    threads: int = 0,
    progress: Callable[[float], None] = _no_progress,
    should_stop: Callable[[], bool] = _never,
    on_frame: Callable[[av.VideoFrame, float], None] = _ignore,
    preset: str = DEFAULT_PRESET,
    crf: int = DEFAULT_CRF,
) -> HlsOutput:
    """Encode ``source`` into ``out_dir`` as HLS with one rendition per entry of ``ladder``.

    ``threads`` bounds the threads of the decoder and of each encoder (0: FFmpeg picks from the
    CPU count, and each encoder takes one per CPU, at most 4); scalers run on one. ``progress``
    receives the share of the source encoded (0..1), once per decoded frame; ``should_stop`` is
    polled as often and raises :class:`Cancelled`. ``on_frame`` sees every frame encoded, upright,
    with its time in seconds from the first one (stills are taken from it: no second decode).
    Raises :class:`InvalidMedia` if the source has no decodable video.
    """
    if not ladder:
        raise ValueError("the ladder has no rendition")
    if len({rendition.name for rendition in ladder}) != len(ladder):
        raise ValueError("rendition names must differ: each names a folder")
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = _Settings(segment_seconds, threads, preset, crf)
    try:
        with _open(source) as container:
            transcoder = _Transcoder(container, out_dir, ladder, settings, on_frame)
            variants = transcoder.run(progress, should_stop)
        return write_master(out_dir, [variant.encoded() for variant in variants])
    except BaseException:
        _remove(out_dir, ladder)
        raise


@frozen
class _Settings:
    segment_seconds: float
    threads: int
    preset: str
    crf: int


class _Variant:
    """One rendition being written: scaler, encoders and HLS muxer."""

    def __init__(
        self,
        rendition: Rendition,
        directory: Path,
        *,
        frame_rate: Fraction,
        time_base: Fraction,
        audio: tuple[int, str, int] | None,
        settings: _Settings,
    ) -> None:
        self.rendition = rendition
        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        self.frames = 0
        self.scaler = VideoReformatter()
        self.output = av.open(
            str(directory / MEDIA_PLAYLIST),
            mode="w",
            format="hls",
            options={
                "hls_time": f"{settings.segment_seconds:g}",
                "hls_playlist_type": "vod",
                "hls_list_size": "0",
                "hls_segment_type": "mpegts",
                "hls_segment_filename": str(directory / SEGMENT_PATTERN),
                "start_number": "0",
            },
        )
        gop = str(max(1, round(settings.segment_seconds * float(frame_rate))))
        self.video = self.output.add_stream(
            "libx264",
            rate=frame_rate,
            options={
                "preset": settings.preset,
                "crf": str(settings.crf),
                "maxrate": str(rendition.video_bitrate),
                "bufsize": str(2 * rendition.video_bitrate),
                "g": gop,
                "keyint_min": gop,
                "sc_threshold": "0",
                "forced-idr": "1",
            },
        )
        self.video.width, self.video.height = rendition.width, rendition.height
        self.video.pix_fmt = "yuv420p"
        self.video.time_base = time_base
        # PyAV opens encoders for slice threads; x264's frame threads pipeline whole frames
        # (what the ffmpeg CLI uses), which keeps the cores busier across five encoders. Each
        # frame thread holds a frame in flight, so their number is capped for memory.
        self.video.codec_context.thread_type = "AUTO"
        self.video.codec_context.thread_count = settings.threads or min(
            os.cpu_count() or 1, _MAX_ENCODER_THREADS
        )
        self.audio: av.AudioStream | None = None
        if audio is not None:
            rate, layout, bitrate = audio
            self.audio = self.output.add_stream("aac", rate=rate, layout=layout)
            self.audio.bit_rate = bitrate

    def covers(self, picture: av.VideoFrame) -> bool:
        """Whether this rendition can be scaled down from ``picture`` (no side grows)."""
        return picture.width >= self.rendition.width and picture.height >= self.rendition.height

    def scale(self, picture: av.VideoFrame) -> av.VideoFrame:
        """``picture`` at this rendition's size in 8-bit 4:2:0 TV range (itself if it is)."""
        scaled = self.scaler.reformat(
            picture,
            width=self.rendition.width,
            height=self.rendition.height,
            format="yuv420p",
            interpolation=Interpolation.BICUBIC,
            # One thread: the encoders beside it keep the cores busy, and slice threads on
            # pictures this small cost more CPU than they save time.
            threads=1,
            # full-range sources (phones, JPEG-like) become the TV range every player assumes
            **_full_range(picture),
        )
        scaled.pts = picture.pts
        scaled.time_base = picture.time_base
        return scaled

    def encode_video(self, picture: av.VideoFrame, *, keyframe: bool) -> None:
        """Encode ``picture`` (from :meth:`scale`); the encoder only reads it."""
        picture.pict_type = PictureType.I if keyframe else PictureType.NONE
        self.output.mux(self.video.encode(picture))
        self.frames += 1

    def mux_audio(self, packet: av.Packet[Any]) -> None:
        """Mux one AAC packet of the shared encode (muxing takes a new reference to it)."""
        assert self.audio is not None
        packet.stream = self.audio
        self.output.mux_one(packet)

    def encoded(self) -> Encoded:
        """What :func:`.playlists.write_master` needs of this rendition, once closed."""
        return Encoded(
            rendition=self.rendition,
            directory=self.directory,
            frames=self.frames,
            extradata=self.extradata,
            audio=self.audio is not None,
        )

    def close(self) -> None:
        """Drain the encoders and write the last segment and the media playlist."""
        self.output.mux(self.video.encode(None))
        self.extradata = bytes(self.video.codec_context.extradata or b"")
        self.output.close()


def _full_range(frame: av.VideoFrame) -> dict[str, ColorRange]:
    if frame.color_range == ColorRange.JPEG:
        return {"src_color_range": ColorRange.JPEG, "dst_color_range": ColorRange.MPEG}
    return {}


class _Transcoder:
    """The one decode of the source, fanned out to every variant."""

    def __init__(
        self,
        container: av.container.InputContainer,
        out_dir: Path,
        ladder: Sequence[Rendition],
        settings: _Settings,
        on_frame: Callable[[av.VideoFrame, float], None],
    ) -> None:
        if not container.streams.video:
            raise InvalidMedia("This file has no video in it.")
        self.container = container
        self.out_dir = out_dir
        self.ladder = ladder
        self.settings = settings
        self.on_frame = on_frame
        self.video = container.streams.video[0]
        self.video.thread_type = "AUTO"
        self.video.codec_context.thread_count = settings.threads
        self.audio = container.streams.audio[0] if container.streams.audio else None
        self.duration = _header_duration(container, self.video)
        self.variants: list[_Variant] = []
        self.cascade: list[_Variant] = []
        """The variants largest first: the order they are scaled in."""
        self.rotate: Upright | None = None
        self.resampler: AudioResampler | None = None
        self.origin: float | None = None
        self.next_keyframe = 0.0
        self.last_pts: int | None = None
        self.audio_samples: int | None = None
        self.pending: list[av.AudioFrame] = []
        self.video_packets = 0
        self.damaged = 0

    def run(
        self, progress: Callable[[float], None], should_stop: Callable[[], bool]
    ) -> list[_Variant]:
        streams: list[av.VideoStream | av.AudioStream] = [self.video]
        if self.audio is not None:
            streams.append(self.audio)
        try:
            # demux ends with an empty packet per stream, which drains its decoder
            for packet in _demuxed(self.container, streams):
                if should_stop():
                    raise Cancelled
                if packet.stream.index == self.video.index:
                    self.video_packets += 1
                    frames = _decode(self.video, packet)
                    if frames is None:
                        self.damaged += 1
                    for frame in frames or ():
                        self._video_frame(frame, progress)
                elif self.audio is not None:
                    for sound in _decode(self.audio, packet) or ():
                        self._audio_frame(sound)
            self._drain()
            progress(1.0)
            return self.variants
        finally:
            for variant in self.variants:
                variant.output.close()

    def _drain(self) -> None:
        if self.rotate is not None:
            for frame in self.rotate.flush():
                self._encode(frame)
        if not self.variants:
            raise InvalidMedia("The video in this file cannot be decoded.")
        # The probe decoded the start only; this pass is the proof that the rest decodes too.
        # A damaged packet here and there is concealed (as the ffmpeg CLI does), more is not.
        if self.damaged > _DAMAGED_SHARE * self.video_packets:
            raise InvalidMedia(DAMAGED)
        if self.resampler is not None:
            self._play_pending()
            self._resampled(self.resampler.resample(None))
            self._mux_audio(None)
        for variant in self.variants:
            variant.close()

    def _start(self, frame: av.VideoFrame) -> None:
        rotation = display_rotation(frame)
        if rotation:
            self.rotate = Upright(frame, rotation)
        frame_rate = self.video.average_rate or self.video.guessed_rate or Fraction(30)
        audio = self._audio_format(max(rendition.audio_bitrate for rendition in self.ladder))
        for rendition in self.ladder:
            self.variants.append(
                _Variant(
                    rendition,
                    self.out_dir / rendition.name,
                    frame_rate=frame_rate,
                    time_base=frame.time_base or self.video.time_base or Fraction(1, 90000),
                    audio=audio,
                    settings=self.settings,
                )
            )
        self.cascade = sorted(
            self.variants,
            key=lambda variant: variant.rendition.width * variant.rendition.height,
            reverse=True,
        )

    def _audio_format(self, bitrate: int) -> tuple[int, str, int] | None:
        if self.audio is None:
            return None
        context = self.audio.codec_context
        rate = context.sample_rate if context.sample_rate in _AAC_RATES else _AAC_RATES[0]
        layout = "mono" if context.layout.nb_channels == 1 else "stereo"
        self.resampler = AudioResampler(format="fltp", layout=layout, rate=rate, frame_size=1024)
        return rate, layout, bitrate

    def _video_frame(self, frame: av.VideoFrame, progress: Callable[[float], None]) -> None:
        if not self.variants:
            self._start(frame)
        if self.rotate is not None:
            for upright in self.rotate.push(frame):
                self._encode(upright)
        else:
            self._encode(frame)
        if self.duration and frame.time is not None and self.origin is not None:
            progress(min(max((frame.time - self.origin) / self.duration, 0.0), 1.0))

    def _encode(self, frame: av.VideoFrame) -> None:
        time_base = frame.time_base or self.video.time_base
        assert time_base is not None
        if frame.pts is None:
            step = 1 / (float(self.video.average_rate or 30) * float(time_base))
            frame.pts = 0 if self.last_pts is None else self.last_pts + max(1, round(step))
        if self.origin is None:
            self.origin = float(frame.pts * time_base)
            self.origin_pts = frame.pts
        pts = frame.pts - self.origin_pts
        if self.last_pts is not None and pts <= self.last_pts:
            return  # x264 needs strictly increasing timestamps; a repeated one is a duplicate
        self.last_pts = pts
        # The first frame at or past each boundary is a keyframe in every rendition (what the
        # ffmpeg CLI's -force_key_frames expr:gte(t,n_forced*T) does); the muxer cuts there.
        seconds = float(pts * time_base)
        keyframe = seconds + _TIME_SLACK >= self.next_keyframe
        while seconds + _TIME_SLACK >= self.next_keyframe:
            self.next_keyframe += self.settings.segment_seconds
        frame.pts = pts
        self.on_frame(frame, seconds)
        # Largest first, each from the smallest picture so far that covers it: a small rung
        # filters a few times its own pixels, not the whole source frame.
        scaled: list[av.VideoFrame] = []
        for variant in self.cascade:
            picture = next(
                (candidate for candidate in reversed(scaled) if variant.covers(candidate)), frame
            )
            picture = variant.scale(picture)
            variant.encode_video(picture, keyframe=keyframe)
            scaled.append(picture)

    def _audio_frame(self, frame: av.AudioFrame) -> None:
        # Sound decoded before the first picture waits for it: its time is counted from there.
        self.pending.append(frame)
        if self.origin is not None:
            self._play_pending()

    def _play_pending(self) -> None:
        pending, self.pending = self.pending, []
        for frame in pending:
            self._resample(frame)

    def _resample(self, frame: av.AudioFrame) -> None:
        assert self.resampler is not None
        if self.audio_samples is None:
            if frame.time is None or self.origin is None:
                self.audio_samples = 0
            else:
                self.audio_samples = max(0, round((frame.time - self.origin) * self.resampler.rate))
        self._resampled(self.resampler.resample(frame))

    def _resampled(self, frames: list[av.AudioFrame]) -> None:
        for frame in frames:
            assert self.audio_samples is not None
            frame.pts = self.audio_samples
            frame.time_base = Fraction(1, frame.sample_rate)
            self.audio_samples += frame.samples
            self._mux_audio(frame)

    def _mux_audio(self, frame: av.AudioFrame | None) -> None:
        # The sound is encoded once, by one rendition's encoder, at the best rendition's
        # bitrate; every rendition muxes the same packets (all encoders are set up alike).
        encoder = self.cascade[0].audio
        assert encoder is not None
        for packet in encoder.encode(frame):
            for variant in self.variants:
                variant.mux_audio(packet)


def _open(source: Path) -> av.container.InputContainer:
    try:
        return av.open(str(source), mode="r")
    except av.error.FFmpegError as exc:
        raise InvalidMedia(UNREADABLE) from exc


def _demuxed(
    container: av.container.InputContainer, streams: list[av.VideoStream | av.AudioStream]
) -> Iterator[av.Packet[Any]]:
    try:
        yield from container.demux(streams)
    except av.error.InvalidDataError as exc:
        raise InvalidMedia(UNREADABLE) from exc


def _decode(stream: av.VideoStream | av.AudioStream, packet: av.Packet[Any]) -> list[Any] | None:
    """The frames of ``packet``; None if it is damaged (the decoder resumes at the next one, as
    the ffmpeg CLI does)."""
    try:
        return stream.decode(packet)
    except av.error.InvalidDataError:
        return None


def _header_duration(container: av.container.InputContainer, video: av.VideoStream) -> float:
    """The duration the headers claim, for progress only; 0 if they say nothing."""
    if video.duration is not None and video.time_base is not None:
        return float(video.duration * video.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return 0.0


def _remove(out_dir: Path, ladder: Sequence[Rendition]) -> None:
    """Remove what a failed or cancelled transcode wrote (and nothing else of ``out_dir``)."""
    for rendition in ladder:
        shutil.rmtree(out_dir / rendition.name, ignore_errors=True)
    (out_dir / MASTER_PLAYLIST).unlink(missing_ok=True)
