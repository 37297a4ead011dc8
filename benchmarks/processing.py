"""The local provider's processing engine against the ffmpeg CLI doing the same HLS ladder.

One generated 1080p30 source with motion and sound (cached in the temp dir) is processed to the
default ladder by :func:`adapters.providers.local.hls.transcode_hls` (in a child process, so its
peak RSS is its own) and by one ``ffmpeg`` command with the same settings: one decode, the same
cascade of bicubic scales (each rendition from the smallest larger one already scaled, ``split``
where a picture feeds more than one), libx264 with the same preset, CRF, maxrate/bufsize, GOP and
forced keyframes, one AAC encode muxed into every rendition (the ``tee`` muxer), the same thread
count, MPEG-TS segments through the HLS muxer.
The two contenders alternate (engine, ffmpeg, engine, ffmpeg, ...) so drift on a shared machine
hits both. Also measured: the engine's work on a 10 s clip (probe, representative thumbnail, HLS),
and where its time goes (decode alone, decode and the scaling cascade, everything).

    python benchmarks/processing.py [--seconds 30] [--rounds 2] [--preset veryfast] [--threads 0]

Writes the "Processing (local provider)" section of docs/benchmarks.md (``--output``), keeping the
rest of the file.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import av
from av.video.reformatter import Interpolation, VideoReformatter

from adapters.providers.local.hls import DEFAULT_CRF, DEFAULT_PRESET, transcode_hls
from adapters.providers.local.ladder import Rendition, choose_ladder
from adapters.providers.local.pipeline import process
from adapters.providers.local.probe import probe

ROOT = Path(__file__).resolve().parent.parent
HEADING = "## Processing (local provider)"
HISTORY_HEADING = "## History"
"""The section benchmarks/run.py keeps last."""
SEGMENT_SECONDS = 4.0
CACHE = Path(tempfile.gettempdir()) / "media-core-bench"


@dataclass
class Run:
    """One timed process: wall seconds, CPU seconds (user + system, all threads), peak RSS;
    for the engine also the wall seconds of the work itself, without the interpreter's start and
    imports (which a worker pays once when it starts, not per job)."""

    who: str
    seconds: float
    cpu_seconds: float
    rss_mib: float
    work_seconds: float | None = None


def make_source(seconds: int, width: int = 1920, height: int = 1080, fps: int = 30) -> Path:
    """A cached H.264/AAC MP4 at a phone's bitrate: a moving test pattern with light grain (so
    motion search and residuals are not trivially cheap), and a tone."""
    CACHE.mkdir(parents=True, exist_ok=True)
    path = CACHE / f"source-v2-{height}p{fps}-{seconds}s.mp4"
    if path.exists():
        return path
    partial = path.with_suffix(".partial.mp4")
    video = f"testsrc2=size={width}x{height}:rate={fps},noise=alls=6:allf=t"
    audio = "sine=frequency=440:sample_rate=48000,aformat=channel_layouts=stereo"
    subprocess.run(
        [
            *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y"),
            *("-f", "lavfi", "-i", video, "-f", "lavfi", "-i", audio, "-t", str(seconds)),
            *("-c:v", "libx264", "-preset", "veryfast", "-crf", "20", "-pix_fmt", "yuv420p"),
            *("-maxrate", "15M", "-bufsize", "30M"),
            *("-c:a", "aac", "-b:a", "160k", "-shortest", str(partial)),
        ],
        check=True,
    )
    partial.rename(path)
    return path


def make_clip(source: Path, seconds: int) -> Path:
    """The first ``seconds`` of ``source`` (streams copied), cached beside it."""
    path = source.with_name(f"{source.stem}-first-{seconds}s.mp4")
    if not path.exists():
        partial = path.with_suffix(".partial.mp4")
        subprocess.run(
            [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-i", str(source)),
                *("-t", str(seconds), "-c", "copy", str(partial)),
            ],
            check=True,
        )
        partial.rename(path)
    return path


def ffmpeg_command(
    source: Path,
    out_dir: Path,
    ladder: tuple[Rendition, ...],
    preset: str,
    threads: int,
    audio: bool,
) -> list[str]:
    """One ffmpeg run doing what transcode_hls does: one decode, the scaling cascade, one AAC
    encode at the best rung's bitrate, and an HLS output per rung (the ``tee`` muxer hands the
    same audio packets to each, as the engine does)."""
    fps = float(probe(source).frame_rate)
    gop = str(max(1, round(SEGMENT_SECONDS * fps)))
    command = [
        *("ffmpeg", "-hide_banner", "-loglevel", "error", "-nostats", "-y"),
        *("-threads", str(threads), "-i", str(source), "-filter_complex", cascade(ladder)),
    ]
    for index in range(len(ladder)):
        command += ["-map", f"[o{index}]"]
    command += [
        *("-c:v", "libx264", "-preset", preset, "-crf", str(DEFAULT_CRF)),
        *("-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-forced-idr", "1"),
        *("-threads", str(threads)),
        *("-force_key_frames", f"expr:gte(t,n_forced*{SEGMENT_SECONDS:g})"),
    ]
    for index, rendition in enumerate(ladder):
        command += [
            *(f"-maxrate:v:{index}", str(rendition.video_bitrate)),
            *(f"-bufsize:v:{index}", str(2 * rendition.video_bitrate)),
        ]
    if audio:
        bitrate = max(rendition.audio_bitrate for rendition in ladder)
        command += [
            *("-map", "0:a:0", "-c:a", "aac", "-b:a", str(bitrate), "-ar", "48000", "-ac", "2")
        ]
    outputs = []
    for index, rendition in enumerate(ladder):
        folder = out_dir / rendition.name
        folder.mkdir(parents=True, exist_ok=True)
        streams = f"v:{index},a" if audio else f"v:{index}"
        outputs.append(
            f"[select=\\'{streams}\\':f=hls:hls_time={SEGMENT_SECONDS:g}:hls_playlist_type=vod"
            ":hls_list_size=0:hls_segment_type=mpegts:start_number=0"
            f":hls_segment_filename={folder / 'segment_%05d.ts'}]{folder / 'index.m3u8'}"
        )
    return [*command, "-f", "tee", "|".join(outputs)]


def cascade(ladder: tuple[Rendition, ...]) -> str:
    """The filter graph of transcode_hls's scaling: largest rung first, from the source; each
    smaller one from the smallest rung already scaled that covers it; ``[o<i>]`` per rung."""
    order = sorted(range(len(ladder)), key=lambda i: ladder[i].width * ladder[i].height)[::-1]
    parent: dict[int, int | None] = {}
    for position, index in enumerate(order):
        covering = [
            earlier
            for earlier in order[:position]
            if ladder[earlier].width >= ladder[index].width
            and ladder[earlier].height >= ladder[index].height
        ]
        parent[index] = covering[-1] if covering else None
    children = {index: [i for i in order if parent[i] == index] for index in [*order, None]}
    parts = [f"[0:v]split={len(children[None])}" + "".join(f"[in{i}]" for i in children[None])]
    for index in order:
        rendition = ladder[index]
        outputs = [f"[o{index}]", *(f"[in{child}]" for child in children[index])]
        split = f",split={len(outputs)}" if len(outputs) > 1 else ""
        parts.append(
            f"[in{index}]scale={rendition.width}:{rendition.height}:flags=bicubic,"
            f"format=yuv420p{split}{''.join(outputs)}"
        )
    return ";".join(parts)


def timed(who: str, command: list[str]) -> tuple[Run, str]:
    """Run ``command`` as a child; its wall time and its own peak RSS (wait4)."""
    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert child.stdout is not None
    output = child.stdout.read()
    _, status, usage = os.wait4(child.pid, 0)
    seconds = time.perf_counter() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode:
        raise SystemExit(f"{who} failed ({child.returncode}): {' '.join(command)}")
    cpu = usage.ru_utime + usage.ru_stime
    return Run(who, seconds, cpu, usage.ru_maxrss / 1024), output


def engine_command(source: Path, out_dir: Path, stage: str, preset: str, threads: int) -> list[str]:
    """This script as a child doing one ``stage`` of the engine's work."""
    return [
        *(sys.executable, __file__, "--child", stage, "--source", str(source)),
        *("--out", str(out_dir), "--preset", preset, "--threads", str(threads)),
    ]


