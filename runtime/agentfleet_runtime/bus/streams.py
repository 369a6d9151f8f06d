"""A consumer-group reader that survives crashes, restarts and Redis outages.

Delivery is at-least-once: an entry is acknowledged only by its handler, after the handler's
effects are recorded. What makes the fleet *effectively once* is the handlers' run-once
markers; this module's job is to make sure no entry is ever left behind:

* a restarted consumer first re-reads its own pending entries (its name is stable);
* entries pending on a consumer that has gone away are claimed after ``claim_idle_ms``;
* a lost connection or a restarted Redis is waited out with backoff, and a consumer group
  that vanished with a Redis that lost its data is created again.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from agentfleet_runtime.observability.metrics import DEPENDENCY_UP, ERRORS
from agentfleet_runtime.retry import REDIS_RECONNECT

log = logging.getLogger(__name__)

Handler = Callable[[str, dict[str, str]], Awaitable[None]]
"""Handles one entry (id, fields); must acknowledge it once its effects are recorded."""

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError, OSError)


async def ensure_group(redis: aioredis.Redis, stream: str, group: str) -> None:
    """Create ``group`` on ``stream`` (and the stream) unless it exists."""
    try:
        await redis.xgroup_create(stream, group, id="0", mkstream=True)
    except ResponseError as error:
        if "BUSYGROUP" not in str(error):
            raise


def _decode(fields: dict[Any, Any]) -> dict[str, str]:
    return {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in fields.items()
    }


class StreamConsumer:
    """Feeds the entries of one stream, as one consumer of a group, to a handler."""

    def __init__(
        self,
        redis: aioredis.Redis,
        stream: str,
        group: str,
        consumer: str,
        handler: Handler,
        *,
        component: str,
        block_ms: int = 1000,
        batch: int = 16,
        claim_idle_ms: int = 30_000,
        concurrency: int = 1,
        read_ahead: int = 0,
    ) -> None:
        self.redis = redis
        self.stream = stream
        self.group = group
        self.consumer = consumer
        self.handler = handler
        self.component = component
        self.block_ms = block_ms
        self.batch = batch
        self.claim_idle_ms = claim_idle_ms
        self.concurrency = concurrency
        self.read_ahead = read_ahead
        """Entries read beyond those being handled, so the next one waits for no read."""
        self.connected = False
        self._failures = 0
        self._inflight: dict[str, asyncio.Task[None]] = {}
        self._waiting: dict[str, dict[str, str]] = {}
        """Entries read and not yet started, in stream order."""
        self._handler_failed = False
        self._stop = asyncio.Event()

    async def run(self, stop: asyncio.Event) -> None:
        """Consume until ``stop`` is set; entries already started are finished first.

        Up to ``concurrency`` entries are handled at once (a persona answers several people
        while the LLM thinks); with 1 they are handled strictly in stream order. Up to
        ``read_ahead`` more are read while those run and start as soon as a handler is
        free: an entry that arrives during another's handling then waits for no read of
        its own. Entries read ahead and not started when the consumer stops stay pending,
        and a restart reads them first.
        """
        rescan = True
        self._stop = stop
        try:
            while not stop.is_set():
                try:
                    if self._handler_failed:
                        # The failed entry stays pending and is retried after a pause, before
                        # any entry read after it.
                        self._handler_failed = False
                        self._waiting.clear()
                        rescan = True
                        await self._pause(stop)
                        continue
                    if rescan:
                        await ensure_group(self.redis, self.stream, self.group)
                        self._dispatch(await self._own_pending())
                        self._dispatch(await self._claim_abandoned())
                        rescan = False
                    free = (
                        self.concurrency
                        + self.read_ahead
                        - len(self._inflight)
                        - len(self._waiting)
                    )
                    if free <= 0:
                        # Nothing runs only when a handler has just failed: see above.
                        if self._inflight:
                            await asyncio.wait(
                                set(self._inflight.values()),
                                timeout=self.block_ms / 1000,
                                return_when=asyncio.FIRST_COMPLETED,
                            )
                        continue
                    entries: Any = await self.redis.xreadgroup(
                        self.group,
                        self.consumer,
                        {self.stream: ">"},
                        count=min(self.batch, free),
                        block=self.block_ms,
                    )
                    self._up()
                    for _stream, items in entries or []:
                        self._dispatch(items)
                    if entries:
                        # Let the new handlers start before the next read is sent: a job's
                        # first request should not queue behind that one.
                        await asyncio.sleep(0)
                except REDIS_DOWN as error:
                    rescan = True
                    await self._down(stop, f"Redis unreachable: {error.__class__.__name__}")
                except ResponseError as error:
                    rescan = True
                    if "NOGROUP" in str(error):
                        # Redis came back without our data: recreate the group, carry on.
                        log.warning("consumer group %s on %s recreated", self.group, self.stream)
                        continue
                    await self._down(stop, f"Redis error: {error}")
        except asyncio.CancelledError:
            # Killed, not stopped: abandon the work; its entries stay pending for a restart.
            self._waiting.clear()
            for task in self._inflight.values():
                task.cancel()
            raise
        if self._inflight:
            await asyncio.gather(*self._inflight.values(), return_exceptions=True)

    async def _own_pending(self) -> list[tuple[Any, Any]]:
        pending: Any = await self.redis.xreadgroup(
            self.group, self.consumer, {self.stream: "0"}, count=self.batch
        )
        return [item for _stream, items in pending or [] for item in items if item[1]]

    async def _claim_abandoned(self) -> list[tuple[Any, Any]]:
        result: Any = await self.redis.xautoclaim(
            self.stream, self.group, self.consumer, self.claim_idle_ms, count=self.batch
        )
        return [item for item in result[1] if item[1]]

    def _dispatch(self, items: list[tuple[Any, Any]]) -> None:
        """Queue ``items`` in order, skipping those already queued or being handled."""
        for entry_id, fields in items:
            ident = entry_id.decode() if isinstance(entry_id, bytes) else entry_id
            if ident in self._inflight or ident in self._waiting:
                # Re-read from the pending list while its first delivery is still there.
                continue
            self._waiting[ident] = _decode(fields)
        self._start_waiting()

    def _start_waiting(self) -> None:
        """Start the oldest waiting entries while fewer than ``concurrency`` run."""
        while self._waiting and len(self._inflight) < self.concurrency:
            if self._handler_failed or self._stop.is_set():
                return
            ident = next(iter(self._waiting))
            task = asyncio.create_task(self._handle(ident, self._waiting.pop(ident)))
            self._inflight[ident] = task
            task.add_done_callback(functools.partial(self._finished, ident))

    def _finished(self, ident: str, _task: asyncio.Task[None]) -> None:
        self._inflight.pop(ident, None)
        self._start_waiting()

    async def _handle(self, ident: str, fields: dict[str, str]) -> None:
        try:
            await self.handler(ident, fields)
        except REDIS_DOWN as error:
            self._handler_failed = True
            log.warning("WARN %s entry %s interrupted: %s", self.stream, ident, error)
        except Exception as error:
            self._handler_failed = True
            ERRORS.labels(component=self.component).inc()
            log.exception("ERROR handling %s entry %s: %s", self.stream, ident, error)

    def _up(self) -> None:
        if not self.connected:
            self.connected = True
            DEPENDENCY_UP.labels(dependency="redis").set(1)
            if self._failures:
                log.info("Redis reachable again; %s resumes", self.component)
        self._failures = 0

    async def _down(self, stop: asyncio.Event, reason: str) -> None:
        self.connected = False
        DEPENDENCY_UP.labels(dependency="redis").set(0)
        ERRORS.labels(component="redis").inc()
        log.warning("WARN %s: %s; retrying", self.component, reason)
        await self._pause(stop)

    async def _pause(self, stop: asyncio.Event) -> None:
        self._failures += 1
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), REDIS_RECONNECT.delay(self._failures))
