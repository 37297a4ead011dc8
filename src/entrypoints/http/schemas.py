"""The JSON wire format: strict request parsing with cattrs, and response bodies.

Requests are structured into frozen attrs classes with camelCase keys; a wrong type is an error,
never a coercion (``"12"`` is not a size), and unknown keys are refused so that typos surface.
Every problem found is reported with a JSON pointer to it.
"""

from __future__ import annotations

import enum
import math
from typing import Any, TypeVar

import attrs
import cattrs
from attrs import frozen
from cattrs.errors import (
    ClassValidationError,
    ForbiddenExtraKeysError,
    IterableValidationError,
)
from cattrs.gen import make_dict_structure_fn, override

from media_core.model import MediaUpload, Page, Visibility
from media_core.ports import DirectUploadTicket, Playback
from media_core.providers import Failover

T = TypeVar("T")


class InvalidBody(Exception):
    """The body does not fit its schema; ``errors`` holds ``(pointer, detail)`` pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{p}: {d}" for p, d in errors))
        self.errors = errors


@frozen
class MetadataBody:
    """``metadata`` of a create request."""

    title: str = ""
    description: str = ""
    visibility: Visibility = Visibility.PRIVATE
    extra: dict[str, str] = attrs.field(factory=dict)


@frozen
class CreateUploadBody:
    """``POST /api/v1/media/upload/direct``."""

    file_name: str
    file_size: int
    mime_type: str
    metadata: MetadataBody = attrs.field(factory=MetadataBody)


def camel(name: str) -> str:
    """``file_name`` → ``fileName``."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _WrongType(TypeError):
    pass


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=True, detailed_validation=True)

    def structure_str(value: object, _: type) -> str:
        if not isinstance(value, str):
            raise _WrongType("must be a string")
        return value

    def structure_int(value: object, _: type) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and math.isfinite(value) and value.is_integer():
                return int(value)
            raise _WrongType("must be an integer")
        return value

    def structure_enum(value: object, kind: type[enum.Enum]) -> enum.Enum:
        allowed = [member.value for member in kind]
        if value not in allowed:
            raise _WrongType(f"must be one of {', '.join(map(str, allowed))}")
        return kind(value)

    def structure_str_dict(value: object, _: type) -> dict[str, str]:
        if not isinstance(value, dict):
            raise _WrongType("must be an object")
        for key, item in value.items():
            if not isinstance(item, str):
                raise _WrongType(f"value of {key!r} must be a string")
        return dict(value)

    converter.register_structure_hook(str, structure_str)
    converter.register_structure_hook(int, structure_int)
    converter.register_structure_hook_func(lambda kind: kind == dict[str, str], structure_str_dict)
    converter.register_structure_hook_func(
        lambda kind: isinstance(kind, type) and issubclass(kind, enum.Enum), structure_enum
    )

    def attrs_hook(kind: type[Any]) -> Any:
        renames = {f.name: override(rename=camel(f.name)) for f in attrs.fields(kind)}
        return make_dict_structure_fn(kind, converter, **renames)  # type: ignore[arg-type]

    converter.register_structure_hook_factory(attrs.has, attrs_hook)
    return converter


_CONVERTER = _make_converter()


def parse(body: object, kind: type[T]) -> T:
    """Structure ``body`` into ``kind`` or raise :class:`InvalidBody` listing every problem."""
    if not isinstance(body, dict):
        raise InvalidBody([("", f"the body must be a JSON object, not {_json_kind(body)}")])
    try:
        return _CONVERTER.structure(body, kind)
    except (ClassValidationError, IterableValidationError, ForbiddenExtraKeysError) as exc:
        raise InvalidBody(_collect(exc, "")) from None


def _collect(exc: BaseException, pointer: str) -> list[tuple[str, str]]:
    if isinstance(exc, ForbiddenExtraKeysError):
        return [(f"{pointer}/{key}", "is not a known field") for key in sorted(exc.extra_fields)]
    if isinstance(exc, ClassValidationError):
        found: list[tuple[str, str]] = []
        with_notes, without = exc.group_exceptions()
        for inner, note in with_notes:
            found.extend(_collect(inner, f"{pointer}/{camel(note.name)}"))
        for inner in without:
            found.extend(_collect(inner, pointer))
        return found
    if isinstance(exc, KeyError):
        return [(pointer, "is required")]
    if isinstance(exc, _WrongType):
        return [(pointer, str(exc))]
    return [(pointer, "has an invalid value")]


def upload_json(upload: MediaUpload) -> dict[str, Any]:
    """An upload as the status and list routes return it."""
    return {
        "id": upload.id,
        "playbackId": upload.playback_id,
        "status": upload.status.value,
        "progress": upload.progress,
        "thumbnailUrl": upload.thumbnail_url,
        "duration": upload.duration,
        "aspectRatio": upload.aspect_ratio,
        "provider": upload.provider,
        "fileName": upload.file_name,
        "fileSize": upload.file_size,
        "mimeType": upload.mime_type,
        "metadata": {
            "title": upload.metadata.title,
            "description": upload.metadata.description,
            "visibility": upload.metadata.visibility.value,
            "extra": dict(upload.metadata.extra),
        },
        "failureCode": upload.failure_code.value if upload.failure_code else None,
        "failureReason": upload.failure_reason,
        "createdAt": _iso(upload.created_at),
        "updatedAt": _iso(upload.updated_at),
        "readyAt": _iso(upload.ready_at) if upload.ready_at else None,
    }


def created_json(
    upload: MediaUpload, ticket: DirectUploadTicket, failover: Failover | None = None
) -> dict[str, Any]:
    """The create route's body: the seed's three fields, our id, how to upload, and which
    provider holds the upload (with the failover that brought it there, if one did)."""
    return {
        "id": upload.id,
        "uploadUrl": ticket.url,
        "playbackId": upload.playback_id,
        "status": "ready_for_upload",
        "upload": {
            "url": ticket.url,
            "method": ticket.method,
            "protocol": ticket.protocol.value,
            "headers": dict(ticket.headers),
            "expiresAt": _iso(ticket.expires_at),
            "chunkSize": ticket.chunk_size,
        },
        "provider": upload.provider,
        "failover": (
            {"from": failover.from_provider, "reason": failover.reason} if failover else None
        ),
    }


def page_json(page: Page) -> dict[str, Any]:
    """A page of the list route."""
    return {"items": [upload_json(u) for u in page.items], "nextCursor": page.next_cursor}


def playback_json(playback: Playback) -> dict[str, Any]:
    """The playback route's body."""
    return {
        "url": playback.url,
        "mimeType": playback.mime_type,
        "thumbnailUrl": playback.thumbnail_url,
        "token": playback.token,
        "thumbnailToken": playback.thumbnail_token,
        "expiresAt": _iso(playback.expires_at) if playback.expires_at else None,
    }


def _iso(value: Any) -> str:
    # Always with microseconds, so that timestamps of one format compare as text too.
    return str(value.isoformat(timespec="microseconds").replace("+00:00", "Z"))


def _json_kind(value: object) -> str:
    """``an array``, ``a string``…: what a JSON value is, for a message."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "another kind of value"
