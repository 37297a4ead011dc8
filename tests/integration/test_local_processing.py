"""The local provider's processing engine on real, tiny generated videos: probe, thumbnails, HLS."""

from __future__ import annotations

import io
import math
import re
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
from attrs import frozen

from adapters.providers.local import hls
from adapters.providers.local.hls import Cancelled, HlsOutput, transcode_hls
from adapters.providers.local.ladder import choose_ladder
from adapters.providers.local.pipeline import process
from adapters.providers.local.probe import InvalidMedia, MediaProbe, probe
from adapters.providers.local.thumbnails import (
    FrameSampler,
    render_thumbnail,
    representative_time,
    storyboard,
)
from tests.support.videos import damage_part_way, make_audio_only, make_video

FPS = 15
SEGMENT = 0.5
HEIGHTS = (72, 120)
"""Two rungs a 160x120 source can fill, so alignment across renditions is tested."""


@frozen
class Source:
    """A generated source and what a correct probe says of it."""

    name: str
    file: str
    make: dict[str, Any]
    container: str
    codec: str
    display: tuple[int, int]
    rotation: int
    pixel_format: str
    audio: bool
    seconds: float = 2.0


SOURCES = (
    Source("h264-mp4", "h264.mp4", {}, "mp4", "h264", (160, 120), 0, "yuv420p", True),
    Source(
        "vp9-webm",
        "vp9.webm",
        {"codec": "libvpx-vp9", "container": "webm"},
        "webm",
        "vp9",
        (160, 120),
        0,
        "yuv420p",
        True,
    ),
    Source(
        "rotated-phone",
        "phone.mp4",
        {"rotation": -90},
        "mp4",
        "h264",
        (120, 160),
        90,
        "yuv420p",
        True,
    ),
    Source(
        "odd-dimensions",
        "odd.mp4",
        {"width": 161, "height": 121, "pixel_format": "yuv444p"},
        "mp4",
        "h264",
        (161, 121),
        0,
        "yuv444p",
        True,
    ),
    Source(
        "anamorphic",
        "wide.mp4",
        {"width": 120, "height": 120, "sample_aspect_ratio": Fraction(4, 3)},
        "mp4",
        "h264",
        (160, 120),
        0,
        "yuv420p",
        True,
    ),
    Source(
        "no-audio", "silent.mp4", {"audio": False}, "mp4", "h264", (160, 120), 0, "yuv420p", False
    ),
    Source(
        "ten-bit",
        "ten.mp4",
        {"pixel_format": "yuv420p10le"},
        "mp4",
        "h264",
        (160, 120),
        0,
        "yuv420p10le",
        True,
    ),
)


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Every source of :data:`SOURCES`, written once for the module."""
    folder = tmp_path_factory.mktemp("sources")
    return {
        source.name: make_video(
            folder / source.file, fps=FPS, seconds=source.seconds, **source.make
        )
        for source in SOURCES
    }


@pytest.fixture(scope="module")
def encoded(
    sources: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> Callable[[str], HlsOutput]:
    """The HLS of a source, transcoded on first use and kept for the module."""
    done: dict[str, HlsOutput] = {}

    def get(name: str) -> HlsOutput:
        if name not in done:
            path = sources[name]
            ladder = choose_ladder(probe(path), HEIGHTS)
            out = tmp_path_factory.mktemp(name)
            done[name] = transcode_hls(path, out, ladder, segment_seconds=SEGMENT, threads=1)
        return done[name]

    return get


by_name = pytest.mark.parametrize("source", SOURCES, ids=[source.name for source in SOURCES])


@by_name
def test_probe_reports_what_decoding_finds(source: Source, sources: dict[str, Path]) -> None:
    """Container, codec, display size after rotation, pixel format, audio, duration and rate."""
    facts = probe(sources[source.name])
    assert (facts.container, facts.video_codec) == (source.container, source.codec)
    assert (facts.width, facts.height, facts.rotation) == (*source.display, source.rotation)
    assert facts.pixel_format == source.pixel_format
    assert facts.has_audio is source.audio
    assert (facts.audio_codec is not None) is source.audio
    assert facts.duration == pytest.approx(source.seconds, abs=1 / FPS)
    assert facts.frame_rate == pytest.approx(FPS, rel=0.01)
    assert facts.bit_rate is not None
    assert facts.bit_rate > 0


@by_name
@pytest.mark.parametrize("image_format", ["jpeg", "webp"])
def test_thumbnail_is_an_image_of_the_asked_width_and_display_aspect(
    source: Source, image_format: str, sources: dict[str, Path]
) -> None:
    """The image decodes, is 80 px wide and as tall as the display aspect says, upright."""
    data = render_thumbnail(sources[source.name], time=0.5, width=80, image_format=image_format)  # type: ignore[arg-type]
    image = _decode_image(data)
    width, height = source.display
    assert (image.width, image.height) == (80, round(80 * height / width))


def test_thumbnail_is_never_wider_than_the_video(sources: dict[str, Path]) -> None:
    """A width above the video's is capped to it, and no width means the video's own."""
    path = sources["h264-mp4"]
    for width in (None, 4000):
        image = _decode_image(render_thumbnail(path, time=0.0, width=width, image_format="jpeg"))
        assert (image.width, image.height) == (160, 120)


def test_rotated_thumbnail_shows_the_picture_upright(sources: dict[str, Path]) -> None:
    """The phone video's stored top row (a red ramp, left to right) becomes the right column."""
    image = _decode_image(
        render_thumbnail(sources["rotated-phone"], time=0.0, width=None, image_format="jpeg")
    )
    rgb = image.to_ndarray(format="rgb24").astype(int)
    # pattern(): red grows with the stored column; turned 90° clockwise it grows downwards.
    assert rgb[-4:, :, 0].mean() > rgb[:4, :, 0].mean() + 100


