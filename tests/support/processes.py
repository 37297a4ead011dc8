"""Real ``media-core`` processes for tests, and fresh PostgreSQL databases for them.

:func:`fresh_postgres_database` creates a database with a random name on the test server and
drops it afterwards, so a run of service processes (which read ``DATABASE_URL`` and know no
schema setting) never sees another run's rows. :class:`ServiceProcess` runs ``media-core serve``
as a child process and waits until it answers ``/healthz``.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import asyncpg
import httpx
import sqlalchemy as sa

from tests.support.repositories import postgres_url


@contextlib.asynccontextmanager
async def fresh_postgres_database() -> AsyncIterator[str]:
    """The URL of a new, empty database on the test server; dropped (forcefully) afterwards."""
    base = sa.make_url(postgres_url())
    name = f"media_run_{uuid.uuid4().hex[:12]}"
    admin_url = base.set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(admin_url)
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield base.set(database=name).render_as_string(hide_password=False)
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def run_cli(args: list[str], env: Mapping[str, str], *, timeout: float = 60.0) -> str:
    """Run ``media-core <args>`` to completion; return its standard output (fail on error)."""
    result = subprocess.run(
        [sys.executable, "-m", "entrypoints.cli", *args],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, f"media-core {args} failed:\n{result.stderr}"
    return result.stdout


class ServiceProcess:
    """``media-core serve`` in a child process on ``port``, logging to ``log_path``."""

    def __init__(self, env: Mapping[str, str], port: int, log_path: Path) -> None:
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}"
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "entrypoints.cli", "serve", "--port", str(port)],
            env={**os.environ, **env},
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self, timeout: float = 30.0) -> None:
        """Poll ``/healthz`` until it answers 200; fail with the log if the process dies."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"media-core serve exited:\n{self.log()}")
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base_url}/healthz", timeout=1.0).status_code == 200:
                    return
            time.sleep(0.1)
        raise AssertionError(f"media-core serve did not become ready:\n{self.log()}")

    def log(self) -> str:
        """What the process printed so far."""
        self._log.flush()
        return self.log_path.read_text(errors="replace")

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s) and close its log."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._log.close()
