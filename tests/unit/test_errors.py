"""The error hierarchy: the tree in the docstring is the real one, and codes are stable."""

from __future__ import annotations

import inspect
import re

import pytest

from media_core import errors
from media_core.errors import (
    InvalidInput,
    MediaCoreError,
    ProviderUnavailable,
    RateLimited,
)


def _error_classes() -> list[type[MediaCoreError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, MediaCoreError)
    ]


def test_every_code_is_unique_and_kebab_case() -> None:
    """Codes map one-to-one to problem+json types, so no two classes share one."""
    codes = [cls.code for cls in _error_classes()]
    assert len(codes) == len(set(codes))
    assert all(re.fullmatch(r"[a-z]+(-[a-z]+)*", code) for code in codes)


def test_docstring_tree_matches_the_classes() -> None:
    """Every class appears in the module docstring's tree under its real parent."""
    doc = errors.__doc__ or ""
    tree_lines = [line for line in doc.splitlines() if re.search(r"[A-Z]\w+", line)]
    positions: dict[str, int] = {}
    parents: dict[str, str] = {}
    stack: list[tuple[int, str]] = []
    for line in tree_lines:
        match = re.match(r"^(\s*(?:[│ ]\s*)*(?:[├└]── )?)([A-Z]\w+)\b", line)
        if match is None:
            continue
        depth, name = len(match.group(1)), match.group(2)
        if not hasattr(errors, name):
            continue
        while stack and stack[-1][0] >= depth:
            stack.pop()
        if stack:
            parents[name] = stack[-1][1]
        stack.append((depth, name))
        positions[name] = depth
    for cls in _error_classes():
        assert cls.__name__ in positions, f"{cls.__name__} missing from the tree"
        if cls is not MediaCoreError:
            assert parents[cls.__name__] == cls.__mro__[1].__name__, cls.__name__


def test_detail_and_field_are_kept() -> None:
    """The HTTP layer reads ``detail`` and ``field`` from the exception."""
    exc = InvalidInput("bad", field="/fileName")
    assert (str(exc), exc.detail, exc.field) == ("bad", "bad", "/fileName")


def test_rate_limited_and_provider_unavailable_carry_retry_hints() -> None:
    """Retry hints travel with the exception to the Retry-After header."""
    limited = RateLimited("slow down", retry_after=2.5, limit=10)
    assert (limited.retry_after, limited.limit, limited.remaining) == (2.5, 10, 0)
    assert ProviderUnavailable("down").retry_after is None
    assert ProviderUnavailable("down", retry_after=3).retry_after == 3


@pytest.mark.parametrize("cls", _error_classes())
def test_every_error_has_a_title_and_docstring(cls: type[MediaCoreError]) -> None:
    """problem+json needs a human title for every type."""
    assert cls.title
    assert cls.__doc__
