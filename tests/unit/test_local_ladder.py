"""The HLS ladder of the local provider: capped by the source, never upscaled, even sizes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.providers.local.ladder import DEFAULT_HEIGHTS, Rendition, choose_ladder
from adapters.providers.local.probe import MediaProbe


def _probe(width: int, height: int, frame_rate: float = 30.0) -> MediaProbe:
    return MediaProbe(
        container="mp4",
        duration=10.0,
        width=width,
        height=height,
        rotation=0,
        frame_rate=frame_rate,
        pixel_format="yuv420p",
        video_codec="h264",
        has_audio=True,
        audio_codec="aac",
        bit_rate=None,
    )


def _sizes(ladder: tuple[Rendition, ...]) -> list[tuple[str, int, int]]:
    return [(rendition.name, rendition.width, rendition.height) for rendition in ladder]


def test_a_1080p_source_gets_the_whole_default_ladder() -> None:
    """240p to 1080p at 16:9, bitrates rising with the size."""
    ladder = choose_ladder(_probe(1920, 1080))
    assert _sizes(ladder) == [
        ("240p", 426, 240),
        ("360p", 640, 360),
        ("480p", 854, 480),
        ("720p", 1280, 720),
        ("1080p", 1920, 1080),
    ]
    bitrates = [rendition.video_bitrate for rendition in ladder]
    assert bitrates == sorted(bitrates)
    assert ladder[-1].video_bitrate == 5_000_000


def test_a_720p_source_stops_at_720p() -> None:
    """No rendition is larger than the source."""
    assert [r.name for r in choose_ladder(_probe(1280, 720))] == ["240p", "360p", "480p", "720p"]


def test_a_portrait_phone_video_gets_portrait_renditions() -> None:
    """A 1080x1920 display size: the rung is the short side."""
    ladder = choose_ladder(_probe(1080, 1920))
    assert _sizes(ladder)[-2:] == [("720p", 720, 1280), ("1080p", 1080, 1920)]


def test_a_wide_film_keeps_its_aspect_in_each_box() -> None:
    """1920x800 fills the 1080p box's width: 1080p at its own size, 720p at 1280x534."""
    ladder = choose_ladder(_probe(1920, 800))
    assert _sizes(ladder)[-2:] == [("720p", 1280, 534), ("1080p", 1920, 800)]


def test_a_source_between_rungs_also_gets_its_own_size() -> None:
    """1000x700 is well above 480p and below 720p: a 700p rendition keeps its detail."""
    assert _sizes(choose_ladder(_probe(1000, 700)))[-2:] == [
        ("480p", 686, 480),
        ("700p", 1000, 700),
    ]


def test_a_source_smaller_than_every_rung_gets_one_rendition_at_its_size() -> None:
    """160x120, odd sizes rounded down to even."""
    assert _sizes(choose_ladder(_probe(161, 121))) == [("120p", 160, 120)]


def test_configured_heights_are_kept_even_below_the_source() -> None:
    """A ladder capped by configuration does not add the source's own size."""
    assert [r.name for r in choose_ladder(_probe(1920, 1080), (240, 480))] == ["240p", "480p"]


def test_more_frames_a_second_cost_more_bits() -> None:
    """A 60 fps rendition gets half as much again as a 30 fps one."""
    thirty = choose_ladder(_probe(1280, 720, 30.0))[-1].video_bitrate
    sixty = choose_ladder(_probe(1280, 720, 60.0))[-1].video_bitrate
    assert sixty == pytest.approx(1.5 * thirty)


@given(
    width=st.integers(min_value=16, max_value=4096),
    height=st.integers(min_value=16, max_value=4096),
    heights=st.lists(st.integers(min_value=16, max_value=2160), min_size=1, max_size=6),
)
def test_every_ladder_is_even_never_upscaled_and_keeps_the_aspect(
    width: int, height: int, heights: list[int]
) -> None:
    """For any display size and rungs: distinct names, even sides, at most the source, and
    (unless a side hits the 2 px floor) the source's aspect within the rounding."""
    ladder = choose_ladder(_probe(width, height), heights)
    assert ladder
    assert len({rendition.name for rendition in ladder}) == len(ladder)
    for rendition in ladder:
        assert rendition.width % 2 == rendition.height % 2 == 0
        assert rendition.width <= max(width, 2)
        assert rendition.height <= max(height, 2)
        if min(rendition.width, rendition.height) > 2:
            expected = rendition.height * width / height
            assert abs(rendition.width - expected) <= 2 + 2 * width / height
        assert rendition.video_bitrate >= 100_000


def test_default_heights_are_the_issue_ladder() -> None:
    """240p, 360p, 480p, 720p, 1080p."""
    assert DEFAULT_HEIGHTS == (240, 360, 480, 720, 1080)
