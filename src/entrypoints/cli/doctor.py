"""``media-core doctor``: check a deployment, one line per check, with a fix for each failure.

Settings valid; the database reachable and its schema current; Redis when configured; the real
provider's credentials by one cheap read call; a webhook secret for each webhook route; the
public URL answering ``/healthz``. Exits 1 when any check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import httpx
from attrs import frozen

from entrypoints.cli._common import Commands, Exit, redact_url, running
from entrypoints.container import Container, resolve
from entrypoints.settings import Settings, SettingsError, load_settings
from entrypoints.wiring.providers import check_provider_credentials
from entrypoints.wiring.secrets import development_secrets_path, webhook_signing_secret
from entrypoints.wiring.storage import database_schema, ping_redis
from media_core.errors import MediaCoreError, RepositoryUnavailable


@frozen
class Check:
    """One line of the report: what was checked, how it went, and what to do about it."""

    name: str
    ok: bool
    detail: str
    fix: str = ""

    def line(self) -> str:
        """``✓ name: detail`` or ``✗ name: detail → fix``."""
        mark = "✓" if self.ok else "✗"
        text = f"{mark} {self.name}: {self.detail}"
        return text if self.ok or not self.fix else f"{text}\n    fix: {self.fix}"


def register(commands: Commands) -> None:
    """Add ``doctor`` to the command line."""
    parser = commands.add_parser(
        "doctor",
        help="check settings, database, Redis, provider credentials, secrets and the public URL",
        description="Check this deployment with the settings of this environment: one line "
        "per check, with a fix for each that failed; exit 1 when any failed.",
    )
    parser.add_argument(
        "--url",
        help="check this base URL's /healthz instead of MEDIA_PUBLIC_URL (or MEDIA_HOST:PORT)",
    )
    parser.set_defaults(run=doctor)


def doctor(args: argparse.Namespace) -> None:
    """Run every check, print one line each, exit 1 if any failed."""
    checks = asyncio.run(run_checks(args.url))
    for check in checks:
        print(check.line())
    failed = [check.name for check in checks if not check.ok]
    if failed:
        print(f"\n{len(failed)} of {len(checks)} checks failed: {', '.join(failed)}")
        sys.stdout.flush()
        raise SystemExit(int(Exit.FAILED))
    print(f"\nall {len(checks)} checks passed")


async def run_checks(url: str | None) -> list[Check]:
    """Every check in order; the ones that need valid settings are skipped without them."""
    try:
        settings = load_settings()
    except SettingsError as exc:
        problems = "; ".join(exc.problems)
        return [
            Check("settings", False, problems, "set the variables named (README, Configuration)")
        ]
    checks = [Check("settings", True, f"valid (providers {', '.join(settings.providers)})")]
    checks.append(await _database(settings))
    checks.extend(await _services(settings))
    checks.extend(_secrets(settings))
    checks.append(await _public_url(settings, url))
    return checks


async def _database(settings: Settings) -> Check:
    shown = redact_url(settings.database_url or f"sqlite:///{settings.data_dir / 'media.db'}")
    try:
        report = await database_schema(settings)
    except RepositoryUnavailable as exc:
        return Check(
            "database",
            False,
            f"{shown} cannot be reached ({exc})",
            "start the database server, or correct DATABASE_URL",
        )
    except Exception as exc:  # whatever breaks the check is what it reports
        return Check("database", False, f"{shown}: {exc}", "correct DATABASE_URL")
    if report is None:
        return Check("database", True, "memory:// (nothing is kept across restarts)")
    status = report[0]
    if not status.is_current:
        at = ", ".join(status.current) or "an empty database"
        embedded = settings.database_url is None
        return Check(
            "database",
            embedded,
            f"{shown} reachable; schema at {at}, newest {status.head}"
            + (" (serve migrates the embedded file itself)" if embedded else ""),
            "run `media-core migrate`",
        )
    return Check("database", True, f"{shown} reachable, schema current ({status.head})")


async def _services(settings: Settings) -> list[Check]:
    checks: list[Check] = []
    async with running(settings) as container:
        if settings.redis_url:
            shown = redact_url(settings.redis_url)
            try:
                await ping_redis(await resolve(container.redis_client))
            except Exception as exc:  # any failure to answer is what the check reports
                checks.append(
                    Check(
                        "redis",
                        False,
                        f"{shown} does not answer ({exc})",
                        "start Redis, or correct or unset REDIS_URL",
                    )
                )
            else:
                checks.append(Check("redis", True, f"{shown} answers PING"))
        else:
            checks.append(Check("redis", True, "not configured (rate limits kept in memory)"))
        real = [name for name in settings.providers if name in ("mux", "cloudflare")]
        if not real:
            embedded = ", ".join(settings.providers)
            checks.append(Check("provider", True, f"{embedded} (no credentials needed)"))
        for name in real:
            checks.append(await _credentials(container, name))
    return checks


async def _credentials(container: Container, name: str) -> Check:
    try:
        await check_provider_credentials(await resolve(container.video_providers), name)
    except MediaCoreError as exc:
        variables = {
            "mux": "MUX_TOKEN_ID and MUX_TOKEN_SECRET",
            "cloudflare": "CLOUDFLARE_ACCOUNT_ID and CLOUDFLARE_API_TOKEN",
        }[name]
        return Check(
            f"{name} credentials",
            False,
            f"refused or unreachable: {exc}",
            f"check {variables} (and the provider's base URL)",
        )
    return Check(f"{name} credentials", True, "accepted by one read call")


def _secrets(settings: Settings) -> list[Check]:
    routes = [name for name in settings.providers if name in ("mux", "cloudflare")]
    routes.append("normalized")
    checks = []
    variables = {
        "mux": "MUX_WEBHOOK_SECRETS",
        "cloudflare": "CLOUDFLARE_WEBHOOK_SECRETS",
        "normalized": "MEDIA_WEBHOOK_SECRETS",
    }
    for route in routes:
        name = f"{route} webhook secret"
        if webhook_signing_secret(settings, route):
            checks.append(Check(name, True, "present"))
        elif route == "normalized" and settings.hosts_media:
            path = development_secrets_path(settings).resolve()
            checks.append(
                Check(name, True, f"not made yet: the first `media-core serve` writes {path}")
            )
        elif route == "normalized":
            checks.append(
                Check(name, True, "not set: the normalized route is off (local and fake use it)")
            )
        else:
            checks.append(
                Check(name, False, "missing", f"set {variables[route]} to the provider's secret")
            )
    return checks


async def _public_url(settings: Settings, url: str | None) -> Check:
    base = (url or settings.base_url).rstrip("/")
    name = "public URL" if url is None else "URL"
    try:
        async with httpx.AsyncClient(timeout=httpx.Timeout(5.0)) as client:
            response = await client.get(f"{base}/healthz")
    except httpx.HTTPError as exc:
        return Check(
            name,
            False,
            f"{base}/healthz cannot be reached ({exc.__class__.__name__})",
            "start the service (media-core serve), or set MEDIA_PUBLIC_URL to where clients "
            "and providers reach it",
        )
    if response.status_code != 200:
        return Check(
            name,
            False,
            f"{base}/healthz answered {response.status_code}",
            "MEDIA_PUBLIC_URL must point at this service",
        )
    return Check(name, True, f"{base}/healthz answers 200")
