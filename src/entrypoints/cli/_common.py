"""What every command shares: settings, exit codes, messages and the container's lifetime."""

from __future__ import annotations

import argparse
import contextlib
import enum
import os
import shutil
import sys
from collections.abc import AsyncIterator
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit, urlunsplit

from entrypoints.container import Container, build_container
from entrypoints.container import running as start
from entrypoints.settings import Settings, SettingsError, load_settings

if TYPE_CHECKING:  # generic only for type checkers; argparse keeps the name private
    Commands = argparse._SubParsersAction[argparse.ArgumentParser]
else:
    Commands = argparse._SubParsersAction
"""What ``add_subparsers`` returns: each command module adds its parsers to it."""

DEV_USER = "dev-user"


class Exit(enum.IntEnum):
    """The exit codes of every command; :data:`EXIT_MEANINGS` says what each means."""

    OK = 0
    FAILED = 1
    USAGE = 2
    SCHEMA = 3
    UNREACHABLE = 4
    REJECTED = 5
    UNAUTHORIZED = 6
    TRANSFER = 7
    PROCESSING_FAILED = 8
    TIMEOUT = 9


EXIT_MEANINGS: dict[Exit, str] = {
    Exit.OK: "done",
    Exit.FAILED: "a check failed (doctor), or something unexpected happened",
    Exit.USAGE: "bad arguments or settings",
    Exit.SCHEMA: "the database schema is out of date: run `media-core migrate`",
    Exit.UNREACHABLE: "the service or the database cannot be reached",
    Exit.REJECTED: "the service refused the request (a 4xx answer other than 401)",
    Exit.UNAUTHORIZED: "the token was refused (401)",
    Exit.TRANSFER: "the bytes could not be sent to the upload URL",
    Exit.PROCESSING_FAILED: "the upload ended failed or cancelled",
    Exit.TIMEOUT: "--wait gave up before the upload was ready",
}


def version() -> str:
    """The installed distribution's version."""
    try:
        return metadata.version("media-core")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


def say(message: str) -> None:
    """One line for the operator, on standard error (standard output is for results)."""
    print(f"media-core: {message}", file=sys.stderr, flush=True)


def fail(message: str, code: Exit) -> NoReturn:
    """Say ``message`` and exit with ``code``."""
    say(message)
    raise SystemExit(int(code))


def load() -> Settings:
    """The settings from the environment, or exit 2 listing every problem."""
    try:
        return load_settings()
    except SettingsError as exc:
        fail(str(exc), Exit.USAGE)


def redact_url(url: str) -> str:
    """``url`` with its password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:***@{host}"))


def cli_invocation() -> str:
    """How to run this CLI from the operator's shell: ``media-core`` when that is on its PATH."""
    beside = Path(sys.executable).parent / "media-core"
    found = shutil.which("media-core")
    # nox puts its session's bin directory on the PATH of what it runs, not on the user's.
    in_nox = "NOX_CURRENT_SESSION" in os.environ
    if found and not in_nox and Path(found).resolve() == beside.resolve():
        return "media-core"
    if beside.exists():
        return os.path.relpath(beside) if not os.path.isabs(sys.argv[0]) else str(beside)
    return f"{sys.executable} -m entrypoints.cli"


@contextlib.asynccontextmanager
async def running(settings: Settings) -> AsyncIterator[Container]:
    """A container for ``settings`` with its resources (database, clients) open, then closed."""
    async with start(build_container(settings)) as container:
        yield container


def non_empty(value: str) -> str:
    """An argparse type: refuses an empty or blank value."""
    if not value.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return value