def child(stage: str, source: Path, out_dir: Path, preset: str, threads: int) -> None:
    """The engine's side: ``hls`` (the ladder), ``ready`` (what the worker does: probe, ladder,
    storyboard and the poster the page asks for first, in one decode), or the partial pipelines
    ``decode`` and ``scale`` that show where the time goes."""
    started = time.perf_counter()
    if stage == "ready":
        process(
            source,
            out_dir,
            segment_seconds=SEGMENT_SECONDS,
            threads=threads,
            preset=preset,
            poster_width=640,
        )
        print(json.dumps({"seconds": time.perf_counter() - started}))
        return
    facts = probe(source)
    ladder = choose_ladder(facts)
    if stage == "hls":
        transcode_hls(
            source, out_dir, ladder, segment_seconds=SEGMENT_SECONDS, threads=threads, preset=preset
        )
    else:
        _decode_and_scale(source, ladder, threads, scale=stage == "scale")
    print(json.dumps({"seconds": time.perf_counter() - started}))


def _decode_and_scale(
    source: Path, ladder: tuple[Rendition, ...], threads: int, *, scale: bool
) -> None:
    # the engine's cascade on the default ladder: each rung from the next larger one
    rungs = sorted(ladder, key=lambda rendition: rendition.width * rendition.height, reverse=True)
    scalers = [VideoReformatter() for _ in rungs]
    with av.open(str(source)) as container:
        video = container.streams.video[0]
        video.thread_type = "AUTO"
        video.codec_context.thread_count = threads
        streams: list[Any] = [video, *container.streams.audio[:1]]
        for packet in container.demux(streams):
            for frame in packet.decode():
                if scale and isinstance(frame, av.VideoFrame):
                    picture = frame
                    for scaler, rendition in zip(scalers, rungs, strict=True):
                        picture = scaler.reformat(
                            picture,
                            width=rendition.width,
                            height=rendition.height,
                            format="yuv420p",
                            interpolation=Interpolation.BICUBIC,
                            threads=1,
                        )


