"""Upload policy: which files we accept and how metadata is cleaned. Pure functions."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping

from attrs import field, frozen

from media_core.errors import (
    FileTooLarge,
    InvalidFileName,
    InvalidFileSize,
    InvalidInput,
    MetadataTooLong,
    UnsupportedMediaType,
)
from media_core.model import UploadMetadata, Visibility
from media_core.strict import has_surrogate

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

DANGEROUS_EXTENSIONS = frozenset(
    {
        # executables, installers and scripts a desktop runs on a double click
        "app", "apk", "bat", "cmd", "com", "cpl", "dll", "dmg", "exe", "gadget", "hta", "jar",
        "js", "jse", "lnk", "msi", "msp", "pif", "ps1", "psm1", "reg", "scr", "sh", "vb",
        "vbe", "vbs", "ws", "wsc", "wsf", "wsh",
        # pages and scripts a web server runs or a browser renders
        "asp", "aspx", "cgi", "htm", "html", "jsp", "mht", "mhtml", "phar", "php", "php3",
        "php4", "php5", "php7", "phtml", "pl", "py", "rb", "shtml", "svg", "svgz", "xht",
        "xhtml", "xml",
    }
)  # fmt: skip
"""Extensions refused anywhere inside a file name (``clip.exe.mp4``): a server that keeps the
name, or a user who sees a long name cut short, may take the file for one of these."""

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


def _inner_extensions(file_name: str) -> set[str]:
    """The lower-cased suffixes of the base name before its last one (``a.Exe.mp4`` → exe)."""
    base = file_name.rsplit("/", 1)[-1].rsplit("\\", 1)[-1]
    return {part.strip().lower() for part in base.split(".")[1:-1]}


_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # exactly the category Cc


def check_file(policy: UploadPolicy, file_name: str, file_size: int, mime_type: str) -> str:
    """Validate the declared file and return its normalized MIME type.

    Raises :class:`InvalidInput` subclasses naming the offending field. The file-name rule:
    a control character (NUL, line break, …: category ``Cc``) is refused, not stripped; the
    name is then cleaned as text (:func:`sanitize_text`); it must not be empty or over the
    length limit, no inner extension may be one of :data:`DANGEROUS_EXTENSIONS`, and the last
    extension must be one the MIME type allows.
    """
    if _CONTROL.search(file_name):
        raise InvalidFileName(
            "fileName must not hold control characters (NUL, line breaks, tabs, ...)",
            field="/fileName",
        )
    clean_name = sanitize_text(file_name, field="/fileName")
    if not clean_name:
        raise InvalidInput("fileName must not be empty", field="/fileName")
    if len(clean_name) > policy.max_file_name_length:
        raise InvalidInput(
            f"fileName is longer than {policy.max_file_name_length} characters", field="/fileName"
        )
    dangerous = _inner_extensions(clean_name) & DANGEROUS_EXTENSIONS
    if dangerous:
        raise InvalidFileName(
            f"fileName must not carry an inner .{min(dangerous)} extension "
            "(executable or markup types are refused anywhere in the name)",
            field="/fileName",
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


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
# Tab and every space separator (Zs); a run of them becomes one ASCII space.
_SPACES = re.compile(r"[\t \u00a0\u1680\u2000-\u200a\u202f\u205f\u3000]+")
_ZWNJ, _ZWJ, _VS16 = "\u200c", "\u200d", "\ufe0f"
_BLACK_FLAG, _CANCEL_TAG = "\U0001f3f4", "\U000e007f"


def _is_tag(char: str) -> bool:
    return "\U000e0020" <= char <= "\U000e007e"


def _keeps_format(char: str, before: str, after: str) -> bool:
    """Whether the format (``Cf``) character ``char`` stays between ``before`` (the last kept
    character, or ``""``) and ``after`` (the next one, or ``""``): only where a script or an
    emoji needs it."""
    if not before:
        return False
    if char == _ZWJ:  # emoji ZWJ sequences: 👩‍💻, ❤️‍🔥, 👋🏽‍…
        return (
            bool(after)
            and unicodedata.category(after) == "So"
            and (before == _VS16 or unicodedata.category(before) in ("So", "Sk"))
        )
    if char == _ZWNJ:  # joins-or-not between letters (Persian, Indic scripts)
        return (
            bool(after)
            and unicodedata.category(before)[0] in "LM"
            and unicodedata.category(after)[0] in "LM"
        )
    if _is_tag(char):  # subdivision flags: 🏴 then tag letters, ended by CANCEL TAG
        return before == _BLACK_FLAG or _is_tag(before)
    return char == _CANCEL_TAG and _is_tag(before)


def _is_noncharacter(char: str) -> bool:
    code = ord(char)
    return 0xFDD0 <= code <= 0xFDEF or code & 0xFFFE == 0xFFFE


def _strip_invisible(text: str) -> str:
    """``text`` without controls (``Cc`` but tab and newline), format characters (``Cf``) but
    those :func:`_keeps_format` keeps, and noncharacters."""
    if text.isascii():
        return _ASCII_CONTROL.sub("", text)
    kept: list[str] = []
    last = ""
    for index, char in enumerate(text):
        category = unicodedata.category(char)
        if category == "Cc":
            if char not in "\t\n":
                continue
        elif category == "Cf":
            after = text[index + 1] if index + 1 < len(text) else ""
            if not _keeps_format(char, last, after):
                continue
        elif category == "Cn" and _is_noncharacter(char):
            continue
        kept.append(char)
        last = char
    return "".join(kept)


def sanitize_text(value: str, *, multiline: bool = False, field: str | None = None) -> str:
    """Clean user text by Unicode category; raise :class:`InvalidInput` on a lone surrogate.

    - ``Cs`` (a lone surrogate, which no UTF-8 store can hold): refused, naming ``field``.
    - ``Cc`` (controls, NUL included): removed, but a line break in ``multiline`` text (CRLF,
      CR, U+2028 and U+2029 become LF; single-line text gets a space) and tab (a blank).
    - ``Cf`` (format characters: zero-width space, word joiner, BOM, soft hyphen, bidi
      embeddings, overrides and isolates, …): removed, but ZWJ inside an emoji sequence, ZWNJ
      between letters and the tag characters of a subdivision flag.
    - Noncharacters (U+FDD0-U+FDEF, U+xFFFE, U+xFFFF): removed.
    - ``Zs`` and tab: each run becomes one space; lines are trimmed; the result is NFC.

    Markup is kept as text: escaping is the job of whatever renders it, and stripping tags here
    would corrupt titles such as ``a <b> c``.
    """
    if has_surrogate(value):
        raise InvalidInput("text must not hold a lone surrogate (U+D800-U+DFFF)", field=field)
    # Invisible characters go first: removing one can bring a base letter and a combining mark
    # together, and NFC must see them side by side to compose them.
    text = value.replace("\r\n", "\n").replace("\r", "\n")
    text = text.replace("\u2028", "\n").replace("\u2029", "\n")
    if not multiline:
        text = text.replace("\n", " ")
    text = unicodedata.normalize("NFC", _strip_invisible(text))
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
    clean_title = sanitize_text(title, field="/metadata/title")
    if len(clean_title) > policy.max_title_length:
        raise MetadataTooLong(
            f"title is longer than {policy.max_title_length} characters", field="/metadata/title"
        )
    clean_description = sanitize_text(description, multiline=True, field="/metadata/description")
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
        clean_key = sanitize_text(key, field="/metadata/extra")
        if not clean_key or len(clean_key) > 64:
            raise InvalidInput(
                "extra metadata keys must be 1 to 64 characters", field=f"/metadata/extra/{key}"
            )
        clean_value = sanitize_text(value, field="/metadata/extra")
        if len(clean_value) > policy.max_extra_value_length:
            raise MetadataTooLong(
                f"extra metadata values are limited to {policy.max_extra_value_length} characters",
                field=f"/metadata/extra/{key}",
            )
        clean_extra[clean_key] = clean_value
    return UploadMetadata(
        title=clean_title, description=clean_description, visibility=visibility, extra=clean_extra
    )
