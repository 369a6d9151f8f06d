"""A per-fleet work queue: coalesces bursts of events, one pass at a time per fleet.

A fleet's create produces a dozen child events within milliseconds; each asks for "reconcile
this fleet". Reconciling per event would repeat the same reads a dozen times and race with
itself. Here a key is idle, waiting out a short debounce (once, however many times it was
asked for), queued, or running (asked-for-again means one more pass afterwards).

Two lanes: what an event asked for goes before what the periodic resync asked for. A
resync re-queues every fleet at once; in one shared lane, a fleet whose last workload just
became ready would wait behind all of them before its pass could say Ready. A queued
resync key that an event asks for moves to the front lane. Failed passes are retried by
the reconcile retry policy.
"""

from __future__ import annotations

import asyncio
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import replace
from enum import IntEnum
from typing import Generic, TypeVar

from agentfleet_operator import metrics
from agentfleet_runtime.retry import RECONCILE

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

#: A pass returns its result; only "error" is retried (with exponential backoff).
Worker = Callable[[K], Awaitable[str]]


class Lane(IntEnum):
    """Which queue a key waits in; lower values are served first."""

    EVENT = 0
    RESYNC = 1


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
        self._lanes: dict[Lane, deque[K]] = {lane: deque() for lane in Lane}
        self._queued: dict[K, Lane] = {}
        self._debouncing: dict[K, asyncio.TimerHandle] = {}
        self._ready = asyncio.Semaphore(0)
        """One count per queued key: workers never poll, and never sleep with work queued."""
        self._running: set[K] = set()
        self._again: set[K] = set()
        self._failures: dict[K, int] = {}
        self._retries: dict[K, asyncio.TimerHandle] = {}
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(concurrency)]
        self.known: set[K] = set()

    def add(self, key: K, *, delay: float | None = None, lane: Lane = Lane.EVENT) -> None:
        """Ask for a pass of ``key``: soon, after ``delay`` seconds, or in the resync lane."""
        self.known.add(key)
        if delay:
            if key not in self._retries:
                loop = asyncio.get_running_loop()
                self._retries[key] = loop.call_later(delay, self._retry, key)
        elif key in self._running:
            self._again.add(key)
        elif key in self._queued:
            if lane < self._queued[key]:
                self._lanes[self._queued[key]].remove(key)
                self._enqueue(key, lane)
        elif key not in self._debouncing:
            if lane is Lane.RESYNC:
                self._enqueue(key, lane)
            else:
                # Let the burst that asked for it finish, so one pass sees all of it.
                loop = asyncio.get_running_loop()
                self._debouncing[key] = loop.call_later(self._debounce, self._debounced, key)
        self._gauge()

    def _enqueue(self, key: K, lane: Lane) -> None:
        fresh = key not in self._queued
        self._queued[key] = lane
        self._lanes[lane].append(key)
        if fresh:
            self._ready.release()

    def _debounced(self, key: K) -> None:
        self._debouncing.pop(key, None)
        if key in self._running:
            self._again.add(key)
        elif key not in self._queued:
            self._enqueue(key, Lane.EVENT)
        elif self._queued[key] is not Lane.EVENT:
            self._lanes[self._queued[key]].remove(key)
            self._enqueue(key, Lane.EVENT)
        self._gauge()

    def _next(self) -> K:
        for lane in Lane:
            if self._lanes[lane]:
                key = self._lanes[lane].popleft()
                del self._queued[key]
                return key
        raise AssertionError("a count of the semaphore without a queued key")  # pragma: no cover

    def _gauge(self) -> None:
        metrics.QUEUE_DEPTH.set(len(self._queued) + len(self._debouncing))

    def forget(self, key: K) -> None:
        """Stop tracking a deleted key (its pending retries are cancelled)."""
        self.known.discard(key)
        self._failures.pop(key, None)
        for handles in (self._retries, self._debouncing):
            handle = handles.pop(key, None)
            if handle is not None:
                handle.cancel()
        self._gauge()

    def _retry(self, key: K) -> None:
        self._retries.pop(key, None)
        self.add(key)

    def idle(self) -> bool:
        """Whether nothing is waiting, queued or running (retries may be pending)."""
        return not self._queued and not self._debouncing and not self._running

    async def _loop(self) -> None:
        while True:
            await self._ready.acquire()
            key = self._next()
            self._gauge()
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
                self.add(key, delay=self._backoff.delay(failures))
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
                self.add(key, lane=Lane.RESYNC)

    async def close(self) -> None:
        """Cancel the workers and pending timers."""
        for handle in [*self._retries.values(), *self._debouncing.values()]:
            handle.cancel()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