def measure(args: argparse.Namespace) -> str:
    """All the runs; the markdown section."""
    source = make_source(args.seconds)
    clip = make_clip(source, 10)
    load = os.getloadavg()[0]
    facts = probe(source)
    ladder = choose_ladder(facts)
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="media-bench-hls-") as tmp:
        work = Path(tmp)
        for round_number in range(args.rounds):
            for who in ("engine", "ffmpeg"):
                out = work / f"{who}-{round_number}"
                if who == "engine":
                    command = engine_command(source, out, "hls", args.preset, args.threads)
                else:
                    command = ffmpeg_command(
                        source,
                        out,
                        ladder,
                        preset=args.preset,
                        threads=args.threads,
                        audio=facts.has_audio,
                    )
                run, output = timed(who, command)
                if who == "engine":
                    run.work_seconds = json.loads(output.splitlines()[-1])["seconds"]
                runs.append(run)
                print(
                    f"  {who}: {run.seconds:.1f} s wall, {run.cpu_seconds:.1f} s CPU, "
                    f"peak RSS {run.rss_mib:.0f} MiB",
                    flush=True,
                )
                shutil.rmtree(out)
        ready, output = timed(
            "ready", engine_command(clip, work / "clip", "ready", args.preset, args.threads)
        )
        ready.work_seconds = json.loads(output.splitlines()[-1])["seconds"]
        presets: dict[str, tuple[Run, int]] = {}
        for preset in (args.preset, "superfast"):
            out = work / f"clip-{preset}"
            run, _ = timed(preset, engine_command(clip, out, "hls", preset, args.threads))
            presets[preset] = (run, sum(f.stat().st_size for f in out.rglob("*.ts")))
        stages = {}
        for stage in ("decode", "scale"):
            stages[stage], _ = timed(
                stage, engine_command(source, work / stage, stage, args.preset, args.threads)
            )
        ffmpeg_decode, _ = timed(
            "ffmpeg-decode",
            [
                *("ffmpeg", "-hide_banner", "-loglevel", "error", "-threads", str(args.threads)),
                *("-i", str(source), "-f", "null", "-"),
            ],
        )
    return section(args, load, facts.duration, ladder, runs, ready, stages, ffmpeg_decode, presets)


