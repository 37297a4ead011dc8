"""``media-core upload FILE``: upload through the HTTP API exactly as a client does.

Create (``POST /api/v1/media/upload/direct``), then send the bytes by the protocol the answer
names (:mod:`entrypoints.cli._transfer`), then, with ``--wait``, follow the status to READY and
print the playback URL. A small state file per file (keyed by its path, size and modification
time, in ``<data dir>/uploads/``) makes a second run continue an interrupted upload where the
protocol allows; the create carries the same key as its ``Idempotency-Key``, so a create cut
short is not made twice.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import mimetypes
import os
import secrets
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NoReturn

import httpx
from tqdm import tqdm

from entrypoints.cli import _transfer
from entrypoints.cli._common import DEV_USER, Commands, Exit, load, non_empty, say
from entrypoints.http.auth import issue_token
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import development_jwt_secret

API = "/api/v1/media"
VISIBILITIES = ("PUBLIC", "UNLISTED", "PRIVATE")
FINISHED = ("ready", "failed")


def register(commands: Commands) -> None:
    """Add ``upload`` to the command line."""
    parser = commands.add_parser(
        "upload",
        help="upload a video file through the HTTP API, with a progress bar",
        description="Upload FILE as a client does: ask the service for an upload slot, send the "
        "bytes by the protocol it names (PUT, chunked PUT, form POST or tus), and with --wait "
        "follow processing to READY and print the playback URL. Interrupted? Run the same "
        "command again: it continues where the upload protocol allows.",
    )
    parser.add_argument("file", type=Path, metavar="FILE", help="the video file to upload")
    parser.add_argument("--title", help="the video's title (default: the file name)")
    parser.add_argument("--description", default="", help="the video's description")
    parser.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        default="PUBLIC",
        type=str.upper,
        help="who may watch it (default PUBLIC)",
    )
    parser.add_argument(
        "--type", dest="mime_type", help="the MIME type (default: guessed from the file name)"
    )
    parser.add_argument(
        "--url",
        help="the service's base URL (default MEDIA_PUBLIC_URL, else http://MEDIA_HOST:MEDIA_PORT)",
    )
    parser.add_argument(
        "--token",
        help="the bearer token (default $MEDIA_TOKEN, else one issued from AUTH_JWT_SECRET or the "
        "data dir's development secret)",
    )
    parser.add_argument(
        "--user",
        type=non_empty,
        default=DEV_USER,
        help=f"the user a token is issued for when none is given (default {DEV_USER})",
    )
    parser.add_argument(
        "--wait", action="store_true", help="follow processing to READY and print the playback URL"
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=600.0,
        help="how long --wait waits, in seconds (default 600)",
    )
    parser.add_argument(
        "--new",
        action="store_true",
        help="start a new upload even if this file was uploaded or half-uploaded before",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object, for scripts")
    parser.set_defaults(run=upload)


class Failure(Exception):
    """Ends the command with ``code`` after saying ``message``."""

    def __init__(self, message: str, code: Exit) -> None:
        super().__init__(message)
        self.code = code


def upload(args: argparse.Namespace) -> None:
    """Run the upload; exit with a code that says what failed."""
    settings = load()
    try:
        result = _upload(args, settings)
    except Failure as exc:
        _finish_failed(args, str(exc), exc.code)
    except KeyboardInterrupt:
        _finish_failed(
            args, "interrupted; run the same command again to continue the upload", Exit.TRANSFER
        )
    if args.json:
        print(json.dumps(result))
    else:
        line = f"{result['id']} {result['status']}"
        if result.get("playbackUrl"):
            line += f" {result['playbackUrl']}"
        print(line)
    if result["status"] == "failed":
        raise SystemExit(int(Exit.PROCESSING_FAILED))


def _finish_failed(args: argparse.Namespace, message: str, code: Exit) -> NoReturn:
    say(message)
    if args.json:
        print(json.dumps({"error": message, "exitCode": int(code)}))
    raise SystemExit(int(code))


def _upload(args: argparse.Namespace, settings: Settings) -> dict[str, Any]:
    path: Path = args.file
    try:
        stat = path.stat()
    except OSError as exc:
        raise Failure(f"cannot read {path}: {exc.strerror}", Exit.USAGE) from None
    if not path.is_file():
        raise Failure(f"{path} is not a file", Exit.USAGE)
    base = (args.url or settings.base_url).rstrip("/")
    token = _token(args, settings)
    mime_type = args.mime_type or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    key = _state_key(path, stat.st_size, stat.st_mtime_ns, base)
    state_path = settings.data_dir / "uploads" / f"{key}.json"
    state = {} if args.new else _read_state(state_path)
    with httpx.Client(
        base_url=base,
        headers={"Authorization": f"Bearer {token}"},
        timeout=httpx.Timeout(30.0, connect=5.0),
    ) as api:
        status: dict[str, Any] | None = None
        if "id" in state:
            status = _status_or_none(api, state["id"])
            if status is None or status["status"] == "failed":
                say("the earlier upload of this file is gone or failed; starting a new one")
                state, status = {}, None
        if "id" not in state:
            # Saved before the create, so a create whose answer was lost is replayed, not repeated.
            state.setdefault("idempotencyKey", secrets.token_hex(16))
            _write_state(state_path, state)
            state |= _create(
                api, args, path, stat.st_size, mime_type=mime_type, key=state["idempotencyKey"]
            )
            _write_state(state_path, state)
        upload_id = state["id"]
        resumed_from = 0
        if not state.get("sent") and (status is None or status["status"] == "uploading"):
            resumed_from = _send(
                state, path, args, size=stat.st_size, mime_type=mime_type, resume=status is not None
            )
            state["sent"] = True
            _write_state(state_path, state)
        elif not args.json:
            say(f"{path.name} was uploaded before as {upload_id}; --new uploads it again")
        current = _wait(api, upload_id, args) if args.wait else _status(api, upload_id)
        result: dict[str, Any] = {
            "id": upload_id,
            "resumedFrom": resumed_from,
            "status": current["status"],
            "playbackId": current.get("playbackId"),
            "progress": current.get("progress"),
        }
        if current["status"] == "ready":
            result["playbackUrl"] = _playback_url(api, upload_id)
            state_path.unlink(missing_ok=True)
        elif current["status"] == "failed":
            result["failureCode"] = current.get("failureCode")
            result["failureReason"] = current.get("failureReason")
            state_path.unlink(missing_ok=True)
            say(f"the upload failed: {current.get('failureCode')}: {current.get('failureReason')}")
        return result


def _token(args: argparse.Namespace, settings: Settings) -> str:
    explicit = args.token or os.environ.get("MEDIA_TOKEN")
    if explicit:
        return str(explicit)
    if settings.jwt_secret:
        return issue_token(settings.jwt_secret, args.user, ttl_seconds=3600)
    secret = None if settings.jwt_public_key else development_jwt_secret(settings)
    if secret is not None:
        return issue_token(secret, args.user, ttl_seconds=3600)
    raise Failure(
        f"no token: pass --token (or set MEDIA_TOKEN); there is no AUTH_JWT_SECRET and no "
        f"development secret in {settings.data_dir.resolve()}",
        Exit.USAGE,
    )


def _state_key(path: Path, size: int, mtime_ns: int, base: str) -> str:
    text = f"{path.resolve()}\n{size}\n{mtime_ns}\n{base}"
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _read_state(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _write_state(path: Path, state: Mapping[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".tmp")
    partial.write_text(json.dumps(state))
    partial.replace(path)


def _api_error(response: httpx.Response, action: str) -> Failure:
    try:
        problem = response.json()
        detail = problem.get("detail") or problem.get("title") or response.text
    except ValueError:
        detail = response.text[:300]
    message = f"{action}: {response.status_code} {detail}"
    if response.status_code == 401:
        return Failure(message + " (pass a valid --token)", Exit.UNAUTHORIZED)
    if response.status_code >= 500:
        return Failure(message, Exit.UNREACHABLE)
    return Failure(message, Exit.REJECTED)


def _call(api: httpx.Client, method: str, url: str, action: str, **kwargs: Any) -> httpx.Response:
    try:
        return api.request(method, url, **kwargs)
    except httpx.HTTPError as exc:
        raise Failure(
            f"{action}: the service at {api.base_url} cannot be reached: {exc}", Exit.UNREACHABLE
        ) from None


def _create(
    api: httpx.Client,
    args: argparse.Namespace,
    path: Path,
    size: int,
    *,
    mime_type: str,
    key: str,
) -> dict[str, Any]:
    body = {
        "fileName": path.name,
        "fileSize": size,
        "mimeType": mime_type,
        "metadata": {
            "title": args.title if args.title is not None else path.stem,
            "description": args.description,
            "visibility": args.visibility,
        },
    }
    response = _call(
        api, "POST", f"{API}/upload/direct", "create", json=body, headers={"Idempotency-Key": key}
    )
    if response.status_code not in {200, 201}:
        raise _api_error(response, "create")
    created = response.json()
    return {"id": created["id"], "upload": created["upload"], "file": str(path.resolve())}


def _status_or_none(api: httpx.Client, upload_id: str) -> dict[str, Any] | None:
    response = _call(api, "GET", f"{API}/status/{upload_id}", "status")
    if response.status_code == 404:
        return None
    if response.status_code != 200:
        raise _api_error(response, "status")
    data: dict[str, Any] = response.json()
    return data


def _status(api: httpx.Client, upload_id: str) -> dict[str, Any]:
    status = _status_or_none(api, upload_id)
    if status is None:
        raise Failure(f"upload {upload_id} is gone (404)", Exit.REJECTED)
    return status


def _send(
    state: Mapping[str, Any],
    path: Path,
    args: argparse.Namespace,
    *,
    size: int,
    mime_type: str,
    resume: bool,
) -> int:
    upload = state["upload"]
    bar = tqdm(
        total=size,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        desc=f"upload {path.name}",
        disable=True if args.json else None,  # None: shown on a terminal only
        file=sys.stderr,
    )
    try:
        with httpx.Client(timeout=httpx.Timeout(60.0, connect=10.0)) as client:
            source = _transfer.Source(path, size, mime_type, advance=bar.update)
            offset = _transfer.send(client, upload, source, resume=resume)
    except _transfer.TransferError as exc:
        raise Failure(f"{exc}; run the same command again to continue", Exit.TRANSFER) from None
    finally:
        bar.close()
    if offset and not args.json:
        say(f"continued from byte {offset} of {size}")
    return offset


def _wait(api: httpx.Client, upload_id: str, args: argparse.Namespace) -> dict[str, Any]:
    deadline = time.monotonic() + args.timeout
    bar = tqdm(
        total=100,
        unit="%",
        desc="processing",
        disable=True if args.json else None,
        file=sys.stderr,
        bar_format="{desc}: {percentage:3.0f}%|{bar}| {elapsed}",
    )
    try:
        while True:
            status = _status(api, upload_id)
            progress = int(status.get("progress") or 0)
            bar.update(max(0, progress - bar.n))
            if status["status"] in FINISHED:
                return status
            if time.monotonic() > deadline:
                raise Failure(
                    f"{upload_id} is still {status['status']} after {args.timeout:.0f}s",
                    Exit.TIMEOUT,
                )
            time.sleep(0.25)
    finally:
        bar.close()


def _playback_url(api: httpx.Client, upload_id: str) -> str | None:
    response = _call(api, "GET", f"{API}/{upload_id}/playback", "playback")
    if response.status_code != 200:
        return None
    data = response.json()
    url, token = data.get("url"), data.get("token")
    if url and token and "token=" not in url:  # Mux's signed playback: the token goes alongside
        url += ("&" if "?" in url else "?") + f"token={token}"
    return str(url) if url else None
