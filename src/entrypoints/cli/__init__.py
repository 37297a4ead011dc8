"""The ``media-core`` command: the service, its database, and a client to try it with.

One module per command group, each with a ``register(commands)`` that adds its parsers; a
new group is one more module in :data:`GROUPS`. ``main`` is the console script.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from types import ModuleType

from entrypoints.cli import doctor, service, stats, tokens, upload, webhooks
from entrypoints.cli._common import EXIT_MEANINGS, Exit, version

GROUPS: tuple[ModuleType, ...] = (service, upload, webhooks, doctor, tokens, stats)
"""The command modules, in the order ``--help`` lists their commands."""

DESCRIPTION = """\
Direct video uploads to Mux or Cloudflare Stream (or to this machine: the local
provider), followed through signed webhooks. Settings come from environment variables (README,
Configuration); `media-core COMMAND --help` describes each command."""

EPILOG = "exit codes:\n" + "\n".join(
    f"  {code.value}  {meaning}" for code, meaning in EXIT_MEANINGS.items()
)


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, with a help text for every command and option."""
    parser = argparse.ArgumentParser(
        prog="media-core",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {version()}", help="print the version"
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", help="the command to run"
    )
    for group in GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    """Entry point of the ``media-core`` console script."""
    args = build_parser().parse_args(argv)
    args.run(args)


__all__ = ["GROUPS", "Exit", "build_parser", "main"]
