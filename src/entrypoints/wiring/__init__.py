"""The composition root's building blocks: each module builds one part of the service from
settings, and :mod:`entrypoints.container` assembles them into the one container.

- ``providers``: the video providers of ``MEDIA_PROVIDERS`` (HTTP clients, circuit breakers, the
  ``ProviderSet``), their webhook verifiers and routes, closing them, checking credentials;
- ``local``: the local provider's job store, notifier and worker;
- ``storage``: the repository, the database schema and Redis;
- ``service``: authentication, rate limits, quota and policy, metrics and errors, the reconciler;
- ``secrets``: the secrets in force, those to redact, and how the CLI signs webhooks.

These modules import ``adapters`` (import-linter allows it for them and the container alone);
none imports the container: what they need from it comes in as arguments.
"""

from __future__ import annotations

from typing import Any

__all__ = ["resolve"]


async def resolve(provider: Any) -> Any:
    """The value of a provider, awaiting it when it has async dependencies."""
    value = provider()
    if hasattr(value, "__await__"):
        value = await value
    return value
