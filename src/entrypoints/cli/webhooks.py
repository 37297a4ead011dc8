"""``media-core webhooks send``: one delivery signed exactly as the provider signs it.

The bodies have the shape each sender really posts (Mux's event envelope around the asset or
upload object, Cloudflare's video object, the normalized body of the fake provider; see
``tests/fixtures``), with our upload id where the provider carries it (Mux's ``passthrough``,
Cloudflare's ``meta.mediaCoreUploadId``), so the service finds the upload by it. The signature
comes from the composition root (:func:`entrypoints.wiring.secrets.signed_delivery`), which uses
the adapters' own schemes, with the secret the settings give that route. It is how an operator
checks a deployment's webhook route and secret, and how a developer drives the state machine by
hand.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from attrs import frozen

from entrypoints.cli._common import Commands, Exit, fail, load, non_empty, running, say
from entrypoints.container import resolve
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import signed_delivery, webhook_signing_secret
from media_core.model import MediaUpload
from media_core.ports import MediaRepository

MUX_EVENTS = (
    "video.upload.asset_created",
    "video.asset.created",
    "video.asset.ready",
    "video.asset.errored",
    "video.upload.cancelled",
    "video.upload.errored",
    "video.asset.deleted",
)
CLOUDFLARE_EVENTS = ("video.ready", "video.error", "video.inprogress")
NORMALIZED_EVENTS = ("processing", "ready", "failed")
EVENTS = {"mux": MUX_EVENTS, "cloudflare": CLOUDFLARE_EVENTS, "normalized": NORMALIZED_EVENTS}


def register(commands: Commands) -> None:
    """Add ``webhooks send`` to the command line."""
    webhooks = commands.add_parser(
        "webhooks",
        help="send a provider's signed webhook to the service",
        description="Webhook tools. `media-core webhooks send --help` for the one command.",
    )
    actions = webhooks.add_subparsers(
        dest="action", required=True, metavar="ACTION", help="what to do (send)"
    )
    send_parser = actions.add_parser(
        "send",
        help="send one signed delivery and print the service's answer",
        description="Send one webhook delivery signed exactly as the provider signs it, with "
        "the payload shape it really sends and the secret the settings give its route "
        "(MUX_WEBHOOK_SECRETS, CLOUDFLARE_WEBHOOK_SECRETS, MEDIA_WEBHOOK_SECRETS or the data "
        "dir's development secret). Events: mux: "
        + ", ".join(MUX_EVENTS)
        + "; cloudflare: "
        + ", ".join(CLOUDFLARE_EVENTS)
        + "; normalized: "
        + ", ".join(NORMALIZED_EVENTS)
        + ".",
    )
    send_parser.add_argument(
        "--provider",
        choices=tuple(EVENTS),
        default="normalized",
        help="whose delivery to send, and so which route: mux, cloudflare or normalized "
        "(the fake provider's; default)",
    )
    send_parser.add_argument(
        "--event", required=True, type=non_empty, help="the event's name, e.g. video.asset.ready"
    )
    send_parser.add_argument(
        "--upload", required=True, type=non_empty, help="our upload id (the create's id)"
    )
    send_parser.add_argument(
        "--url", help="the service's base URL (default MEDIA_PUBLIC_URL, else MEDIA_HOST:PORT)"
    )
    send_parser.add_argument(
        "--secret", help="sign with this secret instead of the one in the settings"
    )
    send_parser.add_argument(
        "--duration", type=float, default=2.0, help="the duration a ready event reports (2.0)"
    )
    send_parser.add_argument(
        "--playback-id",
        help="the playback id a ready event reports (default: the stored one, else derived)",
    )
    send_parser.add_argument(
        "--event-id",
        help="the delivery's event id (default: a new one; repeat one to test duplicates)",
    )
    send_parser.add_argument(
        "--progress", type=int, default=50, help="the progress a processing event reports (50)"
    )
    send_parser.add_argument(
        "--print-only",
        action="store_true",
        help="print the headers and body instead of sending them",
    )
    send_parser.set_defaults(run=send)


@frozen
class Ids:
    """The provider's ids of the upload: read from the database, else derived from our id."""

    provider_upload_id: str
    asset_id: str
    playback_id: str


