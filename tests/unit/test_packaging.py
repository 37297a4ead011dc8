"""The import names of this distribution, and its OpenAPI document, are what they claim."""

from __future__ import annotations

import json
import re
from importlib import metadata, resources
from pathlib import Path

import pytest
from openapi_spec_validator import validate

import adapters
import entrypoints
import media_core
from entrypoints.container import build_container
from entrypoints.http.app import create_app
from entrypoints.http.openapi import DOCUMENT_FILE, document
from entrypoints.http.pipeline import UNMATCHED_CANONICAL
from entrypoints.settings import Settings
from media_core.policy import DEFAULT_TYPES

SRC = Path(__file__).resolve().parents[2] / "src"


@pytest.mark.parametrize("package", [media_core, adapters, entrypoints])
def test_top_level_names_are_ours(package: object) -> None:
    """``adapters`` and ``entrypoints`` also exist on PyPI; ours must win on this path."""
    origin = Path(getattr(package, "__file__", "") or "").resolve()
    assert origin.is_relative_to(SRC), f"{package!r} resolves to {origin}, not to {SRC}"


def test_public_api_is_sorted_and_complete() -> None:
    """``media_core.__all__`` is sorted and every name in it exists."""
    assert media_core.__all__ == sorted(media_core.__all__)
    for name in media_core.__all__:
        assert hasattr(media_core, name), name


def test_openapi_document_is_valid_3_1() -> None:
    """The served document passes an OpenAPI 3.1 validator."""
    doc = document()
    assert doc["openapi"].startswith("3.1")
    validate(doc)


def test_openapi_document_states_this_version_and_the_default_types() -> None:
    """The document file names the installed version and the MIME types the policy allows."""
    doc = document()
    assert doc["info"]["version"] == metadata.version("media-core")
    mime_type = doc["components"]["schemas"]["CreateUploadRequest"]["properties"]["mimeType"]
    assert mime_type["examples"] == sorted(DEFAULT_TYPES)


def test_openapi_document_is_package_data() -> None:
    """The document is read from the package (importlib.resources), not from the source tree."""
    shipped = resources.files("entrypoints.http").joinpath(DOCUMENT_FILE)
    assert shipped.is_file()
    assert json.loads(shipped.read_bytes()) == document()


def test_every_route_is_documented() -> None:
    """Every API route of the app appears in the document."""
    container = build_container(Settings(data_dir=Path("/nonexistent")))
    app = create_app(container)
    documented = set(document()["paths"])
    # As aiohttp names them: a variable's pattern ({path:.+}) is left out of the canonical path.
    contributed = {
        re.sub(r"\{(\w+):[^}]+\}", r"{\1}", route.path) for route in container.provider_routes()
    }
    assert "/api/v1/media/local/uploads/{token}" in contributed
    for resource in app.router.resources():
        path = resource.canonical
        if path in contributed or path.startswith("/problems/"):
            continue  # a provider's own URLs and the problem pages are not API
        if path == UNMATCHED_CANONICAL:
            continue  # the catch-all that answers 404 and 405
        assert path in documented, path
