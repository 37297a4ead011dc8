"""Start Prism (``@stoplight/prism-cli``) on a provider's OpenAPI spec, on 127.0.0.1."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def specs_dir() -> Path:
    """Where the providers' trimmed OpenAPI specs are: ``$MEDIA_TEST_SPECS_DIR``, else the copy in
    ``tests/fixtures/specs`` (provenance in its README), so a clone anywhere has them."""
    return Path(os.environ.get("MEDIA_TEST_SPECS_DIR", REPO / "tests" / "fixtures" / "specs"))


def prism_binary() -> str | None:
    """The prism executable: ``$MEDIA_TEST_PRISM``, the repo's node_modules, or the PATH."""
    explicit = os.environ.get("MEDIA_TEST_PRISM")
    if explicit:
        return explicit
    local = REPO / "node_modules" / ".bin" / "prism"
    if local.exists():
        return str(local)
    return shutil.which("prism")


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def run_prism(spec: Path, *, timeout: float = 60.0) -> Iterator[str]:
    """Run ``prism mock`` on ``spec``; yield its base URL; stop it afterwards."""
    binary = prism_binary()
    if binary is None:
        raise RuntimeError("prism is not installed (npm ci installs it into node_modules)")
    port = free_port()
    process = subprocess.Popen(
        [binary, "mock", "-h", "127.0.0.1", "-p", str(port), str(spec)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"prism exited with {process.returncode} on {spec}")
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"prism did not listen on {port} within {timeout}s")
            time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