def test_representative_frame_is_not_the_black_opening(tmp_path: Path) -> None:
    """A video that opens on a second of black gets a thumbnail with a picture in it."""
    path = make_video(tmp_path / "fade.mp4", fps=FPS, seconds=2.0, black_seconds=1.0)
    facts = probe(path)
    assert representative_time(path, facts) >= 1.0
    image = _decode_image(render_thumbnail(path, time=None, width=None, image_format="jpeg"))
    luma = image.to_ndarray(format="gray").astype(float)
    black = _decode_image(render_thumbnail(path, time=0.0, width=None, image_format="jpeg"))
    assert black.to_ndarray(format="gray").std() < 2  # the opening really is black
    assert luma.std() > 20


def test_storyboard_tiles_the_video_and_maps_times_to_tiles(sources: dict[str, Path]) -> None:
    """One tile per interval in a sprite of the announced size; each cue names its tile."""
    board = storyboard(sources["h264-mp4"], interval=0.5, tile_width=40, columns=3)
    assert (board.columns, board.rows, board.tile_width, board.tile_height) == (3, 2, 40, 30)
    image = _decode_image(board.image)
    assert (image.width, image.height) == (120, 60)
    cues = re.findall(r"(\S+) --> (\S+)\n(storyboard\.jpg#xywh=\d+,\d+,40,30)", board.vtt)
    assert [cue[0] for cue in cues] == [
        "00:00:00.000",
        "00:00:00.500",
        "00:00:01.000",
        "00:00:01.500",
    ]
    assert cues[3][2] == "storyboard.jpg#xywh=0,30,40,30"
    assert board.vtt.startswith("WEBVTT\n")


