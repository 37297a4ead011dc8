"""Upload policy: which files we accept and how metadata is cleaned. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from attrs import field, frozen

from media_core.errors import (
    FileTooLarge,
    InvalidFileSize,
    InvalidInput,
    MetadataTooLong,
    UnsupportedMediaType,
)
from media_core.model import UploadMetadata, Visibility

DEFAULT_TYPES: Mapping[str, frozenset[str]] = {
    "video/mp4": frozenset({".mp4", ".m4v"}),
    "video/quicktime": frozenset({".mov", ".qt"}),
    "video/webm": frozenset({".webm"}),
    "video/x-matroska": frozenset({".mkv"}),
    "video/x-msvideo": frozenset({".avi"}),
    "video/mpeg": frozenset({".mpeg", ".mpg"}),
    "video/3gpp": frozenset({".3gp"}),
    "video/x-m4v": frozenset({".m4v"}),
}
"""MIME types both providers ingest, with the extensions each may carry."""

GIB = 1024**3


@frozen
class UploadPolicy:
    """What an upload request must satisfy; every limit is configurable."""

    allowed_types: Mapping[str, frozenset[str]] = field(factory=lambda: dict(DEFAULT_TYPES))
    max_file_size: int = 5 * GIB
    max_file_name_length: int = 255
    max_title_length: int = 200
    max_description_length: int = 5000
    max_extra_fields: int = 10
    max_extra_value_length: int = 255


def normalize_mime_type(mime_type: str) -> str:
    """Lower-case ``mime_type`` and drop parameters (``video/MP4; codecs=x`` → ``video/mp4``)."""
    return mime_type.split(";", 1)[0].strip().lower()


def extension_of(file_name: str) -> str:
    """The lower-cased extension of ``file_name`` with its dot, or ``""``."""
    base = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    if "." not in base.strip("."):
        return ""
    return "." + base.rsplit(".", 1)[-1].lower()


def check_file(policy: UploadPolicy, file_name: str, file_size: int, mime_type: str) -> str:
    """Validate the declared file and return its normalized MIME type.

    Raises :class:`InvalidInput` subclasses naming the offending field.
    """
    clean_name = sanitize_text(file_name)
    if not clean_name:
        raise InvalidInput("fileName must not be empty", field="/fileName")
    if len(clean_name) > policy.max_file_name_length:
        raise InvalidInput(
            f"fileName is longer than {policy.max_file_name_length} characters", field="/fileName"
        )
    if file_size <= 0:
        raise InvalidFileSize("fileSize must be a positive number of bytes", field="/fileSize")
    if file_size > policy.max_file_size:
        raise FileTooLarge(
            f"fileSize {file_size} is over the limit of {policy.max_file_size} bytes",
            field="/fileSize",
        )
    normalized = normalize_mime_type(mime_type)
    extensions = policy.allowed_types.get(normalized)
    if extensions is None:
        allowed = ", ".join(sorted(policy.allowed_types))
        raise UnsupportedMediaType(
            f"mimeType {normalized!r} is not allowed; allowed: {allowed}", field="/mimeType"
        )
    extension = extension_of(clean_name)
    if extension not in extensions:
        raise UnsupportedMediaType(
            f"a {normalized} file must end in one of {', '.join(sorted(extensions))}",
            field="/fileName",
        )
    return normalized


_CONTROL = re.compile(
    r"[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u200b-\u200f\u202a-\u202e\u2066-\u2069]"
)
_SPACES = re.compile(r"[ \t]+")


def sanitize_text(value: str, *, multiline: bool = False) -> str:
    """NFC-normalize, drop control and bidi-override characters, fold runs of blanks, trim.

    Markup is kept as text: escaping is the job of whatever renders it, and stripping tags here
    would corrupt titles such as ``a <b> c``.
    """
    # Invisible characters go first: removing one can bring a base letter and a combining mark
    # together, and NFC must see them side by side to compose them.
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    if not multiline:
        text = text.replace("\n", " ")
    text = unicodedata.normalize("NFC", _CONTROL.sub("", text))
    lines = [_SPACES.sub(" ", line).strip() for line in text.split("\n")]
    return "\n".join(lines).strip()


def sanitize_metadata(
    policy: UploadPolicy,
    *,
    title: str,
    description: str,
    visibility: Visibility,
    extra: Mapping[str, str] | None = None,
) -> UploadMetadata:
    """Clean user metadata and enforce its limits (after cleaning, in characters)."""
    clean_title = sanitize_text(title)
    if len(clean_title) > policy.max_title_length:
        raise MetadataTooLong(
            f"title is longer than {policy.max_title_length} characters", field="/metadata/title"
        )
    clean_description = sanitize_text(description, multiline=True)
    if len(clean_description) > policy.max_description_length:
        raise MetadataTooLong(
            f"description is longer than {policy.max_description_length} characters",
            field="/metadata/description",
        )
    extra = dict(extra or {})
    if len(extra) > policy.max_extra_fields:
        raise MetadataTooLong(
            f"at most {policy.max_extra_fields} extra metadata fields are allowed",
            field="/metadata/extra",
        )
    clean_extra: dict[str, str] = {}
    for key, value in extra.items():
        clean_key = sanitize_text(key)
        if not clean_key or len(clean_key) > 64:
            raise InvalidInput(
                "extra metadata keys must be 1 to 64 characters", field=f"/metadata/extra/{key}"
            )
        clean_value = sanitize_text(value)
        if len(clean_value) > policy.max_extra_value_length:
            raise MetadataTooLong(
                f"extra metadata values are limited to {policy.max_extra_value_length} characters",
                field=f"/metadata/extra/{key}",
            )
        clean_extra[clean_key] = clean_value
    return UploadMetadata(
        title=clean_title, description=clean_description, visibility=visibility, extra=clean_extra
    )
