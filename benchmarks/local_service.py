"""The local provider end to end through ``media-core serve``: what a user waits for, and what
processing costs the service process.

A generated 10 s 1080p30 clip (the processing benchmark's source, cut) is uploaded to a running
service on the embedded default (SQLite file, local provider, one embedded worker) as a client
does: create, one ``PUT``. Then the status route is polled until READY, and the first thumbnail
(rendered on request, in the service process) and the master playlist are fetched. Measured:

- upload complete (the ``PUT`` answered) to READY, and the progress values the status showed;
- the service process's RSS idle, at its highest while the worker processed, and after the first
  thumbnails were rendered; the worker process's peak RSS (sampled every 50 ms, and ``VmHWM``).

    python benchmarks/local_service.py [--seconds 10] [--output docs/benchmarks.md]

Writes the "Local provider through the service" section of docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import processing
import run

HEADING = "## Local provider through the service"


class Sampler(threading.Thread):
    """The service's RSS and its worker children's, every ``interval`` seconds, until stopped."""

    def __init__(self, pid: int, interval: float = 0.05) -> None:
        super().__init__(daemon=True)
        self.pid = pid
        self.interval = interval
        self.service_peak = 0.0
        self.worker_peak = 0.0
        self.workers: set[int] = set()
        self._done = threading.Event()

    def run(self) -> None:
        """Sample until :meth:`stop`."""
        while not self._done.wait(self.interval):
            with contextlib.suppress(OSError, ValueError):
                self.service_peak = max(self.service_peak, rss_mib(self.pid))
            for child in children(self.pid):
                with contextlib.suppress(OSError, ValueError):
                    self.worker_peak = max(self.worker_peak, rss_mib(child), hwm_mib(child))
                    self.workers.add(child)

    def stop(self) -> None:
        """Stop sampling and wait for the thread."""
        self._done.set()
        self.join()


def _status_kib(pid: int, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return float(line.split()[1])
    raise ValueError(f"no {field} for {pid}")


def rss_mib(pid: int) -> float:
    """Resident set size now, MiB."""
    return _status_kib(pid, "VmRSS") / 1024


def hwm_mib(pid: int) -> float:
    """Peak resident set size so far, MiB."""
    return _status_kib(pid, "VmHWM") / 1024


def children(pid: int) -> list[int]:
    """The direct children of ``pid`` (the worker processes ``serve`` started)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.listdir(f"/proc/{pid}/task"):
            text = Path(f"/proc/{pid}/task/{task}/children").read_text()
            found += [int(child) for child in text.split()]
    return found


@contextlib.contextmanager
def service(workdir: Path) -> Iterator[tuple[int, int]]:
    """``media-core serve`` on the embedded default with one worker: (port, pid)."""
    port = run.free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir / 'media.db'}",
        "MEDIA_PROVIDER": "local",
        "MEDIA_PORT": str(port),
        "MEDIA_DATA_DIR": str(workdir / "data"),
        "MEDIA_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "AUTH_JWT_SECRET": run.JWT_SECRET,
        "LOCAL_WORKERS": "1",
        "LOG_LEVEL": "WARNING",
    }
    command = [sys.executable, "-m", "entrypoints.cli", "serve"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        run.wait_port(port, process)
        yield port, process.pid
    finally:
        run.stop(process, signal.SIGTERM, timeout=30)


def measure(seconds: int) -> str:
    """Upload one clip, follow it to READY; the report section."""
    clip = processing.make_clip(processing.make_source(max(seconds, 30)), seconds)
    workdir = Path(tempfile.mkdtemp(prefix="media-local-"))
    headers = {"Authorization": f"Bearer {run.token()}"}
    with service(workdir) as (port, pid), httpx.Client(timeout=60, headers=headers) as client:
        base = f"http://127.0.0.1:{port}/api/v1/media"
        client.get(f"{base}?limit=1").raise_for_status()
        time.sleep(2)  # the worker process starts and imports its modules
        idle = rss_mib(pid)
        sampler = Sampler(pid)
        sampler.start()
        created = client.post(
            f"{base}/upload/direct",
            json={
                "fileName": clip.name,
                "fileSize": clip.stat().st_size,
                "mimeType": "video/mp4",
                "metadata": {"title": "bench", "description": "", "visibility": "PUBLIC"},
            },
        )
        created.raise_for_status()
        slot = created.json()
        with clip.open("rb") as body:
            client.put(
                slot["uploadUrl"], content=body, headers={"Content-Type": "video/mp4"}
            ).raise_for_status()
        uploaded = time.perf_counter()
        progress: list[int] = []
        deadline = uploaded + 30 * seconds
        status: dict[str, object] = {}
        while time.perf_counter() < deadline:
            status = client.get(f"{base}/status/{slot['id']}").json()
            if status["status"] == "processing" and status["progress"] not in progress[-1:]:
                progress.append(int(str(status["progress"])))
            if status["status"] in ("ready", "failed"):
                break
            time.sleep(0.05)
        ready = time.perf_counter() - uploaded
        if status.get("status") != "ready":
            raise SystemExit(f"the upload did not become ready: {status}")
        during = sampler.service_peak
        playback = client.get(f"{base}/{slot['id']}/playback").json()
        thumbnail = str(status["thumbnailUrl"])
        rendered = [
            client.get(thumbnail, params=params)
            for params in ({}, {"width": 320}, {"time": 5, "width": 640})
        ]
        for answer in rendered:
            answer.raise_for_status()
        client.get(playback["url"]).raise_for_status()
        sampler.stop()
        after = rss_mib(pid)
        service_hwm = hwm_mib(pid)
    return section(seconds, ready, progress, idle, during, after, service_hwm, sampler)


def section(
    seconds: int,
    ready: float,
    progress: list[int],
    idle: float,
    during: float,
    after: float,
    service_hwm: float,
    sampler: Sampler,
) -> str:
    """The docs/benchmarks.md section."""
    load = os.getloadavg()[0]
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    shown = ", ".join(map(str, progress)) or "none"
    return "\n".join(
        [
            HEADING,
            "",
            f"Run {stamp} by `python benchmarks/local_service.py` (`nox -s bench`) on "
            f"{os.cpu_count()} cores, load average before the run {load:.1f}: a {seconds} s "
            "1080p30 H.264/AAC clip (the processing benchmark's source, cut) uploaded with one "
            "`PUT` to `media-core serve` on the embedded default (SQLite, local provider, one "
            "embedded worker, default ladder and preset), the status polled every 50 ms.",
            "",
            f"- upload complete (`PUT` answered) → READY: **{ready:.1f} s** "
            f"(real-time factor {seconds / ready:.2f} for the whole worker path: probe, "
            "thumbnail, HLS ladder, webhooks)",
            f"- progress the status route showed while processing: {shown}",
            f"- service process RSS: idle {idle:.0f} MiB, highest while the worker processed "
            f"**{during:.0f} MiB** ({during - idle:+.0f}), after three thumbnail requests (the "
            "default one the worker made; two others rendered in the service) and the playlist "
            f"{after:.0f} MiB (peak {service_hwm:.0f} MiB)",
            f"- worker process peak RSS: {sampler.worker_peak:.0f} MiB",
            "",
        ]
    )


def main() -> None:
    """Parse the options, run, write the section."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=int, default=10, help="length of the uploaded clip")
    parser.add_argument("--output", default=str(run.ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    text = measure(args.seconds)
    processing.write_section(Path(args.output), text, heading=HEADING)
    print(text)


if __name__ == "__main__":
    main()
