"""Every hypothesis strategy of the test suite, in one module.

The events are realistic: one upload has one set of provider facts (upload, asset and playback
ids, duration, thumbnail), and every event about it states a subset of those facts. Duration and
thumbnail come only with READY, which always carries the playback id; PROCESSING events may
already know the asset and playback ids (Mux's ``video.asset.created``) or not.
"""

from __future__ import annotations

import string
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import attrs
from attrs import frozen
from hypothesis import strategies as st

from adapters.rate_limit import GcraLimit
from media_core.events import ProviderEvent, ProviderEventKind
from media_core.model import (
    FailureCode,
    MediaUpload,
    UploadMetadata,
    UploadStatus,
    Visibility,
)

PROVIDER = "fake"
EPOCH = datetime(2026, 1, 1, tzinfo=UTC)

identifiers = st.text(alphabet=string.ascii_letters + string.digits, min_size=1, max_size=12)
"""Non-empty, URL-safe ids as providers hand them out."""

moments = st.integers(min_value=0, max_value=10**7).map(lambda s: EPOCH + timedelta(seconds=s))
"""Aware UTC datetimes in the months after :data:`EPOCH`."""

progresses = st.integers(min_value=0, max_value=100)
durations = st.floats(min_value=0, max_value=36_000, allow_nan=False, allow_infinity=False)
thumbnails = st.builds("https://img.example/{}.jpg".format, identifiers)
failure_codes = st.sampled_from(
    [FailureCode.PROVIDER_ERROR, FailureCode.INVALID_FILE, FailureCode.EXPIRED]
)
"""What a provider event may fail with (cancellation and deletion come from the owner)."""


@frozen
class Facts:
    """What the provider knows about one upload; events state subsets of these."""

    upload_id: str
    provider_upload_id: str
    asset_id: str
    playback_id: str
    duration: float
    thumbnail_url: str | None
    aspect_ratio: str | None
    failure_code: FailureCode


@st.composite
def facts(draw: st.DrawFn, upload_id: str | None = None) -> Facts:
    """The provider's facts about one upload (our id ``upload_id`` if given)."""
    return Facts(
        upload_id=upload_id if upload_id is not None else draw(identifiers),
        provider_upload_id="up-" + draw(identifiers),
        asset_id="as-" + draw(identifiers),
        playback_id="pb-" + draw(identifiers),
        duration=draw(durations),
        thumbnail_url=draw(st.none() | thumbnails),
        aspect_ratio=draw(st.none() | st.sampled_from(["16:9", "4:3", "9:16"])),
        failure_code=draw(failure_codes),
    )


metadata = st.builds(
    UploadMetadata,
    title=st.text(max_size=20),
    description=st.text(max_size=40),
    visibility=st.sampled_from(Visibility),
)


@st.composite
def fresh_uploads(draw: st.DrawFn, known: Facts | None = None) -> MediaUpload:
    """A just-created UPLOADING upload, as the service stores it after the provider's ticket.

    With ``known``, the ticket's ids are those facts: the provider upload id always, the playback
    id only sometimes (Cloudflare knows it at creation, Mux does not).
    """
    created = draw(moments)
    upload_id = known.upload_id if known else draw(identifiers)
    playback_known = known is not None and draw(st.booleans())
    return MediaUpload(
        id=upload_id,
        owner_id="owner-" + draw(identifiers),
        provider=PROVIDER,
        file_name="clip.mp4",
        file_size=draw(st.integers(min_value=1, max_value=10**10)),
        mime_type="video/mp4",
        metadata=draw(metadata),
        created_at=created,
        updated_at=created,
        provider_upload_id=known.provider_upload_id if known else None,
        playback_id=known.playback_id if playback_known and known else None,
    )


def _reference(draw: st.DrawFn, known: Facts) -> dict[str, Any]:
    """At least one reference to the upload, as a provider would send it."""
    refs: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "upload_id": st.just(known.upload_id),
                "provider_upload_id": st.just(known.provider_upload_id),
            },
        )
    )
    return refs or {"upload_id": known.upload_id}


delivery_ids = st.uuids().map(lambda u: f"evt-{u.hex[:16]}")


@st.composite
def processing_events(
    draw: st.DrawFn, known: Facts, progress: st.SearchStrategy[int | None] | None = None
) -> ProviderEvent:
    """A PROCESSING event about ``known``, maybe with progress and some ids, never duration."""
    optional: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "asset_id": st.just(known.asset_id),
                "playback_id": st.just(known.playback_id),
                "aspect_ratio": st.just(known.aspect_ratio),
            },
        )
    )
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=draw(delivery_ids),
        kind=ProviderEventKind.PROCESSING,
        occurred_at=draw(moments),
        progress=draw(progress if progress is not None else st.none() | progresses),
        event_type="upload.processing",
        **_reference(draw, known),
        **optional,
    )


