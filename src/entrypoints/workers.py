"""Worker processes of the local provider: ``media-core worker``, and the ones ``serve`` embeds.

Each process runs one :class:`~adapters.providers.local.LocalWorker` (one job at a time), built
by the same container as the service from the same settings, so it shares the database and the
media folder. Processes are started with ``spawn`` (nothing of the parent's event loop or threads
is inherited), restarted if one dies (at once if it had run a while, after a growing, jittered
delay if it keeps dying young), and stopped with SIGTERM: a worker then stops its job and gives it
back to the queue. A worker whose parent is gone stops too.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import random
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.process import BaseProcess

from entrypoints.container import build_container, resolve
from entrypoints.observability import configure_logging
from entrypoints.settings import Settings
from entrypoints.wiring.secrets import secrets_to_redact

log = logging.getLogger("entrypoints.workers")


def worker_process(settings: Settings, parent: int) -> None:
    """The body of one worker process (the target ``multiprocessing`` runs)."""
    configure_logging(settings.log_level, settings.log_format, secrets=secrets_to_redact(settings))
    # One line per webhook POST says nothing the worker's own log lines do not.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    asyncio.run(_work(settings, parent))


async def _work(settings: Settings, parent: int) -> None:
    container = build_container(settings)
    try:  # only what the worker needs is started (its job store and webhook client)
        worker = await resolve(container.local_worker)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for number in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(number, stop.set)
        await worker.run(stop, alive=lambda: os.getppid() == parent)
    finally:
        await _maybe_await(container.shutdown_resources())


async def _maybe_await(value: object) -> None:
    if asyncio.iscoroutine(value) or isinstance(value, asyncio.Future):
        await value


class RestartDelay:
    """How long to wait before replacing a worker process that ended.

    One that ran for at least ``stable`` seconds is replaced at once. One that ended sooner
    (it cannot reach the database, or something kills it at start) is replaced after a delay
    that doubles with each such end in a row, from ``first`` to at most ``longest`` seconds,
    with full jitter, so a worker that cannot start neither spins nor floods the log.
    """

    def __init__(
        self,
        *,
        first: float = 1.0,
        longest: float = 60.0,
        stable: float = 60.0,
        jitter: Callable[[float, float], float] = random.uniform,
    ) -> None:
        self.first = first
        self.longest = longest
        self.stable = stable
        self._jitter = jitter
        self.young_ends = 0
        """Ends in a row of processes that ran less than ``stable`` seconds."""

    def after_end(self, ran_for: float) -> float:
        """The seconds to wait before the next start, for a process that ran ``ran_for``."""
        if ran_for >= self.stable:
            self.young_ends = 0
            return 0.0
        self.young_ends += 1
        ceiling = min(self.longest, self.first * 2 ** (self.young_ends - 1))
        return self._jitter(ceiling / 2, ceiling)


class _Slot:
    """One of the worker processes, with when it started and when its successor may start."""

    def __init__(self, process: BaseProcess) -> None:
        self.process: BaseProcess | None = process
        self.started = time.monotonic()
        self.delay = RestartDelay()
        self.restart_at = 0.0


class WorkerProcesses:
    """``count`` worker processes, restarted when one dies, until :meth:`stop`."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings
        self._count = count
        self._context = multiprocessing.get_context("spawn")
        self._slots: list[_Slot] = []
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def _processes(self) -> list[BaseProcess]:
        return [slot.process for slot in self._slots if slot.process is not None]

    def start(self) -> None:
        """Start the processes, and a thread that replaces any that dies."""
        self._slots = [_Slot(self._spawn()) for _ in range(self._count)]
        self._watcher = threading.Thread(target=self._watch, name="worker-watch", daemon=True)
        self._watcher.start()

    def pids(self) -> list[int]:
        """The process ids of the workers now running."""
        return [process.pid for process in self._processes if process.pid is not None]

    def wait(self) -> None:
        """Block until :meth:`stop_soon` or :meth:`stop` is called."""
        self._stopping.wait()

    def stop_soon(self) -> None:
        """Ask :meth:`wait` to return (safe in a signal handler)."""
        self._stopping.set()

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM every process, wait up to ``timeout`` seconds, then kill what is left."""
        self._stopping.set()
        if self._watcher is not None:
            self._watcher.join()
        for process in self._processes:
            if process.is_alive():
                process.terminate()
        for process in self._processes:
            process.join(timeout)
            if process.is_alive():
                process.kill()
                process.join()

    def _spawn(self) -> BaseProcess:
        process = self._context.Process(
            target=worker_process,
            args=(self._settings, os.getpid()),
            name="media-core-worker",
        )
        process.start()
        return process

    def _watch(self) -> None:
        while not self._stopping.wait(0.5):
            for slot in self._slots:
                if self._stopping.is_set():
                    return
                self._tend(slot, time.monotonic())

    def _tend(self, slot: _Slot, now: float) -> None:
        """Notice that ``slot``'s process ended, and start its successor when its delay is over."""
        process = slot.process
        if process is not None:
            if process.is_alive():
                return
            wait = slot.delay.after_end(now - slot.started)
            slot.process, slot.restart_at = None, now + wait
            log.warning(
                "worker process %s ended (exit code %s); starting another in %.1f s",
                process.pid,
                process.exitcode,
                wait,
                extra={"exit_code": process.exitcode, "restart_in": round(wait, 1)},
            )
        if now >= slot.restart_at:
            slot.process, slot.started = self._spawn(), now
