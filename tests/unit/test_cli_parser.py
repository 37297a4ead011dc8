"""The command line's shape: every command and option described, in plain text."""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path

import pytest

from entrypoints.cli import build_parser
from entrypoints.cli._common import redact_url
from entrypoints.cli.service import banner
from entrypoints.settings import load_settings


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def _walk(
    name: str, parser: argparse.ArgumentParser
) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for sub_name, sub_parser in _commands(parser).items():
        yield from _walk(f"{name} {sub_name}", sub_parser)


def test_every_command_and_option_has_a_plain_description() -> None:
    """Each command has a help line and a description; each option a help text; no reST."""
    parser = build_parser()
    commands = _commands(parser)
    assert {"serve", "migrate", "reconcile", "token", "stats"} <= set(commands)
    assert {"upload", "webhooks", "doctor"} <= set(commands)
    assert "send" in _commands(commands["webhooks"])
    for name, command in _walk("media-core", parser):
        assert command.description, name
        for action in command._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f"{name} {action.option_strings or action.dest} has no help"
            if isinstance(action, argparse._SubParsersAction):
                listed = {choice.dest for choice in action._choices_actions}
                assert listed == set(action.choices), f"{name}: a command has no help line"
        text = command.format_help()
        for markup in ("``", ":class:", ":func:", ":data:"):
            assert markup not in text, name


def test_version_option() -> None:
    """``--version`` prints the distribution's version and exits 0."""
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["--version"])
    assert exited.value.code == 0


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://app:s3cret@db:5432/media", "postgresql://app:***@db:5432/media"),
        ("postgresql://db/media", "postgresql://db/media"),
        ("sqlite:///x.db", "sqlite:///x.db"),
    ],
)
def test_database_urls_are_shown_without_password(url: str, shown: str) -> None:
    """The banner's database line never carries a password."""
    assert redact_url(url) == shown


def test_banner_names_provider_database_and_data_dir(tmp_path: Path) -> None:
    """The serve banner says the provider, the database (redacted), the data dir and the CLI."""
    settings = load_settings(
        {
            "MEDIA_DATA_DIR": str(tmp_path),
            "DATABASE_URL": "postgresql://app:s3cret@db/media",
            "AUTH_JWT_SECRET": "x" * 40,
        }
    )
    text = "\n".join(banner(settings))
    assert "providers: local (the first" in text
    assert "workers:   1 embedded worker" in text
    assert "app:***@db/media" in text
    assert "s3cret" not in text
    assert f"data dir:  {tmp_path.resolve()}" in text
    assert "--help" in text
    assert "token" not in text.split("the CLI:")[0]
