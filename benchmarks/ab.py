"""Interleaved A/B runs of one route: servers side by side, the order rotated every round.

For comparing two versions of the service (or the service and the floor) more finely than a
full ``nox -s bench``: every server runs for the whole measurement, each round drives each one in
turn, and the order rotates, because the server driven right after another one is measurably
slower on a shared VM. Besides requests per second it reports the server's CPU per request,
split by thread (event loop, SQLite writer) into user and system time, with context switches.

    python benchmarks/ab.py sqlite webhook --rounds 4 floor service service@PYTHONPATH=/tmp/old/src

A server is ``floor``, ``service`` or ``express``, optionally followed by ``@NAME=value,...``:
environment settings for that server only (``PYTHONPATH`` runs another checkout's code).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
from pathlib import Path
from typing import Any

import run

TICKS = os.sysconf("SC_CLK_TCK")


def thread_times(pid: int) -> dict[str, float]:
    """Per thread of ``pid``: user and system seconds, voluntary and forced context switches."""
    times: dict[str, float] = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        with contextlib.suppress(FileNotFoundError):
            fields = Path(f"/proc/{pid}/task/{tid}/stat").read_text().rsplit(")", 1)[1].split()
            times[f"{tid} user"] = int(fields[11]) / TICKS
            times[f"{tid} sys"] = int(fields[12]) / TICKS
            for line in Path(f"/proc/{pid}/task/{tid}/status").read_text().splitlines():
                if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                    name, value = line.split(":")
                    times[f"{tid} {name.split('_')[0]}"] = int(value)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("db", choices=["sqlite", "postgresql"])
    parser.add_argument("route", choices=["webhook", "status", "create"])
    parser.add_argument("servers", nargs="+")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--postgres",
        default=os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"),
    )
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="media-ab-"))
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in args.servers}
    with contextlib.ExitStack() as stack:
        running: dict[str, tuple[run.Server, str, Path]] = {}
        for index, spec in enumerate(args.servers):
            app, _, settings = spec.partition("@")
            env = dict(item.split("=", 1) for item in settings.split(",")) if settings else {}
            # A server's settings cover its database's migration too: another checkout's code
            # (PYTHONPATH) must find the schema at a revision it knows.
            with _environment(env):
                url = stack.enter_context(run.database(args.db, args.postgres, workdir))
                ids = workdir / f"ids-{index}.txt"
                ids.write_text("\n".join(run.seed(url, 5000, prefix=f"st{index}x")) + "\n")
                server = stack.enter_context(run.server(app, url, workdir))
            run.wrk(server.port, "status.lua", 8, 2, str(ids), run.token())  # warm up
            running[spec] = (server, url, ids)
        for round_ in range(args.rounds):
            for spec in run.rotated(args.servers, round_):
                server, url, ids = running[spec]
                before = thread_times(server.pid)
                raw = run.drive(
                    args.route,
                    server.port,
                    url,
                    ids,
                    args.connections,
                    args.seconds,
                    prefix=f"ab{args.servers.index(spec)}r{round_}x",
                    bearer=run.token(),
                )
                after = thread_times(server.pid)
                requests = raw["rps"] * args.seconds
                per = {key: (after[key] - before.get(key, 0)) / requests for key in after}
                cpu = sum(v for k, v in per.items() if k.endswith(("user", "sys"))) * 1e6
                results[spec].append((raw["rps"], cpu))
                threads = ", ".join(
                    f"{key} {value * 1e6:.0f} µs"
                    if key.endswith(("user", "sys"))
                    else f"{key} {value:.2f}"
                    for key, value in per.items()
                    if value
                )
                print(
                    f"round {round_} {spec:40} {raw['rps']:8.0f} req/s {cpu:6.0f} µs/request"
                    f"  p99 {raw['p99_ms']:.1f} ms  [{threads}]",
                    flush=True,
                )
    base = statistics.mean(rps for rps, _ in results[args.servers[0]])
    for spec, rows in results.items():
        rps = statistics.mean(r for r, _ in rows)
        cpu = statistics.mean(c for _, c in rows)
        print(f"mean {spec:40} {rps:8.0f} req/s {cpu:6.0f} µs/request  ratio {rps / base:.3f}")


@contextlib.contextmanager
def _environment(settings: dict[str, str]) -> Any:
    saved = {name: os.environ.get(name) for name in settings}
    os.environ.update(settings)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


if __name__ == "__main__":
    main()
