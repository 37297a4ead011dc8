"""Strict readings of what arrives from outside: JSON bodies, integers in text, id shapes.

Each rule lives here once, and every edge (HTTP routes, webhook adapters, upload tokens, tus
headers) uses it, so a class of bad input is refused the same way everywhere:

- :func:`decode_json`: UTF-8 only (RFC 8259 §8.1, no byte-order mark, no guessing of UTF-16),
  and no lone surrogate anywhere in the value, keys included, whether it came as raw bytes
  (which UTF-8 refuses) or as a ``\\ud800`` escape (which ``json`` lets through).
- :func:`ascii_int`: ASCII digits only, bounded length (``str.isdigit`` takes ``²`` and ``int``
  takes full-width digits).
- :func:`plausible_id`: the one alphabet and length an id of ours, a playback id or a provider
  id may have; anything else cannot name a stored record, so it is looked up nowhere.
"""

from __future__ import annotations

import json
import re

__all__ = [
    "ID_PATTERN",
    "MAX_ID_LENGTH",
    "MalformedJson",
    "ascii_int",
    "decode_json",
    "has_surrogate",
    "plausible_id",
    "storable",
]


class MalformedJson(ValueError):
    """The bytes are not one strict JSON text (the message says why, never echoes the body)."""


def _refuse_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON (RFC 8259 has no NaN or Infinity)")


_decode = json.JSONDecoder(parse_constant=_refuse_constant).decode
# A lone surrogate can only reach the decoded value through an escape (raw surrogate bytes are
# not UTF-8), so a body without one of these needs no walk over its strings.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def has_surrogate(text: str) -> bool:
    """True if ``text`` holds a surrogate code point (it cannot be encoded as UTF-8)."""
    return not text.isascii() and _SURROGATE.search(text) is not None


def storable(text: str) -> bool:
    """True if every store can keep ``text``: no NUL (PostgreSQL refuses it in text columns),
    no lone surrogate (UTF-8 cannot encode it)."""
    return "\x00" not in text and not has_surrogate(text)


def decode_json(body: bytes) -> object:
    """The JSON value of ``body``; :class:`MalformedJson` unless it is strict UTF-8 JSON.

    Refused: bytes that are not UTF-8 (UTF-16 with or without BOM, CESU-8 surrogates, Latin-1),
    a UTF-8 byte-order mark, invalid JSON (``NaN`` and ``Infinity`` included), integers longer
    than Python reads, nesting deep enough to exhaust the recursion limit, and any string (keys
    included) that holds a lone surrogate.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedJson("the body is not UTF-8") from None
    if text.startswith("\ufeff"):
        raise MalformedJson("the body starts with a byte-order mark")
    try:
        value = _decode(text)
    except RecursionError:
        raise MalformedJson("the body nests too deeply") from None
    except ValueError as exc:
        raise MalformedJson(f"the body is not valid JSON: {exc}") from None
    if _SURROGATE_ESCAPE.search(text) and _holds_surrogate(value):
        raise MalformedJson("the body holds a lone surrogate (\\ud800-\\udfff) in a string")
    return value


def _holds_surrogate(value: object) -> bool:
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if has_surrogate(item):
                return True
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return False


MAX_INT_DIGITS = 18
"""Longest integer read from text: fits in a signed 64-bit column, and bounds the work."""


def ascii_int(text: str, *, max_digits: int = MAX_INT_DIGITS) -> int | None:
    """``text`` as a non-negative integer if it is 1 to ``max_digits`` ASCII digits, else None.

    No sign, no blanks, no ``_`` separators, no other script's digits: callers strip what
    their grammar allows around the number first.
    """
    if 0 < len(text) <= max_digits and text.isascii() and text.isdigit():
        return int(text)
    return None


MAX_ID_LENGTH = 128
ID_PATTERN = re.compile(rf"[A-Za-z0-9_-]{{1,{MAX_ID_LENGTH}}}")
"""Ids of ours (ULIDs), playback ids and provider ids: letters, digits, ``_`` and ``-``."""


def plausible_id(value: str) -> bool:
    """True if ``value`` has the shape of an id (:data:`ID_PATTERN`); ASCII only."""
    return value.isascii() and ID_PATTERN.fullmatch(value) is not None