def section(
    args: argparse.Namespace,
    load: float,
    duration: float,
    ladder: tuple[Rendition, ...],
    runs: list[Run],
    ready: Run,
    stages: dict[str, Run],
    ffmpeg_decode: Run,
    presets: dict[str, tuple[Run, int]],
) -> str:
    """The markdown of the benchmark's section."""
    engine = [run for run in runs if run.who == "engine"]
    ffmpeg = [run for run in runs if run.who == "ffmpeg"]
    wall = {
        who: statistics.median(r.seconds for r in rs) for who, rs in (("e", engine), ("f", ffmpeg))
    }
    cpu = {
        who: statistics.median(r.cpu_seconds for r in rs)
        for who, rs in (("e", engine), ("f", ffmpeg))
    }
    cores = os.cpu_count() or 1
    version = subprocess.run(
        ["ffmpeg", "-version"], capture_output=True, text=True, check=True
    ).stdout.splitlines()[0]
    rungs = ", ".join(
        f"{r.name} {r.width}x{r.height} {r.video_bitrate // 1000} kb/s" for r in ladder
    )
    processor = platform.processor() or platform.machine()
    lines = [
        HEADING,
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `python benchmarks/processing.py` "
        f"(`nox -s bench`) on {cores} cores ({processor}), load average before the run "
        f"{load:.1f}. Source: a generated {duration:.0f} s 1080p30 H.264 clip "
        "(moving test pattern with light grain, 15 Mb/s at most) with AAC stereo. Ladder: "
        f"{rungs}; libx264 preset `{args.preset}`, CRF {DEFAULT_CRF} capped at each rung's "
        f"bitrate, {SEGMENT_SECONDS:g} s segments with aligned keyframes, one AAC encode (at the "
        "best rung's bitrate) muxed into every rendition, "
        f"threads {args.threads} (0: FFmpeg's choice). PyAV {av.__version__} "
        f"(libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))}) against "
        f"`{' '.join(version.split()[:3])}` (Debian) doing the same in one command (one decode, "
        "the same cascade of `scale` filters, the same encoder settings, one AAC encode handed "
        "to every rendition's HLS muxer by `tee`). Runs alternate, engine first; each row is one "
        "run. Wall time depends on what else the machine runs; CPU time (user + system of the "
        "process and its threads) much less.",
        "",
        "| run | engine wall s | engine work s | ffmpeg wall s | engine CPU s | ffmpeg CPU s "
        "| engine peak RSS MiB | ffmpeg peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for index, (mine, theirs) in enumerate(zip(engine, ffmpeg, strict=True), start=1):
        lines.append(
            f"| {index} | {mine.seconds:.1f} | {mine.work_seconds or 0:.1f} | {theirs.seconds:.1f} "
            f"| {mine.cpu_seconds:.1f} | {theirs.cpu_seconds:.1f} | {mine.rss_mib:.0f} "
            f"| {theirs.rss_mib:.0f} |"
        )
    work = statistics.median(run.work_seconds or run.seconds for run in engine)
    lines += [
        "",
        f"- throughput, engine / ffmpeg (medians): **{wall['f'] / wall['e']:.2f}** by wall "
        f"time, **{cpu['f'] / cpu['e']:.2f}** by CPU time",
        f"- real-time factor of the engine (source seconds per second): "
        f"**{duration / wall['e']:.2f}** by wall time here (ffmpeg {duration / wall['f']:.2f}), "
        f"**{duration / work:.2f}** by the engine's work alone (engine work s: from the probe to "
        "the last playlist, as in a running worker, without the interpreter's start and imports); "
        f"**{duration * cores / cpu['e']:.2f}** on {cores} otherwise idle cores, from its CPU "
        f"time (ffmpeg {duration * cores / cpu['f']:.2f})",
        f"- engine peak RSS: **{max(run.rss_mib for run in engine):.0f} MiB**",
        "- a 10 s clip, what the worker does (probe; ladder, storyboard and the poster the page "
        "asks for first, from one decode: the worker's part of upload "
        f"complete → READY): **{ready.work_seconds or 0:.1f} s** of work "
        f"({ready.seconds:.1f} s wall with the interpreter's start), {ready.cpu_seconds:.1f} s "
        "CPU",
        "- where the engine's CPU time goes (one run each, CPU s): decode alone "
        f"{stages['decode'].cpu_seconds:.1f} (the ffmpeg CLI decoding alone "
        f"{ffmpeg_decode.cpu_seconds:.1f}), decode + the scaling cascade "
        f"{stages['scale'].cpu_seconds:.1f}, everything {cpu['e']:.1f}: the rest, "
        f"{cpu['e'] - stages['scale'].cpu_seconds:.1f}, is x264 and AAC encoding and muxing",
    ]
    if "superfast" in presets and args.preset in presets and args.preset != "superfast":
        (mine, mine_bytes), (fast, fast_bytes) = presets[args.preset], presets["superfast"]
        lines.append(
            f"- the 10 s clip's ladder alone at `{args.preset}`: {mine.cpu_seconds:.1f} s CPU, "
            f"{mine_bytes / 2**20:.1f} MiB of segments; at `superfast`: "
            f"{fast.cpu_seconds:.1f} s CPU ({fast.cpu_seconds / mine.cpu_seconds:.2f} of it), "
            f"{fast_bytes / 2**20:.1f} MiB ({fast_bytes / mine_bytes:.2f} of it): the price of "
            "more speed"
        )
    return "\n".join(lines) + "\n"


def write_section(output: Path, text: str, *, heading: str = HEADING) -> None:
    """Replace (or append) the section ``heading`` of ``output``, keeping the others."""
    old = output.read_text() if output.exists() else "# Benchmarks\n"
    start = old.find(heading)
    history = old.find(f"\n{HISTORY_HEADING}\n")
    if start < 0 and history >= 0:  # the history stays last
        new = old[: history + 1] + text + "\n" + old[history + 1 :]
    elif start < 0:
        new = old.rstrip("\n") + "\n\n" + text
    else:
        end = old.find("\n## ", start + len(heading))
        rest = "" if end < 0 else old[end + 1 :]
        new = old[:start] + text + ("\n" + rest if rest else "")
    output.write_text(new)


def main() -> None:
    """Parse the options; run the benchmark (or be its child)."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=30, help="length of the 1080p source")
    parser.add_argument("--rounds", type=int, default=2, help="runs of each contender")
    parser.add_argument("--preset", default=DEFAULT_PRESET)
    parser.add_argument("--threads", type=int, default=0)
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    parser.add_argument("--child", choices=["hls", "ready", "decode", "scale"])
    parser.add_argument("--source", type=Path)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.source, args.out, args.preset, args.threads)
        return
    if not shutil.which("ffmpeg"):
        raise SystemExit("ffmpeg is not installed (Debian: apt-get install ffmpeg)")
    text = measure(args)
    write_section(Path(args.output), text)
    print(text)


if __name__ == "__main__":
    main()
