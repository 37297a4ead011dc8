"""Several providers: the set a service runs with, and where each new upload goes.

An upload belongs to the provider that created it, for life (``MediaUpload.provider``).
:meth:`ProviderSet.holding` is the one way from an upload to a provider, and it refuses with
``ProviderNotConfigured`` when that provider is not configured any more, so nothing is ever sent
to a provider that did not create the upload.

A new upload goes where the :class:`~media_core.ports.ProviderSelector` ranks first, unless that
provider is not accepting (its circuit is open): :meth:`ProviderSet.attempts` keeps the accepting
providers of the ranking, in their ranked order, and the service tries them one after the other
while a create fails having done nothing (``ProviderUnavailable.nothing_done``). Landing anywhere
but on the first of the ranking is a failover (:class:`Failover`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from attrs import frozen

from media_core.errors import ProviderNotConfigured
from media_core.model import MediaUpload
from media_core.ports import (
    NewUploadChoice,
    Playback,
    ProviderCandidate,
    ProviderHealth,
    ProviderSelector,
    StoredPlayback,
    VideoProvider,
)


class ProviderSet:
    """The providers a service is configured with, in order (the first is the default), each
    with its :class:`~media_core.ports.ProviderHealth` (none means always accepting).

    ``stored_playback`` builds playback for uploads of providers that are *not* configured (any
    more), by provider name, from what the upload stores (:data:`~media_core.ports.
    StoredPlayback`).
    """

    __slots__ = ("_by_name", "_health", "_stored_playback")

    def __init__(
        self,
        providers: Sequence[VideoProvider],
        health: Mapping[str, ProviderHealth] | None = None,
        stored_playback: Mapping[str, StoredPlayback] | None = None,
    ) -> None:
        if not providers:
            raise ValueError("a service needs at least one provider")
        self._by_name = {provider.name: provider for provider in providers}
        if len(self._by_name) != len(providers):
            raise ValueError("two providers have the same name")
        self._health = dict(health or {})
        unknown = set(self._health) - set(self._by_name)
        if unknown:
            raise ValueError(f"health for providers not in the set: {sorted(unknown)}")
        self._stored_playback = dict(stored_playback or {})

    @classmethod
    def of(cls, *providers: VideoProvider) -> ProviderSet:
        """A set of always-accepting providers (tests, and hosts without breakers)."""
        return cls(providers)

    @property
    def names(self) -> tuple[str, ...]:
        """The configured names, in order."""
        return tuple(self._by_name)

    @property
    def default(self) -> VideoProvider:
        """The first provider: where new uploads go while it is accepting."""
        return next(iter(self._by_name.values()))

    def __contains__(self, name: object) -> bool:
        return name in self._by_name

    def __iter__(self) -> Iterator[VideoProvider]:
        return iter(self._by_name.values())

    def __len__(self) -> int:
        return len(self._by_name)

    def get(self, name: str) -> VideoProvider | None:
        """The provider named ``name``, if configured."""
        return self._by_name.get(name)

    def named(self, name: str) -> VideoProvider:
        """The provider named ``name``; ``ProviderNotConfigured`` if there is none."""
        provider = self._by_name.get(name)
        if provider is None:
            raise ProviderNotConfigured(
                f"provider {name!r} is not configured (configured: {', '.join(self.names)})",
                provider=name,
            )
        return provider

    def holding(self, upload: MediaUpload) -> VideoProvider:
        """The provider that created ``upload``; ``ProviderNotConfigured`` when it was removed
        from the configuration (the upload stays readable, but nothing can be sent for it)."""
        provider = self._by_name.get(upload.provider)
        if provider is None:
            raise ProviderNotConfigured(
                f"upload {upload.id} belongs to provider {upload.provider!r}, which this "
                "service is no longer configured with",
                provider=upload.provider,
            )
        return provider

    def stored_playback(self, upload: MediaUpload) -> Playback:
        """Playback of an upload whose provider is not configured, from its stored ids alone;
        ``ProviderNotConfigured`` when that cannot be built (PRIVATE, or no such builder)."""
        build = self._stored_playback.get(upload.provider)
        playback = build(upload) if build is not None else None
        if playback is None:
            raise ProviderNotConfigured(
                f"upload {upload.id} belongs to provider {upload.provider!r}, which this service "
                "is no longer configured with, and its playback needs that provider",
                provider=upload.provider,
            )
        return playback

    def accepting(self, name: str) -> bool:
        """True when ``name`` is configured and can take a new upload now."""
        if name not in self._by_name:
            return False
        health = self._health.get(name)
        return health is None or health.accepting()

    def candidates(self) -> tuple[ProviderCandidate, ...]:
        """Every configured provider with its health now, in order, for a selector."""
        return tuple(ProviderCandidate(name, self.accepting(name)) for name in self._by_name)

    def plan(
        self, choice: NewUploadChoice, selector: ProviderSelector, *, provider: str | None = None
    ) -> UploadPlan:
        """Where the new upload ``choice`` may go: ``provider`` alone when a host names one,
        else as ``selector`` ranks the candidates."""
        ranking = (
            (provider,) if provider is not None else selector.select(choice, self.candidates())
        )
        attempts = self.attempts(ranking)
        return UploadPlan(preferred=ranking[0], attempts=attempts)

    def attempts(self, ranking: Sequence[str]) -> tuple[VideoProvider, ...]:
        """The providers to try for a new upload ranked ``ranking``: its accepting ones in
        ranked order; when none is accepting, the first of the ranking alone (an open circuit
        refuses at once and sends nothing, so the create answers with its ``Retry-After``)."""
        if not ranking:
            raise ValueError("the provider selector chose no provider")
        chosen = tuple(self.named(name) for name in dict.fromkeys(ranking))
        accepting = tuple(p for p in chosen if self.accepting(p.name))
        return accepting or chosen[:1]


@frozen
class InOrderSelector:
    """The default :class:`~media_core.ports.ProviderSelector`: the configured order, so each
    new upload goes to the first provider that is accepting."""

    def select(
        self, upload: NewUploadChoice, candidates: Sequence[ProviderCandidate]
    ) -> Sequence[str]:
        """Every candidate, in the configured order."""
        return tuple(candidate.name for candidate in candidates)


@frozen
class Failover:
    """A new upload went to another provider than the first one its selector ranked."""

    from_provider: str
    to_provider: str
    reason: str
    """Why the preferred provider did not take it (its circuit was open, or its error)."""


@frozen
class UploadPlan:
    """Where a new upload may go: the selector's first choice, and the providers to try in
    order (:meth:`ProviderSet.plan`)."""

    preferred: str
    attempts: tuple[VideoProvider, ...]

    def failover(self, landed: str, error: str | None) -> Failover | None:
        """The failover of an upload that landed on ``landed`` (None on the preferred one);
        ``error`` is the first create failure, if one made it move on."""
        if landed == self.preferred:
            return None
        reason = error or f"{self.preferred} is not taking new uploads now (its circuit is open)"
        return Failover(from_provider=self.preferred, to_provider=landed, reason=reason)
