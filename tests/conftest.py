"""Test-wide settings: hypothesis profiles and the rule for optional servers.

Tests that need a real server (PostgreSQL, Redis, Prism, Chromium) call :func:`need`: on a
developer's machine without it they skip with the reason; under CI (``MEDIA_TEST_STRICT=1``,
set by ``.ci/run``) they fail instead, so nothing is skipped silently there.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.register_profile("dev", max_examples=60, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))


def strict() -> bool:
    """True under CI, where a missing server is a failure rather than a skip."""
    return os.environ.get("MEDIA_TEST_STRICT") == "1"


def need(condition: object, reason: str) -> None:
    """Skip (or, under CI, fail) the calling test unless ``condition`` holds."""
    if condition:
        return
    if strict():
        pytest.fail(f"required under MEDIA_TEST_STRICT=1: {reason}")
    pytest.skip(reason)