@st.composite
def ready_events(draw: st.DrawFn, known: Facts) -> ProviderEvent:
    """The READY event about ``known``: playback id and duration always, thumbnail if any."""
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=draw(delivery_ids),
        kind=ProviderEventKind.READY,
        occurred_at=draw(moments),
        asset_id=known.asset_id,
        playback_id=known.playback_id,
        duration=known.duration,
        thumbnail_url=known.thumbnail_url,
        aspect_ratio=known.aspect_ratio,
        progress=draw(st.none() | st.just(100)),
        event_type="upload.ready",
        **_reference(draw, known),
    )


@st.composite
def failed_events(draw: st.DrawFn, known: Facts) -> ProviderEvent:
    """The FAILED event about ``known``, with its failure code and maybe a reason and asset."""
    optional: dict[str, Any] = draw(
        st.fixed_dictionaries(
            {},
            optional={
                "asset_id": st.just(known.asset_id),
                "failure_reason": st.text(min_size=1, max_size=30),
            },
        )
    )
    return ProviderEvent(
        provider=PROVIDER,
        delivery_id=draw(delivery_ids),
        kind=ProviderEventKind.FAILED,
        occurred_at=draw(moments),
        failure_code=known.failure_code,
        event_type="upload.failed",
        **_reference(draw, known),
        **optional,
    )


@st.composite
def any_events(draw: st.DrawFn, known: Facts) -> ProviderEvent:
    """Any one realistic event about ``known``."""
    kind = draw(st.sampled_from(ProviderEventKind))
    if kind is ProviderEventKind.READY:
        return draw(ready_events(known))
    if kind is ProviderEventKind.FAILED:
        return draw(failed_events(known))
    return draw(processing_events(known))


@st.composite
def terminal_uploads(draw: st.DrawFn) -> MediaUpload:
    """An upload already READY or FAILED, with everything a terminal upload carries."""
    known = draw(facts())
    upload = draw(fresh_uploads(known))
    at = upload.created_at + timedelta(seconds=draw(st.integers(1, 10_000)))
    version = draw(st.integers(1, 20))
    if draw(st.booleans()):
        return attrs.evolve(
            upload,
            status=UploadStatus.READY,
            progress=100,
            provider_asset_id=known.asset_id,
            playback_id=known.playback_id,
            duration=known.duration,
            thumbnail_url=known.thumbnail_url,
            ready_at=at,
            updated_at=at,
            version=version,
        )
    return attrs.evolve(
        upload,
        status=UploadStatus.FAILED,
        progress=draw(progresses),
        failure_code=draw(st.sampled_from(FailureCode)),
        failure_reason="it failed",
        updated_at=at,
        version=version,
    )


@frozen
class Scenario:
    """One upload and the distinct deliveries a provider makes about it.

    ``deliveries`` holds every distinct event once; ``final`` is the terminal one among them
    (``None`` when the scenario never ends).
    """

    upload: MediaUpload
    deliveries: tuple[ProviderEvent, ...]
    final: ProviderEvent | None


@st.composite
def scenarios(
    draw: st.DrawFn,
    terminal: st.SearchStrategy[ProviderEventKind | None] | None = None,
    max_processing: int = 5,
) -> Scenario:
    """A fresh upload, some PROCESSING events and at most one terminal event of one kind."""
    known = draw(facts())
    upload = draw(fresh_uploads(known))
    processing = draw(st.lists(processing_events(known), max_size=max_processing))
    kind = draw(
        terminal
        if terminal is not None
        else st.sampled_from([None, ProviderEventKind.READY, ProviderEventKind.FAILED])
    )
    final: ProviderEvent | None = None
    if kind is ProviderEventKind.READY:
        final = draw(ready_events(known))
    elif kind is ProviderEventKind.FAILED:
        final = draw(failed_events(known))
    deliveries = (*processing, final) if final is not None else tuple(processing)
    return Scenario(upload=upload, deliveries=tuple(deliveries), final=final)


@st.composite
def redelivered(
    draw: st.DrawFn, deliveries: Sequence[ProviderEvent], max_copies: int = 3
) -> list[ProviderEvent]:
    """Every delivery at least once and up to ``max_copies`` times, in any order."""
    copies = [
        event
        for event in deliveries
        for _ in range(draw(st.integers(min_value=1, max_value=max_copies)))
    ]
    return list(draw(st.permutations(copies)))


@st.composite
def mixed_terminal_scenarios(draw: st.DrawFn) -> Scenario:
    """A scenario whose provider says both READY and FAILED (first terminal one must win)."""
    known = draw(facts())
    upload = draw(fresh_uploads(known))
    processing = draw(st.lists(processing_events(known), max_size=3))
    ready = draw(ready_events(known))
    failed = draw(failed_events(known))
    return Scenario(upload=upload, deliveries=(*processing, ready, failed), final=None)


visibilities = st.sampled_from(Visibility)


