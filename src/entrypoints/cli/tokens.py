"""``media-core token``: a bearer token for a user, from the secret a service really uses."""

from __future__ import annotations

import argparse

from entrypoints.cli._common import DEV_USER, Commands, Exit, fail, load, non_empty, say
from entrypoints.http.auth import issue_token
from entrypoints.wiring.secrets import development_jwt_secret, development_secrets_path


def register(commands: Commands) -> None:
    """Add ``token`` to the command line."""
    parser = commands.add_parser(
        "token",
        help="print a bearer token for a user",
        description="Print an HS256 bearer token for a user, signed with AUTH_JWT_SECRET or, on "
        "the embedded default, with the development secret in the data dir's secrets.json. "
        "It says on standard error which secret it used.",
    )
    parser.add_argument(
        "--user",
        type=non_empty,
        default=DEV_USER,
        help=f"the user id, the token's sub (default {DEV_USER})",
    )
    parser.add_argument(
        "--days", type=int, default=30, help="how long the token stays valid (default 30)"
    )
    parser.add_argument(
        "--create-secrets",
        action="store_true",
        help="create the development secrets when the data dir has none yet (for a service "
        "you are about to start there)",
    )
    parser.set_defaults(run=token)


def token(args: argparse.Namespace) -> None:
    """Print a bearer token for a user (HS256 settings or the embedded default only)."""
    settings = load()
    if args.days < 1:
        fail("--days must be at least 1", Exit.USAGE)
    ttl = args.days * 24 * 3600
    if settings.jwt_public_key:
        fail(
            "the service checks RS256 tokens (AUTH_JWT_PUBLIC_KEY): issue them with your identity "
            "provider's private key",
            Exit.USAGE,
        )
    if settings.jwt_secret:
        say(f"token for user {args.user!r}, signed with AUTH_JWT_SECRET")
        print(issue_token(settings.jwt_secret, args.user, ttl_seconds=ttl))
        return
    path = development_secrets_path(settings).resolve()
    if not path.exists() and not args.create_secrets:
        fail(
            f"no development secrets in {settings.data_dir.resolve()} (no {path.name}): a service "
            "that ran here would have made them. Point MEDIA_DATA_DIR at the data dir of the "
            "running service, or pass --create-secrets for a service you will start here.",
            Exit.USAGE,
        )
    created = not path.exists()
    secret = development_jwt_secret(settings, create=True)
    assert secret is not None
    verb = "created" if created else "from"
    say(f"token for user {args.user!r}, signed with the development secret {verb} {path}")
    print(issue_token(secret, args.user, ttl_seconds=ttl))