def _derived(kind: str, upload_id: str, length: int = 32) -> str:
    """A stable provider-looking id for ``upload_id``, so repeated sends agree."""
    return hashlib.sha256(f"{kind}:{upload_id}".encode()).hexdigest()[:length]


async def _stored(settings: Settings, upload_id: str) -> MediaUpload | None:
    """The upload as this environment's database has it; None where there is none to ask."""
    embedded = settings.data_dir / "media.db"
    if settings.database_url == "memory://" or (
        settings.database_url is None and not embedded.exists()
    ):
        return None
    try:
        async with running(settings) as container:
            repository: MediaRepository = await resolve(container.repository)
            return await repository.get(upload_id)
    except Exception:  # not this deployment's database: derive the ids instead
        return None


def known_ids(settings: Settings, upload_id: str, playback_id: str | None) -> Ids:
    """The ids a delivery about ``upload_id`` carries, as the provider would send them."""
    stored = asyncio.run(_stored(settings, upload_id))
    return Ids(
        provider_upload_id=(stored and stored.provider_upload_id)
        or _derived("upload", upload_id, 44),
        asset_id=(stored and stored.provider_asset_id) or _derived("asset", upload_id, 44),
        playback_id=playback_id
        or (stored and stored.playback_id)
        or _derived("playback", upload_id, 40),
    )


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def mux_body(
    event: str, upload_id: str, ids: Ids, args: argparse.Namespace, now: datetime
) -> dict[str, Any]:
    """A Mux event envelope as Mux posts it (``tests/fixtures/mux``)."""
    asset_id, mux_upload_id, playback_id = ids.asset_id, ids.provider_upload_id, ids.playback_id
    if event.startswith("video.upload."):
        status = {"asset_created": "asset_created", "cancelled": "cancelled"}.get(
            event.rsplit(".", 1)[1], "errored"
        )
        data: dict[str, Any] = {
            "id": mux_upload_id,
            "status": status,
            "timeout": 3600,
            "cors_origin": "*",
            "new_asset_settings": {"playback_policies": ["public"], "passthrough": upload_id},
        }
        if status == "asset_created":
            data["asset_id"] = asset_id
        if status == "errored":
            data["error"] = {"type": "invalid_input", "message": "sent by media-core webhooks send"}
        target = {"type": "upload", "id": mux_upload_id}
    else:
        status = {
            "video.asset.created": "preparing",
            "video.asset.ready": "ready",
            "video.asset.errored": "errored",
            "video.asset.deleted": "ready",
        }[event]
        data = {
            "id": asset_id,
            "upload_id": mux_upload_id,
            "status": status,
            "passthrough": upload_id,
            "playback_ids": [{"policy": "public", "id": playback_id}],
            "created_at": int(now.timestamp()),
            "mp4_support": "none",
            "master_access": "none",
        }
        if status == "ready":
            data |= {
                "duration": args.duration,
                "aspect_ratio": "16:9",
                "max_stored_resolution": "HD",
            }
        if status == "errored":
            data["errors"] = {
                "type": "invalid_input",
                "messages": ["sent by media-core webhooks send"],
            }
        target = {"type": "asset", "id": asset_id}
    return {
        "type": event,
        "request_id": None,
        "object": target,
        "id": args.event_id or str(uuid.uuid4()),
        "environment": {"name": "Development", "id": "media-core"},
        "data": data,
        "created_at": _iso(now),
        "attempts": [],
        "accessor_source": None,
        "accessor": None,
    }