# Stored uploads (the repository contract). Text as the policy lets it through: no NUL
# (PostgreSQL text and JSON refuse it), no surrogates.
_texts = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], exclude_characters="\x00"),
    max_size=40,
)
_identifiers = st.text(
    alphabet=string.ascii_letters + string.digits + "-_", min_size=1, max_size=30
)
_zones = st.sampled_from(
    [UTC, timezone(timedelta(hours=5, minutes=30)), timezone(timedelta(hours=-8))]
)
_instants = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1), timezones=_zones
)
_durations = st.floats(min_value=0, max_value=10**6, allow_nan=False, allow_infinity=False)


@st.composite
def stored_uploads(draw: st.DrawFn) -> MediaUpload:
    """Any valid upload in any state, every optional field maybe set, timestamps in any zone.

    Unique keys (id, playback id, provider upload id) are made unique per draw, so many examples
    can share one repository.
    """
    status = draw(st.sampled_from(UploadStatus))
    tag = uuid.uuid4().hex[:12]

    def optional() -> bool:
        return draw(st.booleans())

    ready = status is UploadStatus.READY
    return MediaUpload(
        id=f"{draw(_identifiers)}-{tag}",
        owner_id=draw(_identifiers),
        provider=draw(st.sampled_from(["fake", "mux", "cloudflare"])),
        file_name=draw(_texts),
        file_size=draw(st.integers(min_value=0, max_value=2**62)),
        mime_type=draw(st.sampled_from(["video/mp4", "video/quicktime", "video/webm"])),
        metadata=UploadMetadata(
            title=draw(_texts),
            description=draw(_texts),
            visibility=draw(st.sampled_from(Visibility)),
            extra=draw(st.dictionaries(_identifiers, _texts, max_size=3)),
        ),
        created_at=draw(_instants),
        updated_at=draw(_instants),
        status=status,
        progress=draw(st.integers(min_value=0, max_value=100)),
        provider_upload_id=f"pu-{tag}" if optional() else None,
        provider_asset_id=draw(st.none() | _identifiers),
        playback_id=f"pb-{tag}" if ready or optional() else None,
        upload_expires_at=draw(st.none() | _instants),
        duration=draw(_durations) if ready else draw(st.none() | _durations),
        thumbnail_url=draw(st.none() | _texts),
        aspect_ratio=draw(st.none() | st.sampled_from(["16:9", "4:3"])),
        failure_code=draw(st.sampled_from(FailureCode))
        if status is UploadStatus.FAILED
        else draw(st.none() | st.sampled_from(FailureCode)),
        failure_reason=draw(st.none() | _texts),
        ready_at=draw(st.none() | _instants),
        uploaded_at=draw(st.none() | _instants),
        version=draw(st.integers(min_value=0, max_value=10**6)),
    )


# --- the raw edges: what a hostile client or a broken sender puts on the wire ------------------

SURROGATES = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
"""Lone surrogates: valid as JSON escapes, impossible in UTF-8 and in every store."""
CONTROLS = st.characters(categories=["Cc"])
FORMATS = st.characters(categories=["Cf"])
"""Invisible format characters: zero-width space and joiners, word joiner, BOM, bidi controls."""
hostile_text = st.text(
    alphabet=st.one_of(
        st.characters(),  # every code point, surrogates included
        SURROGATES,
        CONTROLS,
        FORMATS,
        st.sampled_from(["\u200d", "\u2060", "\ufeff", "\u202e", "\x00", "👩", "\u0301", "."]),
    ),
    max_size=60,
)
"""Text as a hostile JSON body can carry it (``json.dumps`` escapes what UTF-8 cannot hold)."""

unicode_digits = st.characters(categories=["Nd", "No", "Nl"]).filter(
    lambda char: not "0" <= char <= "9"
)
"""Digits of other scripts and number-like characters (``²``, ``٣``, full-width, ``Ⅻ``)."""
hostile_integers = st.one_of(
    st.text(alphabet=unicode_digits, min_size=1, max_size=6),
    st.builds(
        lambda head, odd, tail: f"{head}{odd}{tail}",
        st.text(alphabet="0123456789", max_size=4),
        unicode_digits,
        st.text(alphabet="0123456789", max_size=4),
    ),
    st.sampled_from(
        ["", " ", "-1", "+5", "1_000", "1e3", "0x10", "9" * 40, "\uff11\uff12", "²", "1 2"]
    ),
)
"""Integer fields that are not 1 to 18 ASCII digits: each must be the route's 4xx."""

hostile_ids = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from(["\x00", "%", "/", ".", "a", "\u202e", " "]), max_size=20),
    st.builds("{}\x00".format, st.text(alphabet=string.ascii_lowercase, max_size=26)),
    st.just("x" * 5000),
    st.just("01" * 13 + "\x00"),
)
"""Path ids that no upload can have: NUL, separators, invisible characters, 5,000 characters."""


def gcra_limits(*, max_rate: int = 1000, min_period: float = 0.001, max_burst: int = 50) -> Any:
    """Rate limits of the GCRA limiters: ``rate`` per ``period`` seconds with a ``burst``."""
    return st.builds(
        GcraLimit,
        rate=st.integers(1, max_rate),
        period=st.floats(min_period, 3600, allow_nan=False, allow_infinity=False),
        burst=st.integers(1, max_burst),
    )