@by_name
def test_hls_master_playlist_describes_each_rendition(
    source: Source, encoded: Callable[[str], HlsOutput]
) -> None:
    """BANDWIDTH ≥ AVERAGE-BANDWIDTH, RESOLUTION, CODECS (avc1 + AAC iff audio), FRAME-RATE."""
    output = encoded(source.name)
    text = output.master_playlist.read_text()
    assert text.startswith("#EXTM3U\n")
    entries = re.findall(r"#EXT-X-STREAM-INF:(.*)\n(.*)\n", text)
    assert len(entries) == len(output.renditions) == 2
    width, height = source.display
    for (attributes, uri), rendition in zip(entries, output.renditions, strict=True):
        attrs = dict(re.findall(r'([A-Z-]+)=("[^"]*"|[^,]*)', attributes))
        assert int(attrs["BANDWIDTH"]) >= int(attrs["AVERAGE-BANDWIDTH"]) > 0
        out_width, out_height = map(int, attrs["RESOLUTION"].split("x"))
        assert (out_width, out_height) == (rendition.rendition.width, rendition.rendition.height)
        assert out_width % 2 == out_height % 2 == 0
        assert out_width <= width
        assert out_height <= height
        assert out_width / out_height == pytest.approx(width / height, rel=0.05)
        codecs = attrs["CODECS"].strip('"').split(",")
        assert re.fullmatch(r"avc1\.(42|4D|58|64)[0-9A-F]{2}[0-9A-F]{2}", codecs[0])
        assert codecs[1:] == (["mp4a.40.2"] if source.audio else [])
        assert float(attrs["FRAME-RATE"]) == pytest.approx(FPS, rel=0.01)
        assert (output.master_playlist.parent / uri).is_file()


@by_name
def test_hls_media_playlists_are_valid_vod_with_aligned_segments(
    source: Source, encoded: Callable[[str], HlsOutput]
) -> None:
    """Each playlist ends, its target duration covers every segment, and every rendition is cut
    at the same times, each segment starting on a keyframe."""
    output = encoded(source.name)
    cuts = []
    for rendition in output.renditions:
        text = rendition.playlist.read_text()
        assert text.startswith("#EXTM3U\n")
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in text
        assert text.rstrip().endswith("#EXT-X-ENDLIST")
        target = int(re.search(r"#EXT-X-TARGETDURATION:(\d+)", text).group(1))  # type: ignore[union-attr]
        durations = [float(value) for value in re.findall(r"#EXTINF:([\d.]+),", text)]
        assert durations
        assert all(duration <= target for duration in durations)
        assert sum(durations) == pytest.approx(source.seconds, abs=1 / FPS)
        cuts.append([round(duration, 3) for duration in durations])
        for uri in re.findall(r"^(segment_\d+\.ts)$", text, flags=re.MULTILINE):
            first = _decoded(rendition.playlist.parent / uri)[0]
            assert first.key_frame
    assert len(cuts[0]) == math.ceil(source.seconds / SEGMENT)
    assert all(cut == cuts[0] for cut in cuts)


@by_name
def test_every_segment_decodes_to_8_bit_420_of_the_rendition_size(
    source: Source, encoded: Callable[[str], HlsOutput]
) -> None:
    """Through the master playlist, every rendition decodes whole: all frames, yuv420p."""
    output = encoded(source.name)
    frames = round(source.seconds * FPS)
    with av.open(str(output.master_playlist)) as playlist:
        videos = [stream.index for stream in playlist.streams.video]
        assert len(videos) == len(output.renditions)
        # square pixels: the renditions' sizes already are the display aspect
        assert {stream.sample_aspect_ratio for stream in playlist.streams.video} <= {
            None,
            Fraction(1),
        }
        assert len(playlist.streams.audio) == (len(output.renditions) if source.audio else 0)
        sounds = [stream.index for stream in playlist.streams.audio]
        counts = dict.fromkeys(range(len(playlist.streams)), 0)
        sizes = set()
        for packet in playlist.demux():
            for frame in packet.decode():
                if isinstance(frame, av.VideoFrame):
                    counts[packet.stream.index] += 1
                    assert frame.format.name == "yuv420p"
                    sizes.add((frame.width, frame.height))
                else:
                    counts[packet.stream.index] += frame.samples
    assert [counts[video] for video in videos] == [frames] * len(videos)
    for sound in sounds:  # all the sound, give or take the AAC priming and padding
        assert counts[sound] / 48000 == pytest.approx(source.seconds, abs=0.05)
    expected = {(r.rendition.width, r.rendition.height) for r in output.renditions}
    assert sizes == expected
    assert output.duration == pytest.approx(source.seconds, abs=1 / FPS)


