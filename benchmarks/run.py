"""Benchmark the service against the floor, on SQLite and PostgreSQL, and write docs/benchmarks.md.

Everything runs on 127.0.0.1. The server under test is pinned to core 0 and wrk (C, one thread)
to core 1 where the machine has two cores. Each measurement is a fresh wrk run of ``--seconds``.

    python benchmarks/run.py [--seconds 8] [--quick] [--skip-scale] [--postgres URL]

Environment: ``BENCH_POSTGRES_URL`` (default postgresql://postgres@127.0.0.1:5432/test) names a
server where the run may create and drop its own databases.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import jwt
import sqlalchemy as sa

from adapters.repositories.sql import media_uploads

ROOT = Path(__file__).resolve().parents[1]
LUA = ROOT / "benchmarks" / "wrk"
EXPRESS = ROOT / "benchmarks" / "express"
WEBHOOK_SECRET = "bench-webhook-secret"
JWT_SECRET = "bench-jwt-secret-bench-jwt-secret-0123"
USER = "bench-user"
CORES = os.cpu_count() or 1
SERVER_CPU = ["taskset", "-c", "0"] if CORES >= 2 and shutil.which("taskset") else []
LOAD_CPU = ["taskset", "-c", "1"] if CORES >= 2 and shutil.which("taskset") else []


@dataclass
class Result:
    """One wrk run."""

    app: str
    db: str
    route: str
    connections: int
    rps: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int
    rows: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[bytes], seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.1)
    raise RuntimeError(f"nothing listened on {port} within {seconds}s")


def token() -> str:
    now = int(time.time())
    return jwt.encode({"sub": USER, "iat": now, "exp": now + 86400}, JWT_SECRET, "HS256")


# -- databases ---------------------------------------------------------------------------------


@contextlib.contextmanager
def database(kind: str, postgres: str, workdir: Path) -> Iterator[str]:
    """A fresh, migrated database of ``kind``; yields its URL (plain driver-less form)."""
    if kind == "sqlite":
        url = f"sqlite:///{workdir / f'bench-{uuid.uuid4().hex[:8]}.db'}"
        migrate(url)
        yield url
        return
    name = f"media_bench_{uuid.uuid4().hex[:8]}"
    _pg_admin(postgres, f'CREATE DATABASE "{name}"')
    base = postgres.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    try:
        migrate(url)
        yield url
    finally:
        _pg_admin(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _pg_admin(url: str, statement: str) -> None:
    async def run() -> None:
        conn = await asyncpg.connect(url)
        try:
            await conn.execute(statement)
        finally:
            await conn.close()

    asyncio.run(run())


def migrate(url: str) -> None:
    env = {**os.environ, "DATABASE_URL": url}
    subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", "migrate"],
        env=env,
        check=True,
        capture_output=True,
    )


def seed(url: str, count: int, *, prefix: str) -> list[str]:
    """Insert ``count`` UPLOADING uploads of the bench user; returns their ids."""
    ids = [f"{prefix}{index:08d}" for index in range(count)]
    now = datetime.now(UTC)
    if url.startswith("sqlite"):
        engine = sa.create_engine(url)
        rows = [
            {
                "id": upload_id,
                "owner_id": USER,
                "provider": "fake",
                "provider_upload_id": upload_id,
                "file_name": "clip.mp4",
                "file_size": 1_048_576,
                "mime_type": "video/mp4",
                "status": "uploading",
                "progress": 0,
                "metadata": {
                    "title": "Bench",
                    "description": "",
                    "visibility": "PUBLIC",
                    "extra": {},
                },
                "created_at": now - timedelta(microseconds=count - i),
                "updated_at": now,
                "version": 0,
            }
            for i, upload_id in enumerate(ids)
        ]
        with engine.begin() as conn:
            for start in range(0, len(rows), 20_000):
                conn.execute(media_uploads.insert(), rows[start : start + 20_000])
        engine.dispose()
        return ids

    metadata_json = json.dumps(
        {"title": "Bench", "description": "", "visibility": "PUBLIC", "extra": {}}
    )

    async def copy() -> None:
        conn = await asyncpg.connect(url)
        try:
            records = (
                (
                    upload_id,
                    USER,
                    "fake",
                    upload_id,
                    "clip.mp4",
                    1_048_576,
                    "video/mp4",
                    "uploading",
                    0,
                    metadata_json,
                    now - timedelta(microseconds=count - i),
                    now,
                    0,
                )
                for i, upload_id in enumerate(ids)
            )
            await conn.copy_records_to_table(
                "media_uploads",
                records=records,
                columns=[
                    "id",
                    "owner_id",
                    "provider",
                    "provider_upload_id",
                    "file_name",
                    "file_size",
                    "mime_type",
                    "status",
                    "progress",
                    "metadata",
                    "created_at",
                    "updated_at",
                    "version",
                ],
            )
            await conn.execute("ANALYZE media_uploads")
            # Flush what the load dirtied, so that the measured run does not pay for writing
            # out the bulk load (a checkpoint inside an 8 s run shows as a p99 of ~0.7 s).
            await conn.execute("CHECKPOINT")
        finally:
            await conn.close()

    asyncio.run(copy())
    return ids


# -- servers -----------------------------------------------------------------------------------


@dataclass
class Server:
    """A running server: its port and process id."""

    port: int
    pid: int


@contextlib.contextmanager
def server(app: str, url: str, workdir: Path) -> Iterator[Server]:
    """Start the service or the floor on a free port, pinned to core 0."""
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "MEDIA_PORT": str(port),
        "MEDIA_PROVIDER": "fake",
        "MEDIA_DATA_DIR": str(workdir / f"data-{port}"),
        "AUTH_JWT_SECRET": JWT_SECRET,
        "MEDIA_WEBHOOK_SECRETS": WEBHOOK_SECRET,
        "RATE_LIMIT_CREATE_PER_MINUTE": "1000000000",
        "RATE_LIMIT_CREATE_BURST": "1000000000",
        "RATE_LIMIT_WEBHOOK_PER_MINUTE": "1000000000",
        "LOG_LEVEL": "WARNING",
        "FLOOR_WEBHOOK_SECRET": WEBHOOK_SECRET,
        "FLOOR_JWT_SECRET": JWT_SECRET,
    }
    if app == "service":
        command = [sys.executable, "-m", "entrypoints.cli", "serve"]
    elif app == "express":
        command = ["node", str(EXPRESS / "server.js"), "--db", url, "--port", str(port)]
    else:
        command = [
            sys.executable,
            str(ROOT / "benchmarks" / "floor.py"),
            "--db",
            url,
            "--port",
            str(port),
        ]
    process = subprocess.Popen(
        SERVER_CPU + command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        wait_port(port, process)
        yield Server(port=port, pid=process.pid)
    finally:
        stop(process, signal.SIGINT, timeout=15)


def stop(process: subprocess.Popen[bytes], signal_number: int, *, timeout: float) -> None:
    """Send ``signal_number`` to ``process``, then kill it if it has not ended in ``timeout``."""
    process.send_signal(signal_number)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def wrk(port: int, script: str, connections: int, seconds: int, *args: str) -> dict[str, Any]:
    command = [
        *LOAD_CPU,
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA / script),
        f"http://127.0.0.1:{port}",
        "--",
        *args,
    ]
    out = subprocess.run(
        command,
        env={**os.environ, "BENCH_LUA_DIR": str(LUA)},
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    match = re.search(r"BENCH_RESULT (\{.*\})", out)
    if not match:
        raise RuntimeError(f"wrk printed no result:\n{out}")
    return dict(json.loads(match.group(1)))


def signed_deliveries(ids: list[str], path: Path) -> None:
    """Two deliveries per upload (processing 50 %, then ready), signed now."""
    now = int(time.time())
    with path.open("w") as handle:
        for stage in ("processing", "ready"):
            for upload_id in ids:
                body: dict[str, Any] = {
                    "eventId": f"{upload_id}:{stage}",
                    "uploadId": upload_id,
                    "status": stage,
                }
                if stage == "processing":
                    body["progress"] = 50
                else:
                    body |= {
                        "playbackId": f"pb{upload_id}",
                        "duration": 12.5,
                        "thumbnailUrl": "https://t/x.jpg",
                    }
                raw = json.dumps(body, separators=(",", ":"))
                signature = hmac.new(
                    WEBHOOK_SECRET.encode(), f"{now}.{raw}".encode(), hashlib.sha256
                ).hexdigest()
                handle.write(f"t={now},v1={signature}\t{raw}\n")


def drive(
    route: str,
    port: int,
    url: str,
    ids_file: Path,
    connections: int,
    seconds: int,
    *,
    prefix: str,
    bearer: str,
) -> dict[str, Any]:
    """One wrk run of ``route``: webhooks over fresh uploads seeded under ``prefix`` (two signed
    deliveries each), status reads of the ids in ``ids_file``, or creates."""
    if route == "webhook":
        count = 30_000 if url.startswith("sqlite") else 60_000
        deliveries = ids_file.parent / f"deliveries-{prefix}.txt"
        signed_deliveries(seed(url, count, prefix=prefix), deliveries)
        return wrk(port, "webhook.lua", connections, seconds, str(deliveries))
    if route == "status":
        return wrk(port, "status.lua", connections, seconds, str(ids_file), bearer)
    return wrk(port, "create.lua", connections, seconds, bearer)


def rotated(items: list[str], turn: int) -> list[str]:
    """``items`` starting at position ``turn`` (modulo their number), wrapping around: who goes
    first changes every turn, because the server driven right after another is slower."""
    shift = turn % len(items)
    return items[shift:] + items[:shift]


def measure(
    apps: list[str],
    db: str,
    urls: dict[str, str],
    workdir: Path,
    seconds: int,
    connections: list[int],
    routes: list[str],
) -> list[Result]:
    """Every route at every concurrency, the apps one right after the other each time.

    Both servers run for the whole measurement (an idle one costs nothing), so the machine's
    drift from minute to minute touches both sides of each ratio alike. The order of the apps
    rotates from one row to the next: the server driven right after another one is measurably
    slower on a shared VM (``ab.py``), and a fixed order would always charge that to the same one.
    """
    results: list[Result] = []
    bearer = token()
    ids_files: dict[str, Path] = {}
    for app in apps:
        status_ids = seed(urls[app], 5000, prefix=f"st{app[:2]}")
        ids_files[app] = workdir / f"ids-{app}.txt"
        ids_files[app].write_text("\n".join(status_ids) + "\n")
    with contextlib.ExitStack() as stack:
        ports = {app: stack.enter_context(server(app, urls[app], workdir)).port for app in apps}
        for app in apps:
            wrk(ports[app], "status.lua", 8, 2, str(ids_files[app]), bearer)  # warm up
        for row, (route, conns) in enumerate(itertools.product(routes, connections)):
            for app in rotated(apps, row):
                raw = drive(
                    route,
                    ports[app],
                    urls[app],
                    ids_files[app],
                    conns,
                    seconds,
                    prefix=f"wh{app[:2]}{conns}x",
                    bearer=bearer,
                )
                results.append(
                    Result(
                        app,
                        db,
                        route,
                        conns,
                        raw["rps"],
                        raw["p50_ms"],
                        raw["p99_ms"],
                        raw["non_2xx"],
                        raw["socket_errors"],
                    )
                )
                print(f"  {app:8} {db:10} {route:8} c={conns:<3} {_line(raw)}", flush=True)
    return results


def scale(postgres: str, workdir: Path, seconds: int) -> list[Result]:
    """Status and webhook latency with 10 thousand and with 1 million uploads stored."""
    results: list[Result] = []
    with database("postgresql", postgres, workdir) as url:
        bearer = token()
        stored = 0
        for target in (10_000, 1_000_000):
            ids = seed(url, target - stored, prefix=f"sc{target}x")
            stored = target
            ids_file = workdir / "scale-ids.txt"
            ids_file.write_text("\n".join(ids[:: max(1, len(ids) // 5000)]) + "\n")
            deliveries = workdir / "scale-deliveries.txt"
            signed_deliveries(ids[-60_000:], deliveries)
            with server("service", url, workdir) as running:
                port = running.port
                wrk(port, "status.lua", 8, 2, str(ids_file), bearer)
                for route, script, args in (
                    ("status", "status.lua", (str(ids_file), bearer)),
                    ("webhook", "webhook.lua", (str(deliveries),)),
                ):
                    raw = wrk(port, script, 64, seconds, *args)
                    results.append(
                        Result(
                            "service",
                            "postgresql",
                            route,
                            64,
                            raw["rps"],
                            raw["p50_ms"],
                            raw["p99_ms"],
                            raw["non_2xx"],
                            raw["socket_errors"],
                            rows=stored,
                        )
                    )
                    print(f"  scale {stored:>9} rows {route:8} {_line(raw)}", flush=True)
    return results


def upload_memory(workdir: Path, size: int) -> dict[str, float]:
    """Peak RSS growth of the service while 1 GiB streams into the fake provider."""
    url = f"sqlite:///{workdir / 'mem.db'}"
    migrate(url)
    bearer = token()
    with server("service", url, workdir) as running:
        pid = running.pid
        base = f"http://127.0.0.1:{running.port}"
        body = {
            "fileName": "big.mp4",
            "fileSize": size,
            "mimeType": "video/mp4",
            "metadata": {"title": "big"},
        }
        created = httpx.post(
            f"{base}/api/v1/media/upload/direct",
            json=body,
            headers={"Authorization": f"Bearer {bearer}"},
        ).json()

        def chunks() -> Iterator[bytes]:
            block = b"\x00\x00\x00\x18ftypisom" + b"\x00" * (1024 * 1024 - 12)
            sent = 0
            while sent < size:
                piece = block[: min(len(block), size - sent)]
                sent += len(piece)
                yield piece

        before = _rss(pid)
        started = time.perf_counter()
        httpx.put(created["uploadUrl"], content=chunks(), timeout=300)
        elapsed = time.perf_counter() - started
        peak = _hwm(pid)
    return {
        "rss_before_mib": before,
        "peak_mib": peak,
        "growth_mib": peak - before,
        "seconds": elapsed,
        "mib_per_s": size / 1048576 / elapsed,
    }


async def _hold_streams(port: int, count: int, pid: int) -> dict[str, float]:
    """Open ``count`` live-status streams at once and read the server's RSS while they stay."""
    bearer = token()
    limits = httpx.Limits(max_connections=count + 10, max_keepalive_connections=0)
    before = _rss(pid)
    opened = 0
    async with (
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", limits=limits, timeout=30) as client,
        contextlib.AsyncExitStack() as stack,
    ):
        for _ in range(count):
            response = await stack.enter_async_context(
                client.stream(
                    "GET", "/api/v1/media/events", headers={"Authorization": f"Bearer {bearer}"}
                )
            )
            if response.status_code == 200:
                opened += 1
        await asyncio.sleep(1.0)
        during = _rss(pid)
    return {
        "streams": float(opened),
        "streams_rss_before_mib": before,
        "rss_with_streams_mib": during,
    }


