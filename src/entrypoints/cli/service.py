"""The service's own commands: serve, worker, migrate, reconcile."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

import attrs

from entrypoints.cli._common import (
    DEV_USER,
    Commands,
    Exit,
    cli_invocation,
    fail,
    load,
    redact_url,
    running,
    version,
)
from entrypoints.container import build_container, resolve
from entrypoints.http import server
from entrypoints.http.app import create_app
from entrypoints.http.auth import issue_token
from entrypoints.observability import configure_logging
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import jwt_secret_for, secrets_to_redact
from entrypoints.wiring.storage import SchemaReport, database_schema, is_embedded_database
from entrypoints.workers import WorkerProcesses
from media_core.errors import RepositoryUnavailable
from media_core.reconcile import Reconciler, ReconcileReport


def register(commands: Commands) -> None:
    """Add serve, migrate and reconcile to the command line."""
    serve_parser = commands.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service until interrupted (Ctrl-C). Settings come from the "
        "environment (README, Configuration); the embedded default needs none.",
    )
    serve_parser.add_argument("--host", help="the address to listen on (overrides MEDIA_HOST)")
    serve_parser.add_argument(
        "--port", type=int, help="the port to listen on (overrides MEDIA_PORT)"
    )
    serve_parser.set_defaults(run=serve)
    commands.add_parser(
        "worker",
        help="process the local provider's jobs (LOCAL_WORKERS processes)",
        description="Run LOCAL_WORKERS worker processes of the local provider until "
        "interrupted: each claims one probe-and-transcode job at a time from the database. "
        "Needed where serve runs with LOCAL_EMBEDDED_WORKER=false, or on other machines that "
        "share the database and the media folder.",
    ).set_defaults(run=worker)
    commands.add_parser(
        "migrate",
        help="upgrade the database schema",
        description="Bring the schema of DATABASE_URL up to the newest revision, and say from "
        "which revision to which (or that it was already current).",
    ).set_defaults(run=migrate)
    commands.add_parser(
        "reconcile",
        help="one reconciler pass: finish stale uploads, prune old records",
        description="Ask the provider about uploads whose webhooks never came, fail those that "
        "expired, prune old delivery records, and print what was done.",
    ).set_defaults(run=reconcile)


async def prepare_schema(settings: Settings) -> None:
    """Migrate the embedded SQLite; refuse a stale or unreachable server database."""
    try:
        report = await database_schema(settings, migrate=is_embedded_database(settings))
    except RepositoryUnavailable as exc:
        fail(f"the database cannot be reached: {exc}", Exit.UNREACHABLE)
    if report is not None and not report[1].is_current:
        fail("the database schema is out of date; run `media-core migrate` first", Exit.SCHEMA)


def banner(settings: Settings) -> list[str]:
    """What ``serve`` prints once it listens: where, with what, and how to go on."""
    database = (
        settings.database_url
        if settings.database_url is not None
        else f"SQLite file {settings.data_dir.resolve() / 'media.db'}"
    )
    cli = cli_invocation()
    lines = [
        f"media-core {version()}: serving on {settings.base_url}",
        f"  providers: {', '.join(settings.providers)} (the first is the default for new uploads)",
        f"  database:  {redact_url(database)}",
        f"  data dir:  {settings.data_dir.resolve()}",
        f"  the CLI:   {cli} --help",
    ]
    if "local" in settings.providers and settings.local.embedded_worker:
        lines.append(f"  workers:   {settings.local.workers} embedded worker process(es)")
    if settings.embedded and not (settings.jwt_secret or settings.jwt_public_key):
        secret = jwt_secret_for(settings)
        assert secret is not None
        token = issue_token(secret, DEV_USER)
        lines += [
            f"  open {settings.base_url}/#token={token} to upload in a browser",
            f"  development token for user {DEV_USER!r} (valid 30 days;"
            f" `{cli} token --user NAME` for others):",
            token,
        ]
    return lines


def serve(args: argparse.Namespace) -> None:
    """Run the HTTP service until interrupted."""
    settings = load()
    if args.host:
        settings = attrs.evolve(settings, host=args.host)
    if args.port is not None:
        settings = attrs.evolve(settings, port=args.port)
    configure_logging(settings.log_level, settings.log_format, secrets=secrets_to_redact(settings))
    asyncio.run(prepare_schema(settings))
    app = create_app(build_container(settings))

    workers = None
    if "local" in settings.providers and settings.local.embedded_worker:
        workers = WorkerProcesses(settings, settings.local.workers)
        workers.start()

    def announce() -> None:
        # Printed once the socket listens, after the start-up log, as one block on standard
        # output: a JSON log on standard error stays JSON lines only.
        sys.stderr.flush()
        print("\n".join(banner(settings)), flush=True)

    try:
        server.run(app, host=settings.host, port=settings.port, on_listening=announce)
    finally:
        if workers is not None:
            workers.stop()


def worker(_: argparse.Namespace) -> None:
    """Run LOCAL_WORKERS worker processes of the local provider until interrupted."""
    settings = load()
    if "local" not in settings.providers:
        fail("workers process the local provider's jobs (MEDIA_PROVIDER=local)", Exit.USAGE)
    configure_logging(settings.log_level, settings.log_format, secrets=secrets_to_redact(settings))
    asyncio.run(prepare_schema(settings))
    workers = WorkerProcesses(settings, settings.local.workers)
    for number in (signal.SIGTERM, signal.SIGINT):
        signal.signal(number, lambda *_: workers.stop_soon())
    workers.start()
    print(f"media-core: {settings.local.workers} worker process(es) for {settings.base_url}")
    try:
        workers.wait()
    finally:
        workers.stop()


def migrate(_: argparse.Namespace) -> None:
    """Bring the database schema up to date, and say from which revision to which."""
    settings = load()
    try:
        report = asyncio.run(database_schema(settings, migrate=True))
    except RepositoryUnavailable as exc:
        fail(f"the database cannot be reached: {exc}", Exit.UNREACHABLE)
    print(describe_migration(report))


def describe_migration(report: SchemaReport | None) -> str:
    """One line: what ``migrate`` did."""
    if report is None:
        return "media-core: memory:// keeps no schema; nothing to migrate"
    before, after = report
    if before.current == after.current:
        return f"media-core: the schema is already current (revision {after.head})"
    start = ", ".join(before.current) or "an empty database"
    return f"media-core: migrated the schema from {start} to {', '.join(after.current)}"


def reconcile(_: argparse.Namespace) -> None:
    """Run one reconciler pass and print what it did."""
    settings = load()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(prepare_schema(settings))
    report = asyncio.run(_reconcile_once(settings))
    print(f"media-core: reconcile: {report.summary()}")


async def _reconcile_once(settings: Settings) -> ReconcileReport:
    async with running(settings) as container:
        reconciler: Reconciler = await resolve(container.reconciler)
        return await reconciler.run_once()
