"""HTTP routes a provider serves itself: upload intake, media serving.

A provider whose bytes come to this service (the fake; a self-hosted provider) declares its
routes as :class:`ProviderRoute` s, built by a function of its own package that takes a
:data:`Resolve` of the provider::

    def fake_routes(provider: Resolve[FakeVideoProvider]) -> tuple[ProviderRoute, ...]

The composition root calls it from settings (``entrypoints.wiring.providers.build_provider_routes``,
exposed as ``container.provider_routes``), and ``create_app`` mounts every route it returns,
observed and with problem+json errors like the service's own routes; the HTTP layer never names
a provider class. Routes are declared before the application starts, because aiohttp freezes its
router then, while the provider itself is built at start-up (it may need async resources): a
handler therefore awaits ``provider()`` on each request, which is the one built instance.

A handler may raise any error of ``media_core.errors`` (mapped to problem+json by the HTTP
layer) or return its own response (protocol replies such as ``308`` or tus statuses).

To give another provider routes: write its ``*_routes(provider: Resolve[ThatProvider], ...)`` in
its package, and return them from ``build_provider_routes`` when that provider is configured,
with a ``Resolve`` of that provider's own instance; paths go under ``/api/v1/media/<name>/``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from attrs import frozen

P = TypeVar("P")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
"""An aiohttp request handler."""

Resolve = Callable[[], Awaitable[P]]
"""Gives the provider instance once the application has started."""


@frozen
class ProviderRoute:
    """One route a provider serves: ``method`` on ``path`` (an aiohttp path pattern)."""

    method: str
    path: str
    handler: Handler
