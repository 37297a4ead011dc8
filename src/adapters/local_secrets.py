"""The embedded default's secrets file: generated once, kept in the data directory (mode 0600)."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from attrs import frozen


@frozen
class LocalSecrets:
    """Secrets the embedded default generates once and keeps in the data directory."""

    jwt_secret: str
    webhook_secret: str
    fake_secret: str


def local_secrets_path(data_dir: Path) -> Path:
    """Where the embedded default keeps its generated secrets."""
    return data_dir / "secrets.json"


def local_secrets(data_dir: Path) -> LocalSecrets:
    """Read ``<data_dir>/secrets.json``, creating it (mode 0600) on first use."""
    path = local_secrets_path(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fresh = {
            "jwtSecret": secrets.token_urlsafe(48),
            "webhookSecret": secrets.token_urlsafe(32),
            "fakeSecret": secrets.token_urlsafe(32),
        }
        # Written aside and linked into place: processes starting together (the service and its
        # workers) agree on one file, and none reads it half-written.
        draft = data_dir / f".secrets.{os.getpid()}.{secrets.token_hex(4)}"
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump(fresh, handle)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process made it first: theirs is the one
        finally:
            draft.unlink()
    data = json.loads(path.read_text())
    return LocalSecrets(
        jwt_secret=data["jwtSecret"],
        webhook_secret=data["webhookSecret"],
        fake_secret=data["fakeSecret"],
    )
