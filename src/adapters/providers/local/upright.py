"""Turning decoded frames upright: phone videos store the picture sideways plus a display matrix."""

from __future__ import annotations

from fractions import Fraction

import av
import av.error
import av.filter

_FILTERS: dict[int, tuple[tuple[str, str], ...]] = {
    90: (("transpose", "clock"),),
    180: (("hflip", ""), ("vflip", "")),
    270: (("transpose", "cclock"),),
}


def display_rotation(frame: av.VideoFrame) -> int:
    """The clockwise rotation (0, 90, 180 or 270) that shows ``frame`` upright."""
    return (-round(frame.rotation / 90) * 90) % 360


def display_size(
    width: int, height: int, rotation: int, sample_aspect_ratio: Fraction | None
) -> tuple[int, int]:
    """The size a stored ``width`` x ``height`` picture is shown at: non-square pixels
    (``sample_aspect_ratio``) widened, then turned by ``rotation``."""
    if sample_aspect_ratio and sample_aspect_ratio != 1:
        width = max(1, round(width * sample_aspect_ratio))
    return (height, width) if rotation in (90, 270) else (width, height)


class Upright:
    """A filter graph that rotates frames as their display matrix says, as the ffmpeg CLI does.

    Built from the first frame (its size and format); frames go in with :meth:`push` and come out
    upright, with their timestamps.
    """

    def __init__(self, frame: av.VideoFrame, rotation: int) -> None:
        self.graph = av.filter.Graph()
        previous = self.graph.add_buffer(
            width=frame.width, height=frame.height, format=frame.format, time_base=frame.time_base
        )
        for name, args in _FILTERS[rotation]:
            node = self.graph.add(name, args)
            previous.link_to(node)
            previous = node
        sink = self.graph.add("buffersink")
        previous.link_to(sink)
        self.graph.configure()

    def push(self, frame: av.VideoFrame) -> list[av.VideoFrame]:
        """The upright frames ``frame`` completes (one, for these filters)."""
        self.graph.push(frame)
        return self._pull()

    def flush(self) -> list[av.VideoFrame]:
        """Whatever the graph still holds, at the end of the stream."""
        self.graph.push(None)
        return self._pull()

    def _pull(self) -> list[av.VideoFrame]:
        frames: list[av.VideoFrame] = []
        while True:
            try:
                frames.append(self.graph.vpull())
            except (av.error.BlockingIOError, av.error.EOFError):
                return frames


def upright(frame: av.VideoFrame) -> av.VideoFrame:
    """``frame`` turned upright on its own (for stills; a stream keeps one :class:`Upright`)."""
    rotation = display_rotation(frame)
    if not rotation:
        return frame
    frames = Upright(frame, rotation).push(frame)
    return frames[0] if frames else frame
