"""The one task runner: ``nox -s tests``, ``nox -s lint``, ``nox -s serve``, ``nox -s bench``.

Sessions build their virtualenv with the interpreter nox runs under (one Python per machine).
"""

from __future__ import annotations

import os
import shutil

import nox

nox.options.sessions = ["lint", "tests"]
nox.options.reuse_existing_virtualenvs = True
nox.options.default_venv_backend = "venv"


@nox.session
def tests(session: nox.Session) -> None:
    """Install the package with its test extras and run the whole suite with branch coverage."""
    session.install("-e", ".[test]")
    if not os.path.exists("node_modules/.bin/prism") and shutil.which("npm"):
        # Prism mocks the providers' OpenAPI specs for the contract tests.
        session.run("npm", "ci", "--no-audit", "--no-fund", external=True)
    session.run(
        "pytest",
        "--cov",
        "--cov-report=term-missing:skip-covered",
        *session.posargs,
    )


@nox.session
def lint(session: nox.Session) -> None:
    """ruff (lint and format check), mypy strict on src/, and the import-linter contracts."""
    session.install("-e", ".[test,lint]")
    session.run("ruff", "check", "src", "tests", "noxfile.py")
    session.run("ruff", "format", "--check", "src", "tests", "noxfile.py")
    session.run("mypy")
    session.run("lint-imports")


@nox.session
def serve(session: nox.Session) -> None:
    """Run the service on the embedded default (SQLite file and the fake provider)."""
    session.install("-e", ".")
    session.run("media-core", "serve", *session.posargs)


@nox.session
def bench(session: nox.Session) -> None:
    """Service against the bare floor on SQLite and PostgreSQL; writes docs/benchmarks.md.

    Needs wrk (Debian: ``apt-get install wrk``) and a PostgreSQL server where it may create
    databases (``BENCH_POSTGRES_URL``). Pass options after ``--``, e.g. ``-- --quick``.
    """
    session.install("-e", ".", "httpx")
    session.run("python", "benchmarks/run.py", *session.posargs)
