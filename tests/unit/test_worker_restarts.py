"""Replacing worker processes that end: at once after a long life, with a growing delay after
short ones, so a worker that cannot start does not spin."""

from __future__ import annotations

from typing import Any

import pytest

from entrypoints.settings import Settings
from entrypoints.workers import RestartDelay, WorkerProcesses, _Slot


def _highest(low: float, high: float) -> float:
    return high


def test_a_process_that_ran_a_while_is_replaced_at_once() -> None:
    delay = RestartDelay(jitter=_highest)
    assert delay.after_end(ran_for=3600) == 0.0
    assert delay.young_ends == 0


def test_short_lives_in_a_row_double_the_delay_up_to_the_longest() -> None:
    delay = RestartDelay(first=1.0, longest=60.0, stable=60.0, jitter=_highest)
    waits = [delay.after_end(ran_for=0.5) for _ in range(9)]
    assert waits == [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 60.0, 60.0, 60.0]


def test_a_long_life_resets_the_delay() -> None:
    delay = RestartDelay(first=1.0, jitter=_highest)
    for _ in range(5):
        delay.after_end(ran_for=1)
    assert delay.after_end(ran_for=120) == 0.0
    assert delay.after_end(ran_for=1) == 1.0


def test_the_delay_is_jittered_within_its_upper_half() -> None:
    seen: list[tuple[float, float]] = []

    def jitter(low: float, high: float) -> float:
        seen.append((low, high))
        return low

    delay = RestartDelay(first=2.0, jitter=jitter)
    assert delay.after_end(ran_for=0) == 1.0
    assert delay.after_end(ran_for=0) == 2.0
    assert seen == [(1.0, 2.0), (2.0, 4.0)]


class _Process:
    """A stand-in for a worker process: alive until told otherwise."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.exitcode: int | None = None

    def is_alive(self) -> bool:
        return self.exitcode is None


def _pid(slot: _Slot) -> int | None:
    return slot.process.pid if slot.process is not None else None


@pytest.fixture
def processes(monkeypatch: pytest.MonkeyPatch) -> tuple[WorkerProcesses, list[_Process]]:
    started: list[_Process] = []

    def spawn(self: Any) -> _Process:
        started.append(_Process(1000 + len(started)))
        return started[-1]

    monkeypatch.setattr(WorkerProcesses, "_spawn", spawn)
    return WorkerProcesses(Settings(), 1), started


def test_a_worker_that_keeps_dying_young_is_restarted_later_and_later(
    processes: tuple[WorkerProcesses, list[_Process]],
) -> None:
    workers, started = processes
    slot = _Slot(workers._spawn())
    slot.delay = RestartDelay(first=1.0, jitter=_highest)
    slot.started = 0.0
    started[0].exitcode = 1  # it ends at once
    workers._tend(slot, now=0.5)
    assert len(started) == 1
    assert _pid(slot) is None  # it waits 1 s before the next start
    workers._tend(slot, now=1.0)
    assert len(started) == 1
    workers._tend(slot, now=1.5)
    assert _pid(slot) == started[1].pid
    started[1].exitcode = 1
    workers._tend(slot, now=1.6)  # the second short life in a row: 2 s
    workers._tend(slot, now=3.5)
    assert len(started) == 2
    workers._tend(slot, now=3.6)
    assert len(started) == 3


def test_a_worker_that_ran_long_is_replaced_on_the_next_look(
    processes: tuple[WorkerProcesses, list[_Process]],
) -> None:
    workers, started = processes
    slot = _Slot(workers._spawn())
    slot.started = 0.0
    workers._tend(slot, now=500.0)
    assert len(started) == 1  # alive: left alone
    started[0].exitcode = -9
    workers._tend(slot, now=600.0)
    assert _pid(slot) == started[1].pid
    assert slot.started == 600.0
