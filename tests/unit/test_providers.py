"""The provider set: each upload's own provider, the selector's ranking, the order of attempts."""

from __future__ import annotations

from collections.abc import Sequence

import attrs
import pytest
from attrs import define

from media_core.errors import ProviderNotConfigured
from media_core.model import MediaUpload, Visibility
from media_core.ports import NewUploadChoice, Playback, ProviderCandidate, ProviderSelector
from media_core.providers import InOrderSelector, ProviderSet
from tests.support.fakes import ScriptedVideoProvider
from tests.support.repositories import make_upload


@define
class Switch:
    """A ProviderHealth a test flips."""

    on: bool = True

    def accepting(self) -> bool:
        """What the test set."""
        return self.on


def fake(name: str) -> ScriptedVideoProvider:
    """A scripted provider under ``name``."""
    return ScriptedVideoProvider(name=name)


CHOICE = NewUploadChoice(
    owner_id="alice",
    file_name="clip.mp4",
    file_size=10,
    mime_type="video/mp4",
    visibility=Visibility.PRIVATE,
)


def test_the_first_provider_is_the_default_and_order_is_kept() -> None:
    """Names keep the configured order; the first is the default."""
    providers = ProviderSet([fake("b"), fake("a"), fake("c")])
    assert providers.names == ("b", "a", "c")
    assert providers.default.name == "b"
    assert "a" in providers
    assert "z" not in providers
    assert len(providers) == 3
    assert [p.name for p in providers] == ["b", "a", "c"]


def test_a_set_refuses_no_providers_duplicates_and_stray_health() -> None:
    """Configuration mistakes are refused when the set is built."""
    with pytest.raises(ValueError, match="at least one"):
        ProviderSet([])
    with pytest.raises(ValueError, match="same name"):
        ProviderSet([fake("a"), fake("a")])
    with pytest.raises(ValueError, match="not in the set"):
        ProviderSet([fake("a")], health={"b": Switch()})


def test_an_upload_is_served_by_its_own_provider_whatever_the_default() -> None:
    """``holding`` follows ``upload.provider``, not the default."""
    providers = ProviderSet([fake("a"), fake("b")])
    held = providers.holding(make_upload("u1", provider="b"))
    assert held is providers.get("b")


def test_an_upload_of_a_removed_provider_names_it() -> None:
    """The error carries the missing provider, for the problem answer."""
    providers = ProviderSet([fake("a")])
    with pytest.raises(ProviderNotConfigured) as raised:
        providers.holding(make_upload("u1", provider="mux"))
    assert raised.value.provider == "mux"
    assert "mux" in raised.value.detail
    with pytest.raises(ProviderNotConfigured, match="configured: a"):
        providers.named("cloudflare")


def test_candidates_carry_each_provider_health() -> None:
    """A provider without health is always accepting; one with health says so itself."""
    down = Switch(on=False)
    providers = ProviderSet([fake("a"), fake("b")], health={"a": down})
    assert providers.candidates() == (ProviderCandidate("a", False), ProviderCandidate("b", True))
    down.on = True
    assert providers.accepting("a")
    assert not providers.accepting("z")


def test_attempts_keep_the_accepting_providers_in_ranked_order() -> None:
    """An open circuit is skipped; repeats in a ranking count once."""
    health = {"a": Switch(on=False), "b": Switch(), "c": Switch()}
    providers = ProviderSet([fake("a"), fake("b"), fake("c")], health=health)
    assert [p.name for p in providers.attempts(["a", "c", "b", "c"])] == ["c", "b"]
    health["a"].on = True
    assert [p.name for p in providers.attempts(["a", "c"])] == ["a", "c"]


def test_when_none_is_accepting_the_first_of_the_ranking_answers() -> None:
    """Its breaker refuses at once, with the Retry-After the create answers with."""
    health = {"a": Switch(on=False), "b": Switch(on=False)}
    providers = ProviderSet([fake("a"), fake("b")], health=health)
    assert [p.name for p in providers.attempts(["b", "a"])] == ["b"]


def test_attempts_refuse_an_empty_or_unknown_ranking() -> None:
    """A selector must choose configured providers."""
    providers = ProviderSet([fake("a")])
    with pytest.raises(ValueError, match="no provider"):
        providers.attempts([])
    with pytest.raises(ProviderNotConfigured):
        providers.attempts(["a", "vimeo"])


def test_the_default_selector_ranks_in_configured_order() -> None:
    """Health does not reorder the ranking: the set skips what is not accepting."""
    selector: ProviderSelector = InOrderSelector()
    candidates = (ProviderCandidate("b", False), ProviderCandidate("a", True))
    assert tuple(selector.select(CHOICE, candidates)) == ("b", "a")


def test_a_host_selector_sends_large_files_elsewhere() -> None:
    """The port is what a host implements: here, files over a size go to ``big``."""

    class BySize:
        def select(
            self, upload: NewUploadChoice, candidates: Sequence[ProviderCandidate]
        ) -> Sequence[str]:
            return ("big",) if upload.file_size > 100 else ("small", "big")

    providers = ProviderSet([fake("small"), fake("big")])
    selector: ProviderSelector = BySize()
    large = NewUploadChoice("alice", "a.mp4", 1000, "video/mp4", Visibility.PUBLIC)
    assert [p.name for p in providers.attempts(selector.select(large, ()))] == ["big"]
    ranked = selector.select(CHOICE, providers.candidates())
    assert [p.name for p in providers.attempts(ranked)] == ["small", "big"]


def test_playback_of_a_removed_provider_comes_from_stored_ids_or_names_it() -> None:
    """A builder for the removed provider serves what it can; otherwise the problem names it."""

    def public_only(upload: MediaUpload) -> Playback | None:
        if upload.metadata.visibility is Visibility.PRIVATE:
            return None
        return Playback(url=f"https://stream.example/{upload.playback_id}.m3u8", mime_type="x")

    providers = ProviderSet([fake("a")], stored_playback={"mux": public_only})
    public = make_upload("u1", provider="mux", playback_id="p1")
    assert providers.stored_playback(public).url == "https://stream.example/p1.m3u8"
    private = attrs.evolve(
        public, metadata=attrs.evolve(public.metadata, visibility=Visibility.PRIVATE)
    )
    with pytest.raises(ProviderNotConfigured) as raised:
        providers.stored_playback(private)
    assert raised.value.provider == "mux"
    with pytest.raises(ProviderNotConfigured):
        providers.stored_playback(make_upload("u2", provider="vimeo"))