def cloudflare_body(
    event: str, upload_id: str, ids: Ids, args: argparse.Namespace, now: datetime
) -> dict[str, Any]:
    """A Cloudflare Stream video object as its webhook posts it (``tests/fixtures/cloudflare``)."""
    state = event.removeprefix("video.")
    uid = ids.provider_upload_id
    host = "https://customer-mediacore.cloudflarestream.com"
    status: dict[str, Any] = {
        "state": state,
        "pctComplete": str(args.progress),
        "errorReasonCode": "",
        "errorReasonText": "",
    }
    if state == "ready":
        status["pctComplete"] = "100.000000"
    if state == "error":
        status |= {
            "errorReasonCode": "ERR_MALFORMED_VIDEO",
            "errorReasonText": "sent by media-core webhooks send",
        }
    return {
        "uid": uid,
        "creator": None,
        "thumbnail": f"{host}/{uid}/thumbnails/thumbnail.jpg",
        "thumbnailTimestampPct": 0,
        "readyToStream": state == "ready",
        "status": status,
        "meta": {"name": upload_id, "mediaCoreUploadId": upload_id},
        "created": _iso(now),
        "modified": _iso(now),
        "size": 0,
        "preview": f"{host}/{uid}/watch",
        "allowedOrigins": [],
        "requireSignedURLs": False,
        "uploaded": _iso(now),
        "duration": args.duration if state == "ready" else -1,
        "input": {"width": 1280, "height": 720},
        "playback": {
            "hls": f"{host}/{uid}/manifest/video.m3u8",
            "dash": f"{host}/{uid}/manifest/video.mpd",
        },
        "watermark": None,
    }


def normalized_body(
    event: str, upload_id: str, ids: Ids, args: argparse.Namespace, _: datetime
) -> dict[str, Any]:
    """The normalized body (README, Webhooks) that the fake provider posts."""
    body: dict[str, Any] = {
        "eventId": args.event_id or f"cli-{uuid.uuid4().hex}",
        "uploadId": upload_id,
        "status": event,
    }
    if event == "processing":
        body["progress"] = args.progress
    elif event == "ready":
        body |= {
            "progress": 100,
            "duration": args.duration,
            "playbackId": ids.playback_id,
        }
    else:
        body |= {
            "failureCode": "provider_error",
            "failureReason": "sent by media-core webhooks send",
        }
    return body


BODIES = {"mux": mux_body, "cloudflare": cloudflare_body, "normalized": normalized_body}


def send(args: argparse.Namespace) -> None:
    """Build, sign and POST one delivery; print the service's status and answer."""
    settings = load()
    sender: str = args.provider
    event = args.event
    if sender == "cloudflare" and not event.startswith("video."):
        event = f"video.{event}"
    if event not in EVENTS[sender]:
        fail(
            f"{sender} has no event {args.event!r}; one of: {', '.join(EVENTS[sender])}", Exit.USAGE
        )
    secret = args.secret or webhook_signing_secret(settings, sender)
    if not secret:
        fail(
            f"no {sender} webhook secret in the settings (is MEDIA_PROVIDER={sender}?); "
            "pass --secret",
            Exit.USAGE,
        )
    now = datetime.now(UTC)
    ids = known_ids(settings, args.upload, args.playback_id)
    body = json.dumps(BODIES[sender](event, args.upload, ids, args, now)).encode()
    path, headers = signed_delivery(sender, secret, int(time.time()), body)
    url = (args.url or settings.base_url).rstrip("/") + path
    if args.print_only:
        print(f"POST {url}")
        for name, value in headers.items():
            print(f"{name}: {value}")
        print()
        print(body.decode())
        return
    try:
        response = httpx.post(url, content=body, headers=headers, timeout=30.0)
    except httpx.HTTPError as exc:
        fail(f"{url} cannot be reached: {exc}", Exit.UNREACHABLE)
    say(f"{sender} {event} for {args.upload} → {url}: {response.status_code}")
    print(response.text)
    if response.status_code == 401:
        raise SystemExit(int(Exit.UNAUTHORIZED))
    if response.status_code >= 500:
        raise SystemExit(int(Exit.UNREACHABLE))
    if response.status_code >= 300:
        raise SystemExit(int(Exit.REJECTED))
