"""HLS playlists from what the encoders wrote: media playlists tidied, the master described.

:func:`write_master` rewrites each media playlist with a target duration no segment exceeds and
writes the master playlist with ``BANDWIDTH`` (peak segment), ``AVERAGE-BANDWIDTH``,
``RESOLUTION``, ``CODECS`` (profile and level read from the encoded SPS) and ``FRAME-RATE``
measured from the output.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

from attrs import frozen

from adapters.providers.local.ladder import Rendition
from adapters.providers.local.probe import InvalidMedia

MASTER_PLAYLIST = "master.m3u8"
MEDIA_PLAYLIST = "index.m3u8"


@frozen
class Encoded:
    """What the encoders of one rendition left: folder, frame count, SPS, sound or not."""

    rendition: Rendition
    directory: Path
    frames: int
    extradata: bytes
    audio: bool


@frozen
class HlsRendition:
    """One rendition as encoded: its playlist and what the master playlist says of it."""

    rendition: Rendition
    playlist: Path
    bandwidth: int
    average_bandwidth: int
    codecs: str
    frame_rate: float
    segments: int


@frozen
class HlsOutput:
    """The master playlist, the renditions (smallest first) and the duration in seconds."""

    master_playlist: Path
    renditions: tuple[HlsRendition, ...]
    duration: float


def write_master(out_dir: Path, encoded: Sequence[Encoded]) -> HlsOutput:
    """Rewrite each rendition's media playlist, then write the master playlist describing them
    (from the segments on disk). Raises :class:`InvalidMedia` if a rendition has no segment."""
    renditions = tuple(_described(variant) for variant in encoded)
    duration = max(_playlist_duration(rendition.playlist) for rendition in renditions)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-INDEPENDENT-SEGMENTS"]
    for rendition in renditions:
        lines.append(
            f"#EXT-X-STREAM-INF:BANDWIDTH={rendition.bandwidth},"
            f"AVERAGE-BANDWIDTH={rendition.average_bandwidth},"
            f"RESOLUTION={rendition.rendition.width}x{rendition.rendition.height},"
            f'CODECS="{rendition.codecs}",FRAME-RATE={rendition.frame_rate:.3f}'
        )
        lines.append(f"{rendition.rendition.name}/{MEDIA_PLAYLIST}")
    master = out_dir / MASTER_PLAYLIST
    master.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return HlsOutput(master_playlist=master, renditions=renditions, duration=duration)


def _described(variant: Encoded) -> HlsRendition:
    playlist = variant.directory / MEDIA_PLAYLIST
    segments = _segments(playlist)
    if not segments:
        raise InvalidMedia("The video in this file cannot be decoded.")
    _rewrite_playlist(playlist, segments)
    rates = [
        8 * (variant.directory / uri).stat().st_size / seconds
        for uri, seconds in segments
        if seconds > 0
    ]
    total_seconds = sum(seconds for _, seconds in segments)
    total_bits = 8 * sum((variant.directory / uri).stat().st_size for uri, _ in segments)
    codecs = _avc1(variant.extradata)
    if variant.audio:
        codecs += ",mp4a.40.2"
    return HlsRendition(
        rendition=variant.rendition,
        playlist=playlist,
        bandwidth=math.ceil(max(rates, default=total_bits / max(total_seconds, 1e-9))),
        average_bandwidth=math.ceil(total_bits / max(total_seconds, 1e-9)),
        codecs=codecs,
        frame_rate=variant.frames / total_seconds if total_seconds else 0.0,
        segments=len(segments),
    )


def _segments(playlist: Path) -> list[tuple[str, float]]:
    """(URI, seconds) of each segment of a media playlist."""
    segments: list[tuple[str, float]] = []
    seconds: float | None = None
    for raw in playlist.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if line.startswith("#EXTINF:"):
            seconds = float(line[len("#EXTINF:") :].split(",", 1)[0])
        elif line and not line.startswith("#") and seconds is not None:
            segments.append((line, seconds))
            seconds = None
    return segments


def _rewrite_playlist(playlist: Path, segments: Sequence[tuple[str, float]]) -> None:
    """A VOD media playlist whose target duration no segment exceeds (the muxer rounds it)."""
    target = max(1, math.ceil(max(seconds for _, seconds in segments) - 1e-6))
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]
    for uri, seconds in segments:
        lines += [f"#EXTINF:{seconds:.6f},", uri]
    lines.append("#EXT-X-ENDLIST")
    playlist.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _playlist_duration(playlist: Path) -> float:
    return sum(seconds for _, seconds in _segments(playlist))


def _avc1(extradata: bytes) -> str:
    """``avc1.PPCCLL`` from the SPS in the encoder's extradata (avcC or Annex B)."""
    if len(extradata) >= 4 and extradata[0] == 1:
        return "avc1." + extradata[1:4].hex().upper()
    for start in _nal_starts(extradata):
        if start + 3 < len(extradata) and extradata[start] & 0x1F == 7:
            return "avc1." + extradata[start + 1 : start + 4].hex().upper()
    raise ValueError("the encoder wrote no SPS")


def _nal_starts(data: bytes) -> list[int]:
    starts: list[int] = []
    index = data.find(b"\x00\x00\x01")
    while index >= 0:
        starts.append(index + 3)
        index = data.find(b"\x00\x00\x01", index + 3)
    return starts