def stream_memory(workdir: Path, count: int) -> dict[str, float]:
    """RSS of one service process holding ``count`` live-status subscriptions."""
    url = f"sqlite:///{workdir / 'streams.db'}"
    migrate(url)
    with server("service", url, workdir) as running:
        return asyncio.run(_hold_streams(running.port, count, running.pid))


def _rss(pid: int) -> float:
    return _status_field(pid, "VmRSS")


def _hwm(pid: int) -> float:
    return _status_field(pid, "VmHWM")


def _status_field(pid: int, name: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


# -- report ------------------------------------------------------------------------------------


def _line(raw: dict[str, Any]) -> str:
    return (
        f"{raw['rps']:9.1f} req/s  p50 {raw['p50_ms']:.2f} ms  p99 {raw['p99_ms']:.2f} ms"
        f"  non-2xx {raw['non_2xx']}"
    )


def versions() -> str:
    names = ["aiohttp", "sqlalchemy", "asyncpg", "aiosqlite", "attrs", "cattrs"]
    found = []
    for name in names:
        with contextlib.suppress(importlib_metadata.PackageNotFoundError):
            found.append(f"{name} {importlib_metadata.version(name)}")
    pg = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    wrk_out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    wrk_version = wrk_out.stdout.splitlines()[0].split(" Copyright")[0] if wrk_out.stdout else "wrk"
    python = f"Python {platform.python_version()}"
    return f"{python}; {', '.join(found)}; {pg}; {wrk_version}"


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _header(seconds: int) -> list[str]:
    memory_gib = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    return [
        "# Benchmarks",
        "",
        f"Run {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by `nox -s bench` on {CORES} cores "
        f"({cpu_model()}), {memory_gib} GiB. Server pinned to core 0, wrk (1 thread) to core 1; "
        f"{seconds} s per run; everything on 127.0.0.1. PostgreSQL is not pinned (it shares both "
        "cores, as it would beside a real server; pinning it next to wrk made the floor wait "
        "for that core). Each figure is one run, and for each row the floor and the service run "
        "one right after the other, the order swapped from one row to the next (the one driven "
        "second is measurably slower here): on this virtual machine the same run moves by "
        "±20 % from minute to minute, which the ratio mostly cancels.",
        "",
        f"Versions: {versions()}.",
        "",
        "**Floor** = `benchmarks/floor.py`: a bare aiohttp app doing the same unavoidable work "
        "(HMAC or JWT check, JSON, the same SQL statements in one transaction, the same "
        "response body, the same timeouts on every database call) with no layers, using the "
        "same tricks as the service where they apply (verified JWTs remembered, PostgreSQL "
        "connections pooled as a free list without asyncpg's per-release reset and task, "
        "every wait for one bounded by a single timer).",
        "",
        "| route | database | conns | service req/s | floor req/s | service/floor "
        "| service p50 ms | service p99 ms | floor p99 ms | non-2xx |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]


def _comparison_row(service: Result, floor: Result | None) -> str:
    ratio = f"{service.rps / floor.rps:.2f}" if floor and floor.rps else "n/a"
    floor_rps = f"{floor.rps:,.0f}" if floor else "n/a"
    floor_p99 = f"{floor.p99_ms:.2f}" if floor else "n/a"
    return (
        f"| {service.route} | {service.db} | {service.connections} | {service.rps:,.0f} "
        f"| {floor_rps} | {ratio} | {service.p50_ms:.2f} | {service.p99_ms:.2f} | {floor_p99} "
        f"| {service.non_2xx} |"
    )


def _scale_lines(scale_results: list[Result]) -> list[str]:
    lines = [
        "",
        "## Scale (PostgreSQL, service, 64 connections)",
        "",
        "| route | uploads stored | req/s | p50 ms | p99 ms |",
        "|---|---:|---:|---:|---:|",
    ]
    by_route: dict[str, list[Result]] = {}
    for r in scale_results:
        lines.append(f"| {r.route} | {r.rows:,} | {r.rps:,.0f} | {r.p50_ms:.2f} | {r.p99_ms:.2f} |")
        by_route.setdefault(r.route, []).append(r)
    lines.append("")
    for route, pair in by_route.items():
        if len(pair) == 2 and pair[0].p99_ms:
            ratio = pair[1].p99_ms / pair[0].p99_ms
            lines.append(f"- p99 of {route} at 1M rows / at 10k rows: {ratio:.2f}")
    return lines


def express_comparison(postgres: str, workdir: Path, seconds: int) -> list[Result]:
    """Webhooks and status reads, service and the Express + pg + Mux SDK receiver, on PostgreSQL."""
    if not (EXPRESS / "node_modules").is_dir():
        subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund", "--prefix", str(EXPRESS)],
            check=True,
            capture_output=True,
        )
    apps = ["express", "service"]
    with contextlib.ExitStack() as stack:
        urls = {app: stack.enter_context(database("postgresql", postgres, workdir)) for app in apps}
        return measure(apps, "postgresql", urls, workdir, seconds, [64], ["webhook", "status"])


def _express_lines(results: list[Result]) -> list[str]:
    express = {r.route: r for r in results if r.app == "express"}
    lines = [
        "",
        "## Against an Express receiver (PostgreSQL, 64 connections)",
        "",
        "`benchmarks/express/server.js`: Express 5 + node-postgres, signatures checked by Mux's "
        "own SDK (`mux.webhooks.unwrap`), the same SQL, timeouts and remembered JWTs; pinned to "
        "core 0 like the others, run right before the service.",
        "",
        "| route | service req/s | Express req/s | service/Express | service p99 ms "
        "| Express p99 ms |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        other = express.get(r.route)
        if r.app != "service" or other is None:
            continue
        lines.append(
            f"| {r.route} | {r.rps:,.0f} | {other.rps:,.0f} | {r.rps / other.rps:.2f} "
            f"| {r.p99_ms:.2f} | {other.p99_ms:.2f} |"
        )
    return lines


def report(
    results: list[Result],
    scale_results: list[Result],
    memory: dict[str, float] | None,
    seconds: int,
    express_results: list[Result] | None = None,
) -> str:
    """The markdown of docs/benchmarks.md."""
    lines = _header(seconds)
    floor = {(r.db, r.route, r.connections): r for r in results if r.app == "floor"}
    for r in results:
        if r.app == "service":
            lines.append(_comparison_row(r, floor.get((r.db, r.route, r.connections))))
    if scale_results:
        lines += _scale_lines(scale_results)
    if express_results:
        lines += _express_lines(express_results)
    if memory:
        lines += [
            "",
            "## Memory",
            "",
            f"Streaming 1 GiB into the fake provider: RSS {memory['rss_before_mib']:.1f} MiB "
            f"before, peak {memory['peak_mib']:.1f} MiB (growth {memory['growth_mib']:.1f} MiB), "
            f"{memory['mib_per_s']:.0f} MiB/s.",
            "",
            f"Holding {memory['streams']:.0f} live-status subscriptions (SSE) at once: RSS "
            f"{memory['streams_rss_before_mib']:.1f} MiB → "
            f"{memory['rss_with_streams_mib']:.1f} MiB.",
        ]
    return "\n".join(lines) + "\n"


HISTORY_HEADING = "## History"
"""The section of docs/benchmarks.md that a run keeps: what earlier sessions measured."""


def with_history(text: str, path: Path) -> str:
    """``text``, followed by the history section of the report already at ``path``."""
    old = path.read_text() if path.exists() else ""
    at = old.find(f"\n{HISTORY_HEADING}\n")
    return text if at < 0 else text + old[at:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument(
        "--quick", action="store_true", help="one concurrency, SQLite and PG, no scale"
    )
    parser.add_argument("--skip-scale", action="store_true")
    parser.add_argument(
        "--skip-express", action="store_true", help="no Express receiver (needs node and npm)"
    )
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    parser.add_argument("--dbs", default="sqlite,postgresql")
    parser.add_argument("--routes", default="webhook,status,create")
    parser.add_argument("--apps", default="floor,service")
    parser.add_argument("--output", default=str(ROOT / "docs" / "benchmarks.md"))
    args = parser.parse_args()
    if not shutil.which("wrk"):
        raise SystemExit("wrk is not installed (Debian: apt-get install wrk)")
    connections = [64] if args.quick else [16, 64]
    results: list[Result] = []
    scale_results: list[Result] = []
    express_results: list[Result] = []
    memory = None
    with tempfile.TemporaryDirectory(prefix="media-bench-") as tmp:
        workdir = Path(tmp)
        apps = args.apps.split(",")
        for db in args.dbs.split(","):
            with contextlib.ExitStack() as stack:
                urls = {
                    app: stack.enter_context(database(db, args.postgres, workdir)) for app in apps
                }
                results += measure(
                    apps, db, urls, workdir, args.seconds, connections, args.routes.split(",")
                )
        if not (args.quick or args.skip_scale):
            scale_results = scale(args.postgres, workdir, args.seconds)
        if not (args.quick or args.skip_express):
            express_results = express_comparison(args.postgres, workdir, args.seconds)
        if not args.skip_memory:
            memory = upload_memory(workdir, 1024**3)
            memory |= stream_memory(workdir, 1000)
            print(f"  memory: {memory}")
    text = report(results, scale_results, memory, args.seconds, express_results)
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    old = output.read_text() if output.exists() else ""
    output.write_text(with_history(text + other_sections(old), output))
    print(text)


OTHER_SECTIONS = ("## Processing (local provider)", "## Local provider through the service")
"""Sections of docs/benchmarks.md that other scripts write (benchmarks/processing.py and
benchmarks/local_service.py)."""


def other_sections(old: str) -> str:
    """The sections of ``old`` that this script does not write, to keep them."""
    kept = ""
    for heading in OTHER_SECTIONS:
        start = old.find(heading)
        if start >= 0:
            end = old.find("\n## ", start + len(heading))
            kept += "\n" + (old[start:] if end < 0 else old[start : end + 1])
    return kept


if __name__ == "__main__":
    main()
