"""One source processed as a worker processes it: a probe, then one decode for everything else.

:func:`process` probes the source (:mod:`.probe`), chooses the ladder (:mod:`.ladder`) and
transcodes it (:mod:`.hls`) while a :class:`.thumbnails.FrameSampler` takes the representative
time and the storyboard from the same decoded frames, so the file is decoded once. The storyboard
(``storyboard.jpg`` and ``storyboard.vtt``) is written beside the master playlist.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from attrs import frozen

from adapters.providers.local import hls, thumbnails
from adapters.providers.local.ladder import DEFAULT_HEIGHTS, choose_ladder
from adapters.providers.local.probe import MediaProbe, probe

STORYBOARD_IMAGE = "storyboard.jpg"
STORYBOARD_VTT = "storyboard.vtt"


@frozen
class Processed:
    """What processing made of a source: its facts, the HLS, and the poster frame."""

    probe: MediaProbe
    output: hls.HlsOutput
    thumbnail_time: float
    poster: bytes | None
    """The frame at ``thumbnail_time`` as a JPEG ``poster_width`` wide (None: none decoded)."""


def _no_progress(fraction: float) -> None:
    del fraction


def _never() -> bool:
    return False


def process(
    source: Path,
    out_dir: Path,
    *,
    declared_mime_type: str | None = None,
    heights: Sequence[int] = DEFAULT_HEIGHTS,
    segment_seconds: float = 4.0,
    threads: int = 0,
    preset: str = hls.DEFAULT_PRESET,
    progress: Callable[[float], None] = _no_progress,
    should_stop: Callable[[], bool] = _never,
    poster_width: int | None = None,
) -> Processed:
    """Probe ``source``, write its HLS and storyboard into ``out_dir``, pick its poster frame
    (as a JPEG ``poster_width`` wide; None: the display width).

    Raises :class:`.probe.InvalidMedia` and :class:`.hls.Cancelled` as :func:`.hls.transcode_hls`
    does (``out_dir`` then holds nothing of ours).
    """
    facts = probe(source, declared_mime_type=declared_mime_type)
    sampler = thumbnails.FrameSampler(facts)
    output = hls.transcode_hls(
        source,
        out_dir,
        choose_ladder(facts, heights),
        segment_seconds=segment_seconds,
        threads=threads,
        preset=preset,
        progress=progress,
        should_stop=should_stop,
        on_frame=sampler.add,
    )
    board = sampler.storyboard()
    (out_dir / STORYBOARD_IMAGE).write_bytes(board.image)
    (out_dir / STORYBOARD_VTT).write_text(board.vtt, encoding="utf-8")
    return Processed(
        probe=facts,
        output=output,
        thumbnail_time=sampler.representative_time(),
        poster=sampler.poster(poster_width),
    )
