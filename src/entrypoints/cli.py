"""The ``media-core`` command: serve, worker, migrate, reconcile, token, stats."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import signal
import sys
from collections.abc import Sequence

import attrs

from entrypoints.container import (
    build_container,
    jwt_secret_for,
    prepare_schema,
    resolve,
    running,
    secrets_to_redact,
)
from entrypoints.http import server
from entrypoints.http.app import create_app
from entrypoints.http.auth import issue_token
from entrypoints.observability import StatsReport, configure_logging, format_stats, gather_stats
from entrypoints.settings import Settings, SettingsError, load_settings
from entrypoints.workers import WorkerProcesses
from media_core.reconcile import Reconciler, ReconcileReport

DEV_USER = "dev-user"


def _settings() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        print(f"media-core: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def _dev_token(settings: Settings, user: str) -> str | None:
    """A token for ``user`` when this process knows the HS256 secret."""
    secret = jwt_secret_for(settings)
    return issue_token(secret, user) if secret else None


async def _prepare_schema(settings: Settings, *, migrate: bool) -> None:
    """Migrate the embedded SQLite (or everything with ``migrate``); refuse a stale PostgreSQL."""
    if not await prepare_schema(settings, migrate=migrate):
        print(
            "media-core: the database schema is out of date; run `media-core migrate` first",
            file=sys.stderr,
        )
        raise SystemExit(3)


def serve(args: argparse.Namespace) -> None:
    """Run the HTTP service until interrupted."""
    settings = _settings()
    if args.host:
        settings = _evolve(settings, host=args.host)
    if args.port is not None:
        settings = _evolve(settings, port=args.port)
    configure_logging(settings.log_level, settings.log_format, secrets=secrets_to_redact(settings))
    asyncio.run(_prepare_schema(settings, migrate=False))
    app = create_app(build_container(settings))
    providers = ", ".join(settings.providers)
    print(f"media-core: providers {providers} (first is default), serving on {settings.base_url}")
    workers = None
    if "local" in settings.providers and settings.local.embedded_worker:
        workers = WorkerProcesses(settings, settings.local.workers)
        workers.start()
        print(f"media-core: {settings.local.workers} embedded worker process(es)")
    if settings.embedded and not (settings.jwt_secret or settings.jwt_public_key):
        token = _dev_token(settings, DEV_USER)
        print(f"media-core: open {settings.base_url}/#token={token} to upload in a browser")
        print(f"media-core: development token for user {DEV_USER!r} (valid 30 days):")
        print(token)
    try:
        server.run(app, host=settings.host, port=settings.port)
    finally:
        if workers is not None:
            workers.stop()


def worker(_: argparse.Namespace) -> None:
    """Run LOCAL_WORKERS worker processes of the local provider until interrupted."""
    settings = _settings()
    if "local" not in settings.providers:
        print(
            "media-core: workers process the local provider's jobs (MEDIA_PROVIDER=local)",
            file=sys.stderr,
        )
        raise SystemExit(2)
    configure_logging(settings.log_level, settings.log_format, secrets=secrets_to_redact(settings))
    asyncio.run(_prepare_schema(settings, migrate=False))
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
    """Bring the database schema up to date."""
    settings = _settings()
    asyncio.run(_prepare_schema(settings, migrate=True))
    print("media-core: the schema is up to date")


def reconcile(_: argparse.Namespace) -> None:
    """Run one reconciler pass and print what it did."""
    settings = _settings()
    logging.basicConfig(
        level=settings.log_level, format="%(asctime)s %(levelname)s %(name)s %(message)s"
    )
    asyncio.run(_prepare_schema(settings, migrate=False))
    report = asyncio.run(_reconcile_once(settings))
    print(f"media-core: reconcile: {report.summary()}")


async def _reconcile_once(settings: Settings) -> ReconcileReport:
    async with running(build_container(settings)) as container:
        reconciler: Reconciler = await resolve(container.reconciler)
        return await reconciler.run_once()


def stats(args: argparse.Namespace) -> None:
    """Print storage by provider and status, the success rate and recent processing times."""
    settings = _settings()
    asyncio.run(_prepare_schema(settings, migrate=False))
    report = asyncio.run(_gather(settings, args.recent))
    print(json.dumps(report.as_json(), indent=2) if args.json else format_stats(report))


async def _gather(settings: Settings, recent: int) -> StatsReport:
    async with running(build_container(settings)) as container:
        return await gather_stats(await resolve(container.repository), recent=recent)


def token(args: argparse.Namespace) -> None:
    """Print a bearer token for a user (HS256 settings or the embedded default only)."""
    settings = _settings()
    value = _dev_token(settings, args.user)
    if value is None:
        print("media-core: tokens can only be issued with an HS256 secret", file=sys.stderr)
        raise SystemExit(2)
    print(value)


def _evolve(settings: Settings, **changes: object) -> Settings:
    return attrs.evolve(settings, **changes)  # type: ignore[arg-type]


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``media-core`` console script."""
    parser = argparse.ArgumentParser(prog="media-core", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    serve_parser = commands.add_parser("serve", help="run the HTTP service")
    serve_parser.add_argument("--host", help="overrides MEDIA_HOST")
    serve_parser.add_argument("--port", type=int, help="overrides MEDIA_PORT")
    serve_parser.set_defaults(run=serve)
    commands.add_parser(
        "worker", help="process the local provider's jobs (LOCAL_WORKERS processes)"
    ).set_defaults(run=worker)
    commands.add_parser("migrate", help="upgrade the database schema").set_defaults(run=migrate)
    commands.add_parser(
        "reconcile", help="one reconciler pass: finish stale uploads, prune old records"
    ).set_defaults(run=reconcile)
    token_parser = commands.add_parser("token", help="print a bearer token for a user")
    token_parser.add_argument("--user", default=DEV_USER)
    token_parser.set_defaults(run=token)
    stats_parser = commands.add_parser(
        "stats", help="storage by provider and status, success rate, processing times"
    )
    stats_parser.add_argument("--json", action="store_true", help="print JSON")
    stats_parser.add_argument(
        "--recent", type=int, default=1000, help="READY uploads to time (default 1000)"
    )
    stats_parser.set_defaults(run=stats)
    args = parser.parse_args(argv)
    args.run(args)


if __name__ == "__main__":  # pragma: no cover
    main()
