"""A per-fleet work queue: coalesces bursts of events, one pass at a time per fleet.

A fleet's create produces a dozen child events within milliseconds; each asks for "reconcile
this fleet". Reconciling per event would repeat the same reads a dozen times and race with
itself. Here a key is either idle, queued (once, however many times it was asked for), or
running (asked-for-again means one more pass afterwards). Failed passes are retried with
exponential backoff; a resync loop re-queues every known fleet now and then as a safety net.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from typing import Generic, TypeVar

from agentfleet_operator import metrics
from agentfleet_runtime.retry import RECONCILE

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

#: A pass returns its result; only "error" is retried (with exponential backoff).
Worker = Callable[[K], Awaitable[str]]


class WorkQueue(Generic[K]):
    """Runs ``worker(key)`` for queued keys, at most ``concurrency`` keys at a time."""

    def __init__(
        self,
        worker: Worker[K],
        *,
        concurrency: int = 8,
        debounce: float = 0.2,
        backoff: tuple[float, float] = (RECONCILE.initial, RECONCILE.cap),
    ) -> None:
        self._worker = worker
        self._debounce = debounce
        self._backoff = replace(RECONCILE, initial=backoff[0], cap=backoff[1])
        self._queue: asyncio.Queue[K] = asyncio.Queue()
        self._queued: set[K] = set()
        self._running: set[K] = set()
        self._again: set[K] = set()
        self._failures: dict[K, int] = {}
        self._retries: dict[K, asyncio.TimerHandle] = {}
        self._tasks = [asyncio.create_task(self._loop(i)) for i in range(concurrency)]
        self.known: set[K] = set()

    def add(self, key: K, *, delay: float | None = None) -> None:
        """Ask for a pass of ``key`` (soon, or after ``delay`` seconds)."""
        self.known.add(key)
        if delay:
            if key not in self._retries:
                loop = asyncio.get_running_loop()
                self._retries[key] = loop.call_later(delay, self._retry, key)
            return
        if key in self._running:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._queue.put_nowait(key)
        metrics.QUEUE_DEPTH.set(len(self._queued))

    def forget(self, key: K) -> None:
        """Stop tracking a deleted key (its pending retries are cancelled)."""
        self.known.discard(key)
        self._failures.pop(key, None)
        handle = self._retries.pop(key, None)
        if handle is not None:
            handle.cancel()

    def _retry(self, key: K) -> None:
        self._retries.pop(key, None)
        self.add(key)

    def idle(self) -> bool:
        """Whether nothing is queued or running (retries may be pending)."""
        return not self._queued and not self._running

    async def _loop(self, index: int) -> None:
        while True:
            key = await self._queue.get()
            # Let the burst that woke us finish, so one pass sees all of it.
            await asyncio.sleep(self._debounce)
            self._queued.discard(key)
            metrics.QUEUE_DEPTH.set(len(self._queued))
            self._running.add(key)
            try:
                result = await self._worker(key)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reconcile of %s failed", key)
                result = "error"
            finally:
                self._running.discard(key)
            if result == "error":
                failures = self._failures.get(key, 0) + 1
                self._failures[key] = failures
                delay = self._backoff.delay(failures)
                self.add(key, delay=delay)
            else:
                self._failures.pop(key, None)
            if key in self._again:
                self._again.discard(key)
                self.add(key)

    async def resync(self, interval: float) -> None:
        """Re-queue every known key every ``interval`` seconds (the drift safety net)."""
        while True:
            await asyncio.sleep(interval)
            for key in list(self.known):
                self.add(key)

    async def close(self) -> None:
        """Cancel the workers and pending retries."""
        for handle in self._retries.values():
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
