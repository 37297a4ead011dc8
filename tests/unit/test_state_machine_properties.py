"""The rules of the upload state machine, proven by hypothesis.

Each rule of the ``media_core.state_machine`` docstring has a property over arbitrary duplicated
and reordered delivery sequences here, and :class:`UploadLifecycle` checks all of them as
invariants after every step of a rule-based machine that mixes fresh deliveries, redeliveries
and cancellation.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from datetime import datetime, timedelta

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from media_core.errors import NotCancellable
from media_core.events import (
    DomainEvent,
    ProviderEvent,
    ProviderEventKind,
    UploadFailed,
    UploadProcessing,
    UploadProgressed,
    UploadReady,
)
from media_core.model import FailureCode, MediaUpload, UploadMetadata, UploadStatus
from media_core.state_machine import Transition, apply_event, cancel
from tests import strategies as S

_TICK = timedelta(seconds=1)


@attrs.define
class Replay:
    """What happened when a sequence of deliveries was applied one by one."""

    uploads: list[MediaUpload]
    """The upload before the first delivery, then after each one."""
    transitions: list[Transition]
    events: list[DomainEvent]

    @property
    def final(self) -> MediaUpload:
        """The upload after the last delivery."""
        return self.uploads[-1]


def replay(upload: MediaUpload, deliveries: Iterable[ProviderEvent]) -> Replay:
    """Apply ``deliveries`` in order, one second apart, recording every step."""
    result = Replay(uploads=[upload], transitions=[], events=[])
    now = upload.created_at
    for event in deliveries:
        now += _TICK
        transition = apply_event(result.final, event, now)
        result.uploads.append(transition.upload)
        result.transitions.append(transition)
        result.events.extend(transition.events)
    return result


def _kinds(events: Iterable[DomainEvent]) -> Counter[type[DomainEvent]]:
    return Counter(type(event) for event in events)


# Rule 1: terminal states stay terminal.


@given(upload=S.terminal_uploads(), data=st.data())
def test_terminal_upload_is_returned_untouched_by_any_event(
    upload: MediaUpload, data: st.DataObject
) -> None:
    """Rule 1: any event on a READY or FAILED upload returns the same object, unchanged, silent."""
    known = data.draw(S.facts(upload_id=upload.id))
    event = data.draw(S.any_events(known))
    transition = apply_event(upload, event, upload.updated_at + _TICK)
    assert transition.upload is upload
    assert not transition.changed
    assert transition.events == ()


@given(
    scenario=S.scenarios(
        terminal=st.sampled_from([ProviderEventKind.READY, ProviderEventKind.FAILED])
    ),
    data=st.data(),
)
def test_once_terminal_every_later_delivery_leaves_the_upload_identical(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 1: after the step that ends an upload, no delivery in any order changes it again."""
    sequence = data.draw(S.redelivered(scenario.deliveries))
    result = replay(scenario.upload, sequence)
    ended = next(i for i, u in enumerate(result.uploads) if u.is_terminal)
    for later, transition in zip(
        result.uploads[ended + 1 :], result.transitions[ended:], strict=True
    ):
        assert later is result.uploads[ended]
        assert not transition.changed
        assert transition.events == ()


@given(upload=S.terminal_uploads())
def test_cancelling_a_terminal_upload_raises_not_cancellable(upload: MediaUpload) -> None:
    """Rule 1: the owner cannot cancel a READY or FAILED upload."""
    with pytest.raises(NotCancellable):
        cancel(upload, upload.updated_at + _TICK)


# Rule 2: progress never decreases.


