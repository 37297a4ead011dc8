"""Just enough container parsing for the fake provider: what family a file is, and its duration.

The fake provider must fail uploads whose bytes do not match their declared type and report a
real duration for real files, without ffmpeg. ISO BMFF (MP4, MOV, 3GP) and EBML (WebM, Matroska)
carry their duration in a header box or element; other families report 0.0.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

FAMILIES: dict[str, str] = {
    "video/mp4": "isobmff",
    "video/x-m4v": "isobmff",
    "video/quicktime": "isobmff",
    "video/3gpp": "isobmff",
    "video/webm": "ebml",
    "video/x-matroska": "ebml",
    "video/x-msvideo": "riff",
    "video/mpeg": "mpeg",
}
"""The container family each allowed MIME type must be."""

_QUICKTIME_TOP_BOXES = {b"ftyp", b"moov", b"mdat", b"wide", b"free", b"skip", b"pnot"}


def sniff_family(head: bytes) -> str | None:
    """The container family of a file from its first bytes, or None if unrecognised."""
    if len(head) >= 8 and head[4:8] in _QUICKTIME_TOP_BOXES:
        return "isobmff"
    if head.startswith(b"\x1a\x45\xdf\xa3"):
        return "ebml"
    if len(head) >= 12 and head.startswith(b"RIFF") and head[8:12] == b"AVI ":
        return "riff"
    if head.startswith((b"\x00\x00\x01\xba", b"\x00\x00\x01\xb3")):
        return "mpeg"
    return None


def probe_duration(path: Path, family: str) -> float | None:
    """The duration in seconds recorded in the file's header, or None if it has none."""
    try:
        with path.open("rb") as handle:
            if family == "isobmff":
                return _isobmff_duration(handle, path.stat().st_size)
            if family == "ebml":
                return _ebml_duration(handle)
    except (OSError, struct.error, ValueError):
        return None
    return None


def _boxes(handle: BinaryIO, start: int, end: int) -> list[tuple[bytes, int, int]]:
    """(type, payload start, payload end) of the boxes in ``[start, end)``; at most 4096."""
    found: list[tuple[bytes, int, int]] = []
    offset = start
    while offset + 8 <= end and len(found) < 4096:
        handle.seek(offset)
        size, kind = struct.unpack(">I4s", handle.read(8))
        header = 8
        if size == 1:
            (size,) = struct.unpack(">Q", handle.read(8))
            header = 16
        elif size == 0:
            size = end - offset
        if size < header:
            break
        found.append((kind, offset + header, min(offset + size, end)))
        offset += size
    return found


def _isobmff_duration(handle: BinaryIO, file_size: int) -> float | None:
    for kind, start, end in _boxes(handle, 0, file_size):
        if kind != b"moov":
            continue
        for inner, inner_start, _ in _boxes(handle, start, end):
            if inner != b"mvhd":
                continue
            handle.seek(inner_start)
            version = handle.read(4)[0]
            if version == 1:
                _, _, timescale, duration = struct.unpack(">QQIQ", handle.read(28))
            else:
                _, _, timescale, duration = struct.unpack(">IIII", handle.read(16))
            if timescale == 0:
                return None
            return round(int(duration) / int(timescale), 3)
    return None


def _vint(handle: BinaryIO, *, keep_marker: bool) -> tuple[int, int]:
    """An EBML variable-length integer: (value, length in bytes)."""
    first = handle.read(1)
    if not first:
        raise ValueError("end of file")
    byte = first[0]
    length = 1
    mask = 0x80
    while length <= 8 and not byte & mask:
        mask >>= 1
        length += 1
    if length > 8:
        raise ValueError("bad EBML integer")
    value = byte if keep_marker else byte & (mask - 1)
    for extra in handle.read(length - 1):
        value = (value << 8) | extra
    return value, length


_SEGMENT, _INFO, _TIMESCALE, _DURATION = 0x18538067, 0x1549A966, 0x2AD7B1, 0x4489


def _ebml_duration(handle: BinaryIO) -> float | None:
    """Segment → Info → Duration times TimecodeScale (nanoseconds per tick, default 1 ms)."""
    handle.seek(0)
    for _ in range(64):  # top-level and Segment children before Info are few
        element, _ = _vint(handle, keep_marker=True)
        size, size_length = _vint(handle, keep_marker=False)
        if element == _SEGMENT:
            continue  # descend: Info is a child of Segment
        if element != _INFO:
            if size >= (1 << (7 * size_length)) - 1:
                return None  # an unknown-size element other than Segment: give up
            handle.seek(size, 1)
            continue
        end = handle.tell() + size
        timescale = 1_000_000
        duration: float | None = None
        while handle.tell() < end:
            child, _ = _vint(handle, keep_marker=True)
            child_size, _ = _vint(handle, keep_marker=False)
            data = handle.read(child_size)
            if child == _TIMESCALE:
                timescale = int.from_bytes(data, "big")
            elif child == _DURATION and child_size in (4, 8):
                duration = struct.unpack(">f" if child_size == 4 else ">d", data)[0]
        if duration is None:
            return None
        return round(float(duration) * timescale / 1e9, 3)
    return None
