"""Test-wide settings: hypothesis profiles, the rule for optional servers, and finding them.

Tests that need a real server (PostgreSQL, Redis, Prism, Chromium) call :func:`need`: on a
developer's machine without it they skip with the reason; under CI (``MEDIA_TEST_STRICT=1``,
set by ``.ci/run``) they fail instead, so nothing is skipped silently there.

With ``MEDIA_TEST_POSTGRES_URL`` or ``MEDIA_TEST_REDIS_URL`` unset, the run looks for the server
on its default loopback port and uses it when it answers (``MEDIA_TEST_DISCOVER=0`` turns that
off). The end of the run says which servers the suites used and which skipped, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import Counter
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def strict() -> bool:
    """True under CI, where a missing server is a failure rather than a skip."""
    return os.environ.get("MEDIA_TEST_STRICT") == "1"


def need(condition: object, reason: str) -> None:
    """Skip (or, under CI, fail) the calling test unless ``condition`` holds."""
    if condition:
        server = _server_of(reason)
        if server is not None:
            _used[server] += 1
        return
    if strict():
        pytest.fail(f"required under MEDIA_TEST_STRICT=1: {reason}")
    pytest.skip(reason)


POSTGRES_CANDIDATES = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
)
REDIS_DEFAULT = "redis://127.0.0.1:6379/0"
SERVERS = {
    "PostgreSQL": "MEDIA_TEST_POSTGRES_URL",
    "Redis": "MEDIA_TEST_REDIS_URL",
    "Prism": None,
    "browser": None,
}
_found: dict[str, str] = {}
_used: Counter[str] = Counter()


def _postgres_answers(url: str) -> bool:
    import asyncpg  # noqa: PLC0415 - only when looking for a server

    async def attempt() -> None:
        connection = await asyncpg.connect(url, timeout=2)
        await connection.close()

    try:
        asyncio.run(attempt())
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    return True


def _redis_answers(host: str = "127.0.0.1", port: int = 6379) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as connection:
            connection.sendall(b"PING\r\n")
            return connection.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """Use PostgreSQL and Redis on their default loopback ports when no URL is given."""
    del config
    if os.environ.get("MEDIA_TEST_DISCOVER") == "0":
        return
    if not os.environ.get("MEDIA_TEST_POSTGRES_URL"):
        for url in POSTGRES_CANDIDATES:
            if _postgres_answers(url):
                os.environ["MEDIA_TEST_POSTGRES_URL"] = _found["PostgreSQL"] = url
                break
    if not os.environ.get("MEDIA_TEST_REDIS_URL") and _redis_answers():
        os.environ["MEDIA_TEST_REDIS_URL"] = _found["Redis"] = REDIS_DEFAULT


def _server_of(reason: str) -> str | None:
    lowered = reason.lower()
    for name, keys in (
        ("PostgreSQL", ("postgres",)),
        ("Redis", ("redis",)),
        ("Prism", ("prism",)),
        ("browser", ("chromium", "playwright", "npm libraries", "node_modules")),
    ):
        if any(key in lowered for key in keys):
            return name
    return None


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Say which server suites ran and which were skipped, and why."""
    skipped: dict[str, Counter[str]] = {name: Counter() for name in SERVERS}
    for report in terminalreporter.stats.get("skipped", []):
        reason = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else ""
        reason = reason.removeprefix("Skipped: ")
        server = _server_of(reason)
        if server is not None:
            skipped[server][reason] += 1
    terminalreporter.section("servers")
    for name, variable in SERVERS.items():
        url = os.environ.get(variable) if variable else None
        where = ""
        if url:
            source = "found on the default port" if name in _found else f"from {variable}"
            where = f" against {_redacted(url)} ({source})"
        if _used[name]:
            line = f"{name}: ran{where}"
        elif skipped[name]:
            line = f"{name}: skipped"
        else:
            line = f"{name}: no test selected needed it{where}"
        for reason, count in skipped[name].most_common():
            line += f"\n    {count} skipped: {reason}"
        terminalreporter.write_line(line)


def _redacted(url: str) -> str:
    with contextlib.suppress(ValueError):
        password = urlsplit(url).password
        if password:
            return url.replace(f":{password}@", ":***@")
    return url
