"""``media-core stats``: what the database holds, how often uploads succeed, how fast."""

from __future__ import annotations

import argparse
import asyncio
import json

from entrypoints.cli._common import Commands, load, running
from entrypoints.cli.service import prepare_schema
from entrypoints.container import resolve
from entrypoints.observability import StatsReport, format_stats, gather_stats
from entrypoints.settings import Settings


def register(commands: Commands) -> None:
    """Add ``stats`` to the command line."""
    parser = commands.add_parser(
        "stats",
        help="storage by provider and status, success rate, processing times",
        description="Print the videos and bytes stored per provider and status, the success "
        "rate (cancellations counted apart from failures) and the percentiles of recent "
        "processing times.",
    )
    parser.add_argument("--json", action="store_true", help="print JSON, for scripts")
    parser.add_argument(
        "--recent", type=int, default=1000, help="how many READY uploads to time (default 1000)"
    )
    parser.set_defaults(run=stats)


def stats(args: argparse.Namespace) -> None:
    """Print storage by provider and status, the success rate and recent processing times."""
    settings = load()
    asyncio.run(prepare_schema(settings))
    report = asyncio.run(_gather(settings, args.recent))
    print(json.dumps(report.as_json(), indent=2) if args.json else format_stats(report))


async def _gather(settings: Settings, recent: int) -> StatsReport:
    async with running(settings) as container:
        return await gather_stats(await resolve(container.repository), recent=recent)