@given(scenario=S.scenarios(), data=st.data())
def test_progress_never_decreases_over_any_delivery_order(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 2: over any duplicated, reordered sequence, progress is monotonic and READY is 100."""
    result = replay(scenario.upload, data.draw(S.redelivered(scenario.deliveries)))
    progress = [upload.progress for upload in result.uploads]
    assert progress == sorted(progress)
    for upload in result.uploads:
        if upload.status is UploadStatus.READY:
            assert upload.progress == 100


# Rule 3: READY always has a duration and a playback id.


@given(scenario=S.scenarios(terminal=st.just(ProviderEventKind.READY)), data=st.data())
def test_ready_upload_always_has_duration_and_playback_id(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 3: whatever the order, a READY upload has the READY event's duration and playback id."""
    result = replay(scenario.upload, data.draw(S.redelivered(scenario.deliveries)))
    assert scenario.final is not None
    assert result.final.status is UploadStatus.READY
    assert result.final.duration == scenario.final.duration
    assert result.final.playback_id == scenario.final.playback_id
    assert result.final.playback_id is not None


@given(upload=S.fresh_uploads(), missing=st.sampled_from(["duration", "playback_id", "both"]))
def test_model_refuses_a_ready_upload_without_duration_or_playback_id(
    upload: MediaUpload, missing: str
) -> None:
    """Rule 3: no code path can even build a READY upload that lacks a duration or playback id."""
    duration = None if missing in ("duration", "both") else 1.0
    playback_id = None if missing in ("playback_id", "both") else "pb"
    with pytest.raises(ValueError, match="duration and a playback id"):
        attrs.evolve(upload, status=UploadStatus.READY, duration=duration, playback_id=playback_id)


# Rule 4: a duplicate or late event changes nothing.


@given(scenario=S.scenarios(), data=st.data())
def test_reapplying_any_already_applied_event_changes_nothing(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 4: after every step, re-applying any delivery seen so far returns changed=False."""
    sequence = data.draw(S.redelivered(scenario.deliveries, max_copies=1))
    result = replay(scenario.upload, sequence)
    for step, upload in enumerate(result.uploads[1:], start=1):
        for seen in sequence[:step]:
            again = apply_event(upload, seen, upload.updated_at + _TICK)
            assert not again.changed, (seen, upload)
            assert again.upload is upload
            assert again.events == ()


@given(data=st.data())
def test_late_processing_event_with_nothing_new_changes_nothing(data: st.DataObject) -> None:
    """Rule 4: a PROCESSING event behind the known progress, with known facts, is a no-op."""
    known = data.draw(S.facts())
    upload = data.draw(S.fresh_uploads(known))
    current = data.draw(S.progresses)
    upload = attrs.evolve(
        upload,
        status=UploadStatus.PROCESSING,
        progress=current,
        provider_asset_id=known.asset_id,
        playback_id=known.playback_id,
        aspect_ratio=known.aspect_ratio,
        uploaded_at=upload.created_at,
    )
    late = data.draw(
        S.processing_events(known, progress=st.none() | st.integers(min_value=0, max_value=current))
    )
    transition = apply_event(upload, late, upload.updated_at + _TICK)
    assert transition.upload is upload
    assert not transition.changed
    assert transition.events == ()


# Rule 5: any order of the same deliveries that contains the final event ends the same.


@given(
    scenario=S.scenarios(terminal=st.just(ProviderEventKind.READY)),
    data=st.data(),
)
def test_any_order_of_deliveries_ending_ready_gives_the_same_outcome(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 5 (READY): two duplicated permutations of the same deliveries end in one outcome."""
    first = data.draw(S.redelivered(scenario.deliveries))
    second = data.draw(st.permutations(first))
    assert replay(scenario.upload, first).final.outcome() == (
        replay(scenario.upload, second).final.outcome()
    )


def _mux_failure_example() -> S.Scenario:
    """Mux's asset.created (with the playback id) and asset.errored about one upload."""
    upload = MediaUpload(
        id="u1",
        owner_id="o",
        provider=S.PROVIDER,
        file_name="a.mp4",
        file_size=1,
        mime_type="video/mp4",
        metadata=UploadMetadata(),
        created_at=S.EPOCH,
        updated_at=S.EPOCH,
        provider_upload_id="up-1",
    )
    created = ProviderEvent(
        provider=S.PROVIDER,
        delivery_id="e1",
        kind=ProviderEventKind.PROCESSING,
        occurred_at=S.EPOCH,
        upload_id="u1",
        asset_id="as-1",
        playback_id="pb-1",
    )
    errored = ProviderEvent(
        provider=S.PROVIDER,
        delivery_id="e2",
        kind=ProviderEventKind.FAILED,
        occurred_at=S.EPOCH,
        upload_id="u1",
        failure_code=FailureCode.INVALID_FILE,
    )
    return S.Scenario(upload=upload, deliveries=(created, errored), final=errored)


def test_playback_id_learned_before_failing_does_not_change_the_outcome() -> None:
    """Rule 5 (FAILED), the case that once broke it: a playback id arriving before vs after."""
    scenario = _mux_failure_example()
    created, errored = scenario.deliveries
    before = replay(scenario.upload, [created, errored]).final
    after = replay(scenario.upload, [errored, created]).final
    assert before.playback_id != after.playback_id  # the records differ...
    assert before.outcome() == after.outcome()  # ...but not where the upload ended


@given(scenario=S.scenarios(terminal=st.just(ProviderEventKind.FAILED)), data=st.data())
def test_any_order_of_deliveries_ending_failed_gives_the_same_outcome(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Rule 5 (FAILED): two duplicated permutations of the same deliveries end in one outcome."""
    first = data.draw(S.redelivered(scenario.deliveries))
    second = data.draw(st.permutations(first))
    one, two = replay(scenario.upload, first).final, replay(scenario.upload, second).final
    assert one.status is UploadStatus.FAILED
    assert scenario.final is not None
    assert one.failure_code is scenario.final.failure_code
    assert one.outcome() == two.outcome()


@given(scenario=S.mixed_terminal_scenarios(), data=st.data())
def test_when_ready_and_failed_both_arrive_the_first_terminal_event_wins(
    scenario: S.Scenario, data: st.DataObject
) -> None:
    """Documented order dependence: with both READY and FAILED delivered, the first one decides."""
    sequence = data.draw(S.redelivered(scenario.deliveries))
    first_terminal = next(e for e in sequence if e.kind is not ProviderEventKind.PROCESSING)
    final = replay(scenario.upload, sequence).final
    assert final.status is first_terminal.kind.target


# Domain events match the transitions.


@given(scenario=S.scenarios(), data=st.data())
def test_domain_events_match_the_transitions(scenario: S.Scenario, data: st.DataObject) -> None:
    """UploadProcessing once on leaving UPLOADING for PROCESSING; one terminal event, ever."""
    result = replay(scenario.upload, data.draw(S.redelivered(scenario.deliveries)))
    kinds = _kinds(result.events)
    went_processing = any(u.status is UploadStatus.PROCESSING for u in result.uploads)
    assert kinds[UploadProcessing] == (1 if went_processing else 0)
    assert kinds[UploadReady] == (1 if result.final.status is UploadStatus.READY else 0)
    assert kinds[UploadFailed] == (1 if result.final.status is UploadStatus.FAILED else 0)
    for before, after, transition in zip(
        result.uploads[:-1], result.uploads[1:], result.transitions, strict=True
    ):
        _check_step(before, after, transition)


def _check_step(before: MediaUpload, after: MediaUpload, transition: Transition) -> None:
    """One step's events are exactly those its change of state and progress calls for."""
    assert transition.changed == (after is not before)
    assert transition.changed or transition.events == ()
    for event in transition.events:
        assert event.upload is after
    kinds = _kinds(transition.events)
    left_uploading = (
        before.status is UploadStatus.UPLOADING and after.status is UploadStatus.PROCESSING
    )
    assert kinds[UploadProcessing] == int(left_uploading)
    progressed = after.status is UploadStatus.PROCESSING and after.progress > before.progress
    assert kinds[UploadProgressed] == int(progressed)
    assert kinds[UploadReady] == int(
        before.status is not UploadStatus.READY and after.status is UploadStatus.READY
    )
    assert kinds[UploadFailed] == int(
        before.status is not UploadStatus.FAILED and after.status is UploadStatus.FAILED
    )
    if transition.changed:
        assert after.updated_at > before.updated_at
        assert after.status.rank >= before.status.rank
        assert after.version == before.version + 1  # the next version, ready to store
    else:
        assert after.version == before.version


# All rules at once, as invariants of a rule-based machine.


class UploadLifecycle(RuleBasedStateMachine):
    """One upload fed fresh deliveries, redeliveries and cancellation in any interleaving."""

    applied = Bundle("applied")

    def __init__(self) -> None:
        super().__init__()
        self.known: S.Facts | None = None
        self.upload: MediaUpload | None = None
        self.previous: MediaUpload | None = None
        self.ended_as: MediaUpload | None = None
        self.now: datetime = S.EPOCH
        self.emitted: list[DomainEvent] = []
        self.last: Transition | None = None

    @initialize(data=st.data())
    def start(self, data: st.DataObject) -> None:
        """A fresh UPLOADING upload and its provider's facts."""
        self.known = data.draw(S.facts())
        self.upload = data.draw(S.fresh_uploads(self.known))
        self.previous = self.upload
        self.now = self.upload.created_at

    def _apply(self, event: ProviderEvent) -> ProviderEvent:
        assert self.upload is not None
        self.now += _TICK
        self.previous = self.upload
        self.last = apply_event(self.upload, event, self.now)
        self._record(self.last)
        return event

    def _record(self, transition: Transition) -> None:
        assert self.previous is not None
        _check_step(self.previous, transition.upload, transition)
        self.upload = transition.upload
        self.emitted.extend(transition.events)
        if self.ended_as is None and self.upload.is_terminal:
            self.ended_as = self.upload

    @rule(target=applied, data=st.data(), progress=st.none() | S.progresses)
    def deliver_processing(self, data: st.DataObject, progress: int | None) -> ProviderEvent:
        """A fresh PROCESSING delivery with some progress."""
        assert self.known is not None
        return self._apply(data.draw(S.processing_events(self.known, progress=st.just(progress))))

    @rule(target=applied, data=st.data())
    def deliver_ready(self, data: st.DataObject) -> ProviderEvent:
        """A fresh READY delivery."""
        assert self.known is not None
        return self._apply(data.draw(S.ready_events(self.known)))

    @rule(target=applied, data=st.data())
    def deliver_failed(self, data: st.DataObject) -> ProviderEvent:
        """A fresh FAILED delivery."""
        assert self.known is not None
        return self._apply(data.draw(S.failed_events(self.known)))

    @rule(event=applied)
    def redeliver(self, event: ProviderEvent) -> None:
        """Rule 4: any earlier delivery, again, changes nothing."""
        before = self.upload
        self._apply(event)
        assert self.last is not None
        assert not self.last.changed
        assert self.last.upload is before
        assert self.last.events == ()

    @precondition(lambda self: self.upload is not None and not self.upload.is_terminal)
    @rule()
    def cancel_open_upload(self) -> None:
        """The owner cancels an unfinished upload: FAILED, code cancelled."""
        assert self.upload is not None
        self.now += _TICK
        self.previous = self.upload
        self.last = cancel(self.upload, self.now)
        self._record(self.last)
        assert self.upload.status is UploadStatus.FAILED
        assert self.upload.failure_code is FailureCode.CANCELLED

    @precondition(lambda self: self.upload is not None and self.upload.is_terminal)
    @rule()
    def cancel_finished_upload(self) -> None:
        """Rule 1: cancelling a READY or FAILED upload raises NotCancellable."""
        assert self.upload is not None
        with pytest.raises(NotCancellable):
            cancel(self.upload, self.now + _TICK)

    @invariant()
    def terminal_stays_terminal(self) -> None:
        """Rule 1: once READY or FAILED, the upload is the very object it was when it ended."""
        if self.ended_as is not None:
            assert self.upload is self.ended_as

    @invariant()
    def progress_never_decreases(self) -> None:
        """Rule 2: progress is never lower than one step before."""
        if self.upload is not None and self.previous is not None:
            assert self.upload.progress >= self.previous.progress

    @invariant()
    def ready_has_duration_and_playback_id(self) -> None:
        """Rule 3: READY always carries a duration, a playback id and progress 100."""
        if self.upload is not None and self.upload.status is UploadStatus.READY:
            assert self.known is not None
            assert self.upload.duration == self.known.duration
            assert self.upload.playback_id == self.known.playback_id
            assert self.upload.progress == 100

    @invariant()
    def domain_events_match_the_life_so_far(self) -> None:
        """At most one UploadProcessing, and exactly one terminal event once terminal."""
        kinds = _kinds(self.emitted)
        assert kinds[UploadProcessing] <= 1
        terminal_events = kinds[UploadReady] + kinds[UploadFailed]
        assert terminal_events == (1 if self.ended_as is not None else 0)


# An upload's life is short (after its end every step is a no-op), so 25 steps explore it fully;
# the number of runs still comes from the active profile.
UploadLifecycle.TestCase.settings = settings(stateful_step_count=25)
TestUploadLifecycle = UploadLifecycle.TestCase
