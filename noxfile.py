"""The one task runner: ``nox -s tests``, ``nox -s lint``, ``nox -s fuzz``, ``nox -s serve``,
``nox -s bench``.

Sessions build their virtualenv with the interpreter nox runs under (one Python per machine).
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"

WEB_LIBRARIES = ("tus-js-client", "@mux/upchunk", "hls.js")
"""npm packages the web page loads from node_modules (package.json "dependencies")."""


@nox.session
def tests(session: nox.Session) -> None:
    """Install the package with its test extras and run the whole suite with branch coverage."""
    session.install("-e", ".[test]")
    installed = os.path.exists("node_modules/.bin/prism") and all(
        os.path.isdir(f"node_modules/{name}") for name in WEB_LIBRARIES
    )
    if not installed and shutil.which("npm"):
        # Prism mocks the providers' OpenAPI specs for the contract tests; the browser tests
        # load the web page's client libraries.
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run(
        "pytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        *session.posargs,
    )


@nox.session
def fuzz(session: nox.Session) -> None:
    """Schemathesis against the OpenAPI document: 1,000 generated requests per operation
    (valid and invalid), on PostgreSQL; no 5xx and every answer as documented.

    Needs a PostgreSQL server where it may create a database (``MEDIA_TEST_POSTGRES_URL``,
    the local one by default). ``-- -x`` and other pytest options pass through.
    """
    session.install("-e", ".[test]")
    session.env.setdefault("MEDIA_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
    session.env.update(
        {"MEDIA_FUZZ_EXAMPLES": "1000", "MEDIA_FUZZ_BACKENDS": "postgres", "MEDIA_TEST_STRICT": "1"}
    )
    session.run(
        "pytest",
        "-q",
        "-s",
        "-p",
        "no:cacheprovider",
        "tests/integration/test_fuzz_openapi.py",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check), mypy strict on src/ and examples/, import-linter."""
    session.install("-e", ".[test,lint]")
    session.run("ruff", "check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "examples", "benchmarks", "noxfile.py")
    session.run("mypy")
    session.run("mypy", "examples")  # the example host app, under the same strict settings
    session.run("lint-imports")


@nox.session
def serve(session: nox.Session) -> None:
    """Run the service on the embedded default (SQLite file and the local provider)."""
    session.install("-e", ".")
    if not all(os.path.isdir(f"node_modules/{name}") for name in WEB_LIBRARIES):
        if shutil.which("npm"):
            # The web page's client libraries, from the lock file; without them the page still
            # works, with a notice and fewer upload modes.
            session.run("npm", "ci", "--omit=dev", "--no-audit", "--no-fund", external=True)
        else:
            session.warn("npm not found: the web page runs without its client libraries")
    session.run("media-core", "serve", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Service against the bare floor on SQLite and PostgreSQL, and the local provider's
    processing against the ffmpeg CLI; writes docs/benchmarks.md.

    Needs wrk (Debian: ``apt-get install wrk``), a PostgreSQL server where it may create
    databases (``BENCH_POSTGRES_URL``) and Node.js for the Express receiver it compares with
    (``-- --skip-express`` without). Pass options after ``--``, e.g. ``-- --quick``.
    """
    session.install("-e", ".", "httpx")
    session.run("python", "benchmarks/run.py", *session.posargs)
    if shutil.which("ffmpeg"):
        # the local provider's engine against the ffmpeg CLI (Debian: apt-get install ffmpeg)
        rounds = "1" if "--quick" in session.posargs else "2"
        session.run("python", "benchmarks/processing.py", "--rounds", rounds)
        # the same engine end to end through `media-core serve`: upload to READY, service RSS
        session.run("python", "benchmarks/local_service.py")
    else:
        session.warn("ffmpeg not found: the processing benchmark is skipped")