def test_rotated_source_is_encoded_upright(encoded: Callable[[str], HlsOutput]) -> None:
    """The phone video's renditions are portrait and the picture is turned like the thumbnail."""
    top = encoded("rotated-phone").renditions[-1]
    assert (top.rendition.width, top.rendition.height) == (120, 160)
    frame = _decoded(top.playlist.parent / "segment_00000.ts")[0]
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    assert rgb[-4:, :, 0].mean() > rgb[:4, :, 0].mean() + 100


def test_progress_climbs_to_one_and_cancel_removes_the_output(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """Progress is reported often and never goes back; should_stop() stops and cleans up."""
    path = sources["h264-mp4"]
    ladder = choose_ladder(probe(path), HEIGHTS)
    seen: list[float] = []
    transcode_hls(path, tmp_path / "done", ladder, segment_seconds=SEGMENT, progress=seen.append)
    assert len(seen) >= 2 * FPS
    assert seen == sorted(seen)
    assert seen[-1] == 1.0
    assert 0.0 <= seen[0] < 0.1

    polls: list[int] = []

    def stop_after_ten() -> bool:
        polls.append(1)
        return len(polls) > 10

    out = tmp_path / "cancelled"
    out.mkdir()
    (out / "keep.txt").write_text("not ours")
    with pytest.raises(Cancelled):
        transcode_hls(path, out, ladder, segment_seconds=SEGMENT, should_stop=stop_after_ten)
    assert sorted(item.name for item in out.iterdir()) == ["keep.txt"]


def test_corrupted_and_truncated_files_are_invalid_media(
    sources: dict[str, Path], tmp_path: Path
) -> None:
    """Garbage and a cut-off MP4 (its index lost) are refused with a sentence, not a crash."""
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(3).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes(sources["h264-mp4"].read_bytes()[:20_000])
    for path in (garbage, truncated):
        with pytest.raises(InvalidMedia) as caught:
            probe(path, declared_mime_type="video/mp4")
        assert caught.value.reason == "The file is damaged or is not a video we can read."
        with pytest.raises(InvalidMedia):
            transcode_hls(path, tmp_path / "out", choose_ladder(_any_probe(), HEIGHTS))


def test_audio_only_file_is_invalid_media(tmp_path: Path) -> None:
    """Sound without a picture is refused, saying so."""
    path = make_audio_only(tmp_path / "song.m4a")
    with pytest.raises(InvalidMedia) as caught:
        probe(path, declared_mime_type="video/mp4")
    assert "no picture" in caught.value.reason


def test_declared_type_must_match_the_real_container(sources: dict[str, Path]) -> None:
    """A WebM sent as MP4 is refused; sent as WebM (or with parameters) it is accepted."""
    webm = sources["vp9-webm"]
    with pytest.raises(InvalidMedia) as caught:
        probe(webm, declared_mime_type="video/mp4")
    assert caught.value.reason == "The file was sent as video/mp4, but it is a WEBM file."
    assert probe(webm, declared_mime_type="Video/WebM; codecs=vp9").container == "webm"
    assert probe(sources["h264-mp4"], declared_mime_type="video/quicktime").container == "mp4"


def test_a_still_image_is_not_a_video(tmp_path: Path) -> None:
    """A PNG decodes to a frame but is refused: we want video."""
    path = tmp_path / "still.png"
    frame = av.VideoFrame.from_ndarray(np.zeros((16, 16, 3), np.uint8), format="rgb24")
    frame.save(str(path))
    with pytest.raises(InvalidMedia) as caught:
        probe(path)
    assert "not in a video format" in caught.value.reason


def _any_probe() -> MediaProbe:
    return MediaProbe(
        container="mp4",
        duration=1.0,
        width=160,
        height=120,
        rotation=0,
        frame_rate=15.0,
        pixel_format="yuv420p",
        video_codec="h264",
        has_audio=False,
        audio_codec=None,
        bit_rate=None,
    )


def _decode_image(data: bytes) -> av.VideoFrame:
    with av.open(io.BytesIO(data)) as image:
        return next(image.decode(video=0))


def _decoded(path: Path) -> list[av.VideoFrame]:
    with av.open(str(path)) as media:
        return list(media.decode(video=0))


def test_full_range_source_is_encoded_in_tv_range(tmp_path: Path) -> None:
    """A full-range (JPEG-range) source's black becomes luma 16, as players expect of H.264."""
    path = make_video(tmp_path / "full.mp4", fps=FPS, pixel_format="yuvj420p", black_seconds=1.0)
    ladder = choose_ladder(probe(path), HEIGHTS)
    output = transcode_hls(path, tmp_path / "hls", ladder, segment_seconds=SEGMENT)
    for rendition in output.renditions:  # the smaller ones are scaled from the converted one
        first = _decoded(rendition.playlist.parent / "segment_00000.ts")[0]
        assert first.format.name == "yuv420p"
        plane = first.planes[0]
        luma = np.frombuffer(bytes(plane), np.uint8).reshape(-1, plane.line_size)[:, : first.width]
        assert 14 <= luma.mean() <= 18  # the stored samples: 0 if the range had been kept


def test_thumbnail_keeps_the_grey_of_full_and_tv_range_sources(tmp_path: Path) -> None:
    """RGB grey 40 stays about 40 in the JPEG whichever range the source was stored in."""
    for pixel_format in ("yuvj420p", "yuv420p"):
        path = make_video(tmp_path / f"{pixel_format}.mp4", pixel_format=pixel_format, grey=40)
        image = _decode_image(render_thumbnail(path, time=0.0, width=None, image_format="jpeg"))
        assert image.to_ndarray(format="gray").mean() == pytest.approx(40, abs=3)


def test_thumbnail_past_the_end_is_the_last_frame(sources: dict[str, Path]) -> None:
    """A time beyond the video gives its last picture rather than an error."""
    path = sources["h264-mp4"]
    late = _decode_image(render_thumbnail(path, time=60.0, width=None, image_format="jpeg"))
    last = _decode_image(render_thumbnail(path, time=1.95, width=None, image_format="jpeg"))
    first = _decode_image(render_thumbnail(path, time=0.0, width=None, image_format="jpeg"))
    difference = np.abs(late.to_ndarray(format="gray").astype(int) - last.to_ndarray(format="gray"))
    assert difference.mean() < 2
    assert (
        np.abs(late.to_ndarray(format="gray").astype(int) - first.to_ndarray(format="gray")).mean()
        > 5
    )


def test_smaller_renditions_are_scaled_from_the_next_larger_one(
    sources: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The scaling cascades: the largest rendition from the source, each smaller one from the
    picture just above it, so a small rung never filters the whole source frame."""
    path = sources["ten-bit"]
    ladder = choose_ladder(probe(path), (48, 72, 120))
    seen: list[tuple[str, tuple[int, int], str]] = []
    real = hls._Variant.scale

    def scale(self: hls._Variant, picture: av.VideoFrame) -> av.VideoFrame:
        seen.append((self.rendition.name, (picture.width, picture.height), picture.format.name))
        return real(self, picture)

    monkeypatch.setattr(hls._Variant, "scale", scale)
    output = transcode_hls(path, tmp_path / "hls", ladder, segment_seconds=SEGMENT, threads=1)
    assert seen[:3] == [
        ("120p", (160, 120), "yuv420p10le"),
        ("72p", (160, 120), "yuv420p"),
        ("48p", (96, 72), "yuv420p"),
    ]
    assert [rendition.rendition.name for rendition in output.renditions] == ["48p", "72p", "120p"]


def test_processing_decodes_the_source_once_for_ladder_storyboard_and_poster(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The worker's pipeline opens the source twice (the probe's look at its start, then the
    transcode), and takes the storyboard and the poster time from the transcode's frames."""
    path = make_video(tmp_path / "fade.mp4", fps=FPS, seconds=2.0, black_seconds=1.0)
    opened: list[str] = []
    real_open = av.open

    def counting_open(file: Any, *args: Any, **kwargs: Any) -> Any:
        if str(file) == str(path):
            opened.append(str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting_open)
    done = process(path, tmp_path / "hls", heights=HEIGHTS, segment_seconds=SEGMENT, threads=1)
    assert len(opened) == 2
    assert done.thumbnail_time >= 1.0  # not the black opening
    assert (tmp_path / "hls" / "storyboard.vtt").read_text().startswith("WEBVTT\n")
    assert _decode_image((tmp_path / "hls" / "storyboard.jpg").read_bytes()).width == 160


def test_sampled_storyboard_and_poster_match_the_seeking_ones(sources: dict[str, Path]) -> None:
    """Frames handed to a FrameSampler in decoding order give the storyboard seeking gives, tile
    for tile, whatever the rotation, and a poster at one of the looked-at times."""
    for name in ("h264-mp4", "rotated-phone"):
        path = sources[name]
        facts = probe(path)
        sampler = FrameSampler(facts, interval=0.5, tile_width=40, columns=3)
        transcode_hls(
            path,
            Path(str(path) + "-hls"),
            choose_ladder(facts, HEIGHTS),
            segment_seconds=SEGMENT,
            threads=1,
            on_frame=sampler.add,
        )
        sampled = sampler.storyboard()
        sought = storyboard(path, interval=0.5, tile_width=40, columns=3)
        assert sampled.vtt == sought.vtt
        assert (sampled.columns, sampled.rows, sampled.tile_width, sampled.tile_height) == (
            sought.columns,
            sought.rows,
            sought.tile_width,
            sought.tile_height,
        )
        mine = _decode_image(sampled.image).to_ndarray(format="gray").astype(int)
        theirs = _decode_image(sought.image).to_ndarray(format="gray").astype(int)
        assert np.abs(mine - theirs).mean() < 2
        # Seeking looks at most a second past a keyframe; the sampler sees the exact frames.
        chosen = sampler.representative_time()
        shares = (0.1, 0.25, 0.4, 0.5, 0.6, 0.75, 0.9)
        assert any(abs(chosen - share * facts.duration) <= 1 / FPS for share in shares)
        # The poster is the frame at that time as rendering it there by seeking gives.
        poster = sampler.poster(96)
        assert poster is not None
        rendered = render_thumbnail(path, time=chosen, width=96, image_format="jpeg")
        posted, sought_frame = _decode_image(poster), _decode_image(rendered)
        assert (posted.width, posted.height) == (sought_frame.width, sought_frame.height)
        mine = posted.to_ndarray(format="gray").astype(int)
        theirs = sought_frame.to_ndarray(format="gray").astype(int)
        assert np.abs(mine - theirs).mean() < 2


def test_a_file_damaged_part_way_passes_the_probe_and_fails_the_transcode(
    tmp_path: Path,
) -> None:
    """The probe decodes the start only; the transcode decodes everything and refuses a file
    most of whose video does not decode, leaving no output."""
    good = make_video(tmp_path / "good.mp4", fps=FPS, seconds=4.0, audio=False)
    path = tmp_path / "damaged.mp4"
    path.write_bytes(damage_part_way(good.read_bytes()))
    facts = probe(path, declared_mime_type="video/mp4")
    assert facts.duration == pytest.approx(4.0, abs=0.1)
    out = tmp_path / "hls"
    with pytest.raises(InvalidMedia) as caught:
        transcode_hls(path, out, choose_ladder(facts, HEIGHTS), segment_seconds=SEGMENT)
    assert caught.value.reason == hls.DAMAGED
    assert list(out.iterdir()) == []


def test_the_sound_is_encoded_once_and_muxed_into_every_rendition(tmp_path: Path) -> None:
    """Renditions whose rungs name different audio bitrates carry the very same AAC packets:
    one encode, at the best rung's bitrate, so no rendition sounds worse than its rung says."""
    path = make_video(tmp_path / "wide.mp4", width=640, height=360, fps=FPS, seconds=1.0)
    ladder = choose_ladder(probe(path), (240, 360))
    assert len({rendition.audio_bitrate for rendition in ladder}) == 2
    output = transcode_hls(path, tmp_path / "hls", ladder, segment_seconds=SEGMENT, threads=1)
    sounds = []
    for rendition in output.renditions:
        payload = b""
        for segment in sorted(rendition.playlist.parent.glob("segment_*.ts")):
            with av.open(str(segment)) as media:
                payload += b"".join(bytes(packet) for packet in media.demux(audio=0))
        sounds.append(payload)
    assert sounds[0]
    assert all(sound == sounds[0] for sound in sounds)
